"""The page's charts, from the run's inputs: CE and NLG per setting, loss curves, hallucination, input tokens."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from statistics import mean

from rg4cli.report.charts import Bar, bar_chart, line_chart
from rg4cli.report.inputs import ScoreInput, TrainInput
from rg4cli.report.tables import CE_PATH, blocks, dig, interval
from rg4cli.vocab import CATEGORIES, INPUT_SETTINGS

# Category names short enough to sit under their bars (vocab.CATEGORY_NAMES in the page's legend rows).
_SHORT = {"pc": "comparison", "pp": "procedure", "view": "view", "comm": "communication"}


def _bar(summary: dict, path: str, block: dict, metric: str) -> Bar:
    value = dig(block, metric)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    ci = interval(summary, f"{path}.{metric}")
    if ci is None:
        return (float(value), None, None)
    return (float(value), float(ci["low"]), float(ci["high"]))


def _groups(scores: Sequence[ScoreInput]) -> list[str]:
    seen: list[str] = []
    for s in scores:
        for label, _, _ in blocks(s.summary):
            if label not in seen:
                seen.append(label)
    return [g for g in seen if g != "all"] + ["all"]


def metric_chart(scores: Sequence[ScoreInput], metric: str, title: str, ylabel: str) -> str:
    groups = _groups(scores)
    series = []
    for s in scores:
        by = {label: (path, block) for label, path, block in blocks(s.summary)}
        series.append((s.name, [(_bar(s.summary, *by[g], metric) if g in by else None) for g in groups]))
    return bar_chart(title, groups, series, ylabel=ylabel)


def score_charts(scores: Sequence[ScoreInput]) -> list[str]:
    if not scores:
        return []
    charts = [
        metric_chart(scores, f"{CE_PATH}.f1", "Clinical efficacy F1 per setting", "CE F1 (micro 14)"),
        metric_chart(scores, "bleu_4", "BLEU-4 per setting", "BLEU-4"),
        metric_chart(scores, "rouge_l", "ROUGE-L per setting", "ROUGE-L"),
    ]
    hall_series = []
    for s in scores:
        overall = s.summary["overall"]
        if isinstance(overall.get("hall"), dict):
            metrics = [f"hall.present.{c}" for c in CATEGORIES] + ["hall.rate"]
            hall_series.append((s.name, [_bar(s.summary, "overall", overall, m) for m in metrics]))
    if hall_series:
        groups = [_SHORT.get(c, c) for c in CATEGORIES] + ["any (hall.)"]
        charts.append(
            bar_chart("Hallucination: share of reports per category", groups, hall_series, ylabel="share of reports")
        )
    return charts


def loss_charts(trains: Sequence[TrainInput]) -> list[str]:
    by_stage: dict[str, list[TrainInput]] = defaultdict(list)
    for t in trains:
        by_stage[t.stage].append(t)
    charts = []
    for stage, runs in by_stage.items():
        series = [(t.name, t.losses) for t in runs if t.losses]
        series += [(f"{t.name} (validation)", t.val) for t in runs if t.val]
        if series:
            charts.append(line_chart(f"Training loss: {stage}", series, xlabel="step", ylabel="loss"))
    return charts


def token_chart(studies: Sequence[dict], trains: Sequence[TrainInput]) -> str | None:
    """Mean LLM input tokens per setting of the browsed records (fusion named when the models say)."""
    per: dict[str, list[int]] = defaultdict(list)
    for s in studies:
        if "tok" in s:
            per[s["setting"]].append(s["tok"])
    if not per:
        return None
    groups = sorted(per, key=lambda g: INPUT_SETTINGS.index(g) if g in INPUT_SETTINGS else len(INPUT_SETTINGS))
    fusions = sorted({str(dig(t.config, "task_config.fusion")) for t in trains if dig(t.config, "task_config.fusion")})
    name = "mean input tokens" + (f" ({', '.join(fusions)})" if fusions else "")
    return bar_chart(
        "LLM input tokens per setting", groups, [(name, [(mean(per[g]), None, None) for g in groups])], ylabel="tokens"
    )
