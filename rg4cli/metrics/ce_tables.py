"""`rg4 score`'s per-observation CE table for stderr (rendering only; the JSON has the numbers)."""

from __future__ import annotations

from rich import box
from rich.table import Table

from rg4cli.metrics.clinical import UNCERTAIN_AS


def per_observation_table(summary: dict) -> Table | None:
    """P / R / F1 / support per observation, uncertain counted positive and negative, over all pairs."""
    per = summary.get("per_observation") or {}
    if not all(per.get(unc) for unc in UNCERTAIN_AS):
        return None
    table = Table(
        title="CE per observation (all pairs)",
        title_justify="left",
        caption="+ uncertain counted positive (unc_pos), - negative (unc_neg); sup = reference positives",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("observation", no_wrap=True)
    for sign in ("+", "-"):
        for col in ("P", "R", "F1", "sup"):
            table.add_column(f"{col}{sign}", justify="right", no_wrap=True)
    for name in per[next(iter(UNCERTAIN_AS))]:
        cells = []
        for unc in UNCERTAIN_AS:
            row = per[unc][name]
            cells += [f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"])]
        table.add_row(name, *cells)
    return table
