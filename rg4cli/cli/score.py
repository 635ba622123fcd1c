"""`rg4 score` (not built yet)."""

from __future__ import annotations

from .common import not_implemented


def score() -> None:
    """Score generated reports: NLG, clinical efficacy, paired tests.

    Reads hypotheses (JSONL) and references (--ref); writes one JSON summary to stdout.

    \b
    Example:
      rg4 generate test.jsonl --model m/ | rg4 score --ref test.jsonl
    """
    not_implemented("score")
