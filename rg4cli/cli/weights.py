"""`rg4 weights` (not built yet)."""

from __future__ import annotations

from .common import not_implemented


def weights() -> None:
    """Token-level loss weights (TLW) by Integrated Gradients.

    Reads JSONL records; writes them with `sentence_weights` added.

    \b
    Example:
      rg4 label train.jsonl | rg4 weights --labeler labeler/ > weighted.jsonl
    """
    not_implemented("weights")
