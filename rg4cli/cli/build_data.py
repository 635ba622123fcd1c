"""`rg4 build-data` (not built yet)."""

from __future__ import annotations

from .common import not_implemented


def build_data() -> None:
    """Build the four-scenario MIMIC-RG4 dataset from a MIMIC-CXR-JPG tree.

    Reads a MIMIC-CXR-JPG directory (metadata CSV, split CSV, report files); writes one JSONL study
record per (study, setting) with rewritten targets.

    \b
    Example:
      rg4 build-data mimic-cxr-jpg/ -o rg4.jsonl --stats
    """
    not_implemented("build-data")
