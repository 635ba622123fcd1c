"""`rg4 generate` (not built yet)."""

from __future__ import annotations

from .common import not_implemented


def generate() -> None:
    """Generate reports for studies.

    Reads JSONL study records; writes them with `report`, `findings`, `impression` added.

    \b
    Example:
      rg4 generate test.jsonl --model stage2/ --image-root mimic/ | rg4 score --ref test.jsonl
    """
    not_implemented("generate")
