"""`rg4 train` (not built yet)."""

from __future__ import annotations

from .common import not_implemented


def train() -> None:
    """Train the generator (stage 1/2) or the BERT classifiers.

    Reads a JSONL training file; writes a model directory.

    \b
    Example:
      rg4 train --stage 1 --image-root mimic/ -o stage1/ train.jsonl
    """
    not_implemented("train")
