"""`rg4 score`'s tables for stderr, built from the summary (rendering only; the CLI prints them)."""

from __future__ import annotations

from rich import box
from rich.table import Table

from rg4cli.metrics.ce_tables import per_observation_table
from rg4cli.metrics.model_metrics import summary_line


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_tables(summary: dict) -> list:
    """Renderables: the metrics per block, a note, and the paired tests with --against."""
    table = Table(title="rg4 score", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("", "n", "B1", "B2", "B3", "B4", "MTR", "R-L", "CIDEr", "CE F1 14", "CE F1 5", "hall"):
        table.add_column(col, justify="left" if col == "" else "right", no_wrap=True)
    rows = [("overall", summary["overall"]), *summary["by_setting"].items()]
    if summary.get("against"):
        rows.append(("against", summary["against"]["overall"]))
    for name, b in rows:
        ce = b["ce"]
        f14 = (ce.get("micro_14_unc_pos") or {}).get("f1")
        f5 = (ce.get("micro_5_unc_pos") or {}).get("f1")
        table.add_row(
            name,
            str(b["n"]),
            *(_fmt(b[k]) for k in ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider")),
            _fmt(f14),
            _fmt(f5),
            _fmt((b["hall"] or {}).get("rate")),
        )
    out: list = [table, "CE: micro F1 with uncertain counted positive (LLM-RG4); more variants in the JSON."]
    model_line = summary_line(summary)
    if model_line is not None:
        out.append(model_line)
    observation_table = per_observation_table(summary)
    if observation_table is not None:
        out.append(observation_table)
    if summary.get("against"):
        t = Table(
            title=f"paired Wilcoxon vs {summary['against']['file']} (n={summary['against']['n']})",
            title_justify="left",
            box=box.SIMPLE_HEAD,
        )
        for col in ("metric", "input", "against", "diff", "p", "higher"):
            t.add_column(col, justify="left" if col in ("metric", "higher") else "right", no_wrap=True)
        for key, r in summary["against"]["tests"].items():
            p = r["p_value"]
            t.add_row(
                key,
                _fmt(r["mean_input"]),
                _fmt(r["mean_against"]),
                _fmt(r["mean_diff"], 4),
                "-" if p is None else f"{p:.2g}",
                r["higher"],
            )
        out.append(t)
    from rg4cli.metrics.tables_uncertainty import uncertainty_tables

    return out + uncertainty_tables(summary)
