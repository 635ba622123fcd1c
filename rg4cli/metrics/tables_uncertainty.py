"""`rg4 score`'s tables of intervals and paired tests (rendering only; `tables.summary_tables` adds them)."""

from __future__ import annotations

from rich import box
from rich.table import Table

# The table's rows: label, metric path within a block.
ROWS: tuple[tuple[str, str], ...] = (
    *((f"BLEU-{k}", f"bleu_{k}") for k in range(1, 5)),
    ("METEOR", "meteor"),
    ("ROUGE-L", "rouge_l"),
    ("CIDEr", "cider"),
    ("CE F1 14", "ce.micro_14_unc_pos.f1"),
    ("CE F1 5", "ce.micro_5_unc_pos.f1"),
    ("hall.", "hall.rate"),
)
ALPHA = 0.05  # the level at which a difference is marked


def _cell(m: dict | None) -> str:
    if m is None or m.get("value") is None:
        return "-"
    if m.get("low") is None:
        return f"{m['value']:.3f}"
    return f"{m['value']:.3f} [{m['low']:.3f}, {m['high']:.3f}]"


def _p(p: float | None) -> str:
    return "-" if p is None else f"{p:.2g}"


def uncertainty_tables(summary: dict) -> list:
    """The intervals per block, then each comparison's tests (overall; the JSON has every block)."""
    out: list = []
    u = summary.get("uncertainty")
    if u:
        blocks = ["overall", *(f"by_setting.{s}" for s in summary.get("by_setting", {}))]
        t = Table(
            title=f"{u['ci']:.0%} percentile bootstrap intervals ({u['resamples']:,} resamples, seed {u['seed']})",
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        t.add_column("")
        for b in blocks:
            t.add_column(b.split(".")[-1], justify="right", no_wrap=True)
        for label, key in ROWS:
            cells = [_cell(u["metrics"].get(f"{b}.{key}")) for b in blocks]
            if any(c != "-" for c in cells):
                t.add_row(label, *cells)
        out.append(t)
    for c in summary.get("comparisons") or ():
        t = Table(
            title=f"vs {c['system']} (n={c['n']}; AR {c['trials']:,} trials"
            + (f", paired bootstrap {c['resamples']:,}" if c["resamples"] else "")
            + f"; * = Holm-adjusted AR p < {ALPHA})",
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        for col in ("metric", "input", "other", "delta", "p AR", "p Holm", "p boot", "p Wilcoxon*", ""):
            t.add_column(col, justify="left" if col == "metric" else "right", no_wrap=True)
        for label, key in ROWS:
            m = c["metrics"].get(f"overall.{key}")
            if m is None or m["a"] is None:
                continue
            sig = m["p_ar_holm"] is not None and m["p_ar_holm"] < ALPHA
            t.add_row(
                label,
                f"{m['a']:.3f}",
                "-" if m["b"] is None else f"{m['b']:.3f}",
                "-" if m["delta"] is None else f"{m['delta']:+.4f}",
                _p(m["p_ar"]),
                _p(m["p_ar_holm"]),
                _p(m["p_boot"]),
                _p(m["wilcoxon_p"]),
                "*" if sig else "",
            )
        out.append(t)
        out.append("p Wilcoxon*: on per-report scores (the paper's test), not on the corpus metric.")
    return out
