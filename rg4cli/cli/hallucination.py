"""`rg4 hallucination` (not built yet)."""

from __future__ import annotations

from .common import not_implemented


def hallucination() -> None:
    """Flag input-agnostic content in reports, judged against each study's inputs.

    Reads JSONL records; writes them with a `hallucination` field added.

    \b
    Example:
      rg4 generate test.jsonl --model m/ | rg4 hallucination --summary hall.json
    """
    not_implemented("hallucination")
