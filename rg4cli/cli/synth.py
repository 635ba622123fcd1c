"""`rg4 synth` (not built yet)."""

from __future__ import annotations

from .common import not_implemented


def synth() -> None:
    """Write phantom studies in MIMIC-CXR-JPG layout.

    Writes a directory of images, reports and metadata CSVs; reads nothing.

    \b
    Example:
      rg4 synth --subjects 20 --seed 1 -o phantom/
    """
    not_implemented("synth")
