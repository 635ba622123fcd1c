"""What `rg4 score` checks about its texts before the NLG metrics read them (docs/reliability.md).

- Texts are scored in Unicode NFC without soft hyphens and zero-width characters
  (text.normalize), as the labeler and the judge read them: the same words typed or exported
  differently score the same. A warning says how many texts that changed.
- CIDEr's IDF comes from the references being scored: over one pair every n-gram has
  document frequency 1 and weight log(1/1) = 0, so CIDEr is 0 whatever the texts; below
  CIDER_MIN_PAIRS pairs a warning says the figure means little.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rg4cli.text.normalize import normalize_text

CIDER_MIN_PAIRS = 50


def normalize_for_metrics(system: Any, log: Callable[[str], None] | None) -> tuple[list[str], list[str]]:
    """Put `system`'s hypothesis and reference texts in normal form; return them as they were."""
    raw_hyp, raw_ref = system.hyp_texts, system.ref_texts
    system.hyp_texts = [normalize_text(t) for t in raw_hyp]
    system.ref_texts = [normalize_text(t) for t in raw_ref]
    if log is not None:
        changed = sum(a is not b for a, b in zip(raw_hyp + raw_ref, system.hyp_texts + system.ref_texts))
        if changed:
            log(
                f"warning: {changed} text(s) were not in Unicode NFC or held soft hyphens / zero-width characters; "
                "scored normalised (docs/reliability.md)"
            )
        if 0 < len(system.ids) < CIDER_MIN_PAIRS:
            log(
                f"warning: CIDEr over {len(system.ids)} pair(s) says little: its IDF comes from the references "
                f"scored (one pair scores 0); use at least {CIDER_MIN_PAIRS} pairs (docs/reliability.md)"
            )
    return raw_hyp, raw_ref
