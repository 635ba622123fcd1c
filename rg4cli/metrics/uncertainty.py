"""Intervals and paired tests for every `rg4 score` number: the summary's "uncertainty" and
"comparisons" blocks, from per-report statistics (library entry; docs/uncertainty.md).

    from rg4cli.metrics import ReportStatistics, bootstrap_intervals, paired_tests
    a = ReportStatistics.of_system(system_a)          # after score.score_system
    block = bootstrap_intervals(a, resamples=1000, ci=0.95, seed=12345)
    comparisons = paired_tests(a, [("b.jsonl", b)], trials=10000, resamples=1000, seed=12345)

Nothing here reads or scores text: the statistics were computed once by the scorers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rg4cli import __version__
from rg4cli.errors import InputError
from rg4cli.metrics.resample import ReportStatistics, bootstrap_values, interval
from rg4cli.metrics.significance import approximate_randomization, holm, paired_bootstrap_p

DEFAULT_SEED = 12345
DEFAULT_TRIALS = 10000
DEFAULT_CI = 0.95
# Resampled values that are not the metric's exact corpus definition on the resample.
APPROXIMATE_DOC = (
    "none: every resampled value is the metric's corpus definition on the resample, up to "
    "rounding (METEOR's Math.pow taken from numpy, not the JVM: a few units in the last place)"
)
# Per-report scores the Wilcoxon test of `score.compare` uses, for the corpus metric they stand beside.
WILCOXON_OF = {
    **{f"overall.bleu_{k}": f"bleu_{k}" for k in range(1, 5)},
    "overall.meteor": "meteor",
    "overall.rouge_l": "rouge_l",
    "overall.cider": "cider",
    **{f"overall.ce.micro_{s}_{u}.f1": f"ce_f1_{s}_{u}" for s in ("14", "5") for u in ("unc_pos", "unc_neg")},
}


@dataclass
class UncertaintySettings:
    """--bootstrap, --ci, --seed, --trials (and what the signatures name)."""

    bootstrap: int = 0
    ci: float = DEFAULT_CI
    seed: int = DEFAULT_SEED
    trials: int = DEFAULT_TRIALS
    tokenize: str = "r2gen"
    labeler: str = "rules"

    def check(self) -> None:
        if self.bootstrap < 0 or self.bootstrap == 1:
            raise InputError(f"--bootstrap must be 0 (off) or at least 2, got {self.bootstrap}")
        if not 0 < self.ci < 1:
            raise InputError(f"--ci must be between 0 and 1 (e.g. 0.95), got {self.ci}")
        if self.trials < 0:
            raise InputError(f"--trials must be 0 (off) or more, got {self.trials}")
        if not 0 <= self.seed < 2**63:
            raise InputError(f"--seed must be a non-negative integer, got {self.seed}")


def metric_of(path: str) -> str:
    """The metric part of a summary path: overall.bleu_4 -> bleu_4, by_setting.sn.cider -> cider."""
    parts = path.split(".")
    return ".".join(parts[2:] if parts[0] == "by_setting" else parts[1:])


def signature(path: str, settings: UncertaintySettings, *, resamples: int = 0, trials: int = 0) -> str:
    """How a number was made, sacrebleu-style: metric|tok|lab (CE)|boot|ci|ar|seed|rg4."""
    metric = metric_of(path)
    parts = [metric, f"tok:{settings.tokenize}"]
    if metric.startswith("ce."):
        parts.append(f"lab:{settings.labeler}")
    if resamples:
        parts += [f"boot:{resamples}", f"ci:{settings.ci:g}"]
    if trials:
        parts.append(f"ar:{trials}")
    parts += [f"seed:{settings.seed}", f"rg4:{__version__}"]
    return "|".join(parts)


def bootstrap_intervals(
    a: ReportStatistics,
    resamples: int,
    ci: float = DEFAULT_CI,
    seed: int = DEFAULT_SEED,
    *,
    settings: UncertaintySettings | None = None,
    values: dict[str, np.ndarray] | None = None,
    point: dict[str, float | None] | None = None,
) -> dict[str, Any]:
    """The summary's "uncertainty" block: per metric path the point value, the percentile
    interval and the bootstrap standard error. `values` (path -> resampled values) and `point`
    (path -> value, e.g. the summary's own numbers) are computed when not given."""
    settings = settings or UncertaintySettings(bootstrap=resamples, ci=ci, seed=seed)
    if values is None:
        values = bootstrap_values([a], resamples, seed)[0]
    point = point if point is not None else a.point()
    metrics = {}
    for path, v in values.items():
        low, high, se = interval(v, ci)
        metrics[path] = {
            "value": point.get(path),
            "low": low,
            "high": high,
            "se": se,
            "signature": signature(path, settings, resamples=resamples),
        }
    return {
        "method": "percentile bootstrap",
        "resamples": resamples,
        "ci": ci,
        "seed": seed,
        "approximate": [],
        "metrics": metrics,
    }


def paired_tests(
    a: ReportStatistics,
    others: Sequence[tuple[str, ReportStatistics]],
    trials: int = DEFAULT_TRIALS,
    resamples: int = 0,
    seed: int = DEFAULT_SEED,
    *,
    settings: UncertaintySettings | None = None,
    wilcoxon: Sequence[dict | None] | None = None,
    boot: Sequence[tuple[dict, dict] | None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """The summary's "comparisons": each other system against `a` on the reports both scored.

    `others` are (name, statistics); a system whose reports differ from a's is compared on
    the common ids (a's order). `wilcoxon[i]` is `score.compare`'s tests for system i (its
    p-values appear beside the corpus metrics they stand for); `boot[i]` a's and system i's
    bootstrap values on shared resamples (computed here when resamples > 0 and not given).
    """
    settings = settings or UncertaintySettings(bootstrap=resamples, seed=seed, trials=trials)
    out = []
    for i, (name, b) in enumerate(others):
        pos = {rid: j for j, rid in enumerate(b.ids)}
        keep_a = [j for j, rid in enumerate(a.ids) if rid in pos]
        sa = a if len(keep_a) == len(a) else a.take(keep_a)
        sb = b if b.ids == sa.ids else b.take([pos[rid] for rid in sa.ids])
        if progress is not None:
            progress(f"approximate randomization vs {name}: {trials:,} trials on {len(sa):,} pairs")
        ar = approximate_randomization(sa, sb, trials, seed)
        pair = boot[i] if boot is not None and boot[i] is not None else None
        if pair is None and resamples:
            va, vb = bootstrap_values([sa, sb], resamples, seed)
            pair = (va, vb)
        tests = (wilcoxon[i] if wilcoxon is not None else None) or {}
        metrics = {}
        for path, r in ar.items():
            w = tests.get(WILCOXON_OF.get(path, ""))
            metrics[path] = {
                "a": r["a"],
                "b": r["b"],
                "delta": r["delta"],
                "p_ar": r["p"],
                "p_ar_holm": r["p"],
                "p_boot": paired_bootstrap_p(pair[0][path], pair[1][path], r["delta"])
                if pair is not None and path in pair[0] and path in pair[1]
                else None,
                "wilcoxon_p": None if w is None else w["p_value"],
                "signature": signature(path, settings, resamples=resamples, trials=trials),
            }
        out.append(
            {
                "system": name,
                "n": len(sa),
                "trials": trials,
                "resamples": resamples or None,
                "holm_family": "",
                "metrics": metrics,
            }
        )
    family = (
        f"per metric path, the {len(out)} comparison(s) with the input (p_ar)"
        if len(out) > 1
        else "none: one comparison (p_ar_holm = p_ar)"
    )
    paths = {p for c in out for p in c["metrics"]}
    for path in paths:
        rows = [c["metrics"].get(path) for c in out]
        adjusted = holm([r["p_ar"] if r is not None else None for r in rows])
        for r, p in zip(rows, adjusted):
            if r is not None:
                r["p_ar_holm"] = p
    for c in out:
        c["holm_family"] = family
    return out


def lookup(summary: dict, path: str) -> float | None:
    """The summary's value at a dotted path (None where absent or null)."""
    node: Any = summary
    for part in path.split("."):
        if not isinstance(node, dict) or node.get(part) is None:
            return None
        node = node[part]
    return node if isinstance(node, (int, float)) else None


def summary_blocks(
    summary: dict,
    system: Any,
    others: Sequence[tuple[str, Any, dict]],
    settings: UncertaintySettings,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict | None, list | None]:
    """("uncertainty", "comparisons") of `rg4 score`'s summary for scored `score.System`s:
    `others` are (file name, System, its `against` block with the Wilcoxon tests)."""
    if not settings.bootstrap and not others:
        return None, None
    a = ReportStatistics.of_system(system)
    stats = [(name, ReportStatistics.of_system(o)) for name, o, _ in others]
    boot: list[tuple[dict, dict] | None] = [None] * len(stats)
    uncertainty = None
    if settings.bootstrap:
        # The input and every system holding the same reports share one pass over the resamples.
        same = [i for i, (_, b) in enumerate(stats) if b.ids == a.ids]
        if progress is not None:
            progress(f"bootstrap: {settings.bootstrap:,} resamples of {len(a):,} reports")
        values = bootstrap_values([a, *(stats[i][1] for i in same)], settings.bootstrap, settings.seed)
        for k, i in enumerate(same):
            boot[i] = (values[0], values[k + 1])
        point = {path: lookup(summary, path) for path in values[0]}
        uncertainty = bootstrap_intervals(
            a, settings.bootstrap, settings.ci, settings.seed, settings=settings, values=values[0], point=point
        )
    comparisons = None
    if others:
        comparisons = paired_tests(
            a,
            stats,
            settings.trials,
            settings.bootstrap,
            settings.seed,
            settings=settings,
            wilcoxon=[block.get("tests") for _, _, block in others],
            boot=boot,
            progress=progress,
        )
    return uncertainty, comparisons
