"""`rg4 label` (not built yet)."""

from __future__ import annotations

from .common import not_implemented


def label() -> None:
    """Label the 14 CheXpert observations of every report.

    Reads JSONL records; writes the same records with a `labels` field added.

    \b
    Example:
      rg4 generate studies.jsonl --model m/ | rg4 label > labelled.jsonl
    """
    not_implemented("label")
