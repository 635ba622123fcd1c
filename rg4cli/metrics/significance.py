"""Paired significance tests of corpus metrics: approximate randomization, paired bootstrap, Holm.

Both tests compare two systems on the same reports (same ids, same references) and
recompute each metric's own corpus definition on every trial, from per-report
statistics (`resample.ReportStatistics`), never from text.

* Approximate randomization (AR): in each trial every report's two outputs are swapped
  with probability 1/2; the trial counts when |metric(B') - metric(A')| >= |metric(B) -
  metric(A)|; p = (count + 1) / (trials + 1). Swapping outputs leaves the references,
  and with them CIDEr's document frequencies, unchanged, so every metric of a swapped
  corpus is a fixed function of per-report sums: one matrix product per block of trials.
* Wilcoxon signed-rank on per-report scores (`wilcoxon_test`, `compare`): the paper's test,
  kept for the per-report metrics it is about; a corpus BLEU, METEOR or CIDEr is not a mean
  of per-report scores, so AR and the paired bootstrap test those.
* Paired bootstrap: both systems on the same bootstrap resamples; the differences,
  shifted to mean zero, are the null distribution; p = (count of |shifted difference| >=
  |observed difference| + 1) / (resamples + 1).

"Greater or equal" is taken with a tolerance of 1e-9 (relative, at least absolute): a
trial whose difference equals the observed one up to rounding counts, as it would in exact
arithmetic (swapping two identical outputs changes nothing).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from rg4cli.metrics.blas import one_blas_thread
from rg4cli.metrics.resample import ReportStatistics

AR_CHUNK = 1000  # trials drawn and evaluated together (bounds memory)
TIES = 1e-9


def swap_masks(n: int, trials: int, seed: int) -> Iterator[np.ndarray]:
    """(chunk, n) 0/1 blocks: 1 where a trial swaps the report's two outputs. Block k comes from
    its own stream (seed, k), so trial t is the same whatever the number of trials."""
    for k, start in enumerate(range(0, trials, AR_CHUNK)):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 1, k])))
        yield rng.integers(0, 2, size=(min(AR_CHUNK, trials - start), n), dtype=np.int8).astype(np.float64)


def aligned(a: ReportStatistics, b: ReportStatistics) -> tuple[ReportStatistics, ReportStatistics]:
    """The two systems with the same statistics columns: METEOR only where both have it; a
    hallucination block of zeros (no field) for a side without one."""
    if len(a) != len(b) or a.ids != b.ids:
        raise ValueError("paired statistics must hold the same reports in the same order")
    if (a.meteor is None) != (b.meteor is None):
        a, b = replace(a, meteor=None), replace(b, meteor=None)
    if (a.hall is None) != (b.hall is None):
        width = (a.hall if a.hall is not None else b.hall).shape[1]  # type: ignore[union-attr]
        if a.hall is None:
            a = replace(a, hall=np.zeros((len(a), width)))
        else:
            b = replace(b, hall=np.zeros((len(b), width)))
    return a, b  # the blocks are the first system's (its settings)


def _ge(values: np.ndarray, observed: float) -> np.ndarray:
    return values >= abs(observed) - TIES * max(1.0, abs(observed))


def approximate_randomization(
    a: ReportStatistics,
    b: ReportStatistics,
    trials: int,
    seed: int,
    *,
    masks: Callable[[int, int, int], Iterator[np.ndarray]] = swap_masks,
) -> dict[str, dict[str, float | None]]:
    """Path -> {a, b, delta (b - a), p, count} by approximate randomization over `trials` trials."""
    a, b = aligned(a, b)
    n = len(a)
    lin_a, lin_b = a.linear(), b.linear()
    blocks = a.blocks()
    parts = []  # per block: (name, idx, columns A, differences, changing columns)
    observed: dict[str, dict[str, float | None]] = {}
    for name, idx in blocks.items():
        ones = np.ones((1, len(idx)))
        la = np.concatenate([lin_a[idx], a.cider_block(idx).pair_scores(ones)], axis=1)
        lb = np.concatenate([lin_b[idx], b.cider_block(idx).pair_scores(ones)], axis=1)
        diff = lb - la
        moving = np.flatnonzero(np.any(diff != 0, axis=0))
        parts.append((name, idx, la.sum(0), lb.sum(0), diff[:, moving], moving))
        va = _finish(a, la.sum(0)[None], len(idx))
        vb = _finish(a, lb.sum(0)[None], len(idx))
        for key in va:
            x, y = float(va[key][0]), float(vb[key][0])
            observed[f"{name}.{key}"] = {
                "a": None if x != x else x,
                "b": None if y != y else y,
                "delta": None if x != x or y != y else y - x,
                "count": 0,
            }
    with one_blas_thread():
        _count(a, parts, observed, masks(n, trials, seed))
    for obs in observed.values():
        obs["p"] = None if obs["delta"] is None or trials <= 0 else (obs["count"] + 1) / (trials + 1)
    return observed


def _count(a: ReportStatistics, parts: list, observed: dict, blocks: Iterator[np.ndarray]) -> None:
    """Add to each path's count the trials whose difference is at least the observed one."""
    for mask in blocks:
        for name, idx, sum_a, sum_b, diff, moving in parts:
            moved = np.ascontiguousarray(mask[:, idx]) @ diff  # (trials, changing columns)
            sa = np.repeat(sum_a[None], len(mask), 0)
            sb = np.repeat(sum_b[None], len(mask), 0)
            sa[:, moving] += moved
            sb[:, moving] -= moved
            va, vb = _finish(a, sa, len(idx)), _finish(a, sb, len(idx))
            for key in va:
                obs = observed[f"{name}.{key}"]
                if obs["delta"] is not None:
                    with np.errstate(invalid="ignore"):
                        obs["count"] += int(np.count_nonzero(_ge(np.abs(vb[key] - va[key]), obs["delta"])))


def _finish(stats: ReportStatistics, sums: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """`stats.finish` where the last column holds the summed per-report CIDEr."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return stats.finish(sums, np.full(len(sums), float(size)), sums[:, -1] / size)


def paired_bootstrap_p(values_a: np.ndarray, values_b: np.ndarray, observed: float | None) -> float | None:
    """p of the paired bootstrap from both systems' values on the same resamples."""
    if observed is None:
        return None
    d = values_b - values_a
    d = d[~np.isnan(d)]
    if not len(d):
        return None
    shifted = np.abs(d - d.mean())
    return (int(np.count_nonzero(_ge(shifted, observed))) + 1) / (len(d) + 1)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of one family of p-values (None left out and kept None)."""
    known = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(known)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(known):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


# ---- Wilcoxon on per-report scores ----------------------------------------------------


def wilcoxon_test(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Paired two-sided Wilcoxon signed-rank test of a vs b (zero differences dropped)."""
    from scipy.stats import rankdata, wilcoxon

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    d = x - y
    nz = d[d != 0]
    out: dict[str, Any] = {
        "n": int(len(d)),
        "n_nonzero": int(len(nz)),
        "mean_input": float(x.mean()) if len(x) else None,
        "mean_against": float(y.mean()) if len(y) else None,
        "mean_diff": float(d.mean()) if len(d) else None,
        "median_diff": float(np.median(d)) if len(d) else None,
        "w_plus": 0.0,
        "w_minus": 0.0,
        "statistic": None,
        "p_value": None,
        "higher": "tie",
    }
    if len(nz) == 0:
        return out
    ranks = rankdata(np.abs(nz))
    w_plus, w_minus = float(ranks[nz > 0].sum()), float(ranks[nz < 0].sum())
    with warnings.catch_warnings():  # scipy's notes on ties / normal approximation are not errors
        warnings.simplefilter("ignore")
        res = wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    out.update(
        w_plus=w_plus,
        w_minus=w_minus,
        statistic=float(res.statistic),
        p_value=float(res.pvalue),
        higher="input" if w_plus > w_minus else "against" if w_minus > w_plus else "tie",
    )
    return out


def compare(a: Any, b: Any, keys: Sequence[str]) -> dict[str, Any]:
    """Wilcoxon tests of two scored systems (`score.System`) on each per-report score in `keys`,
    over the ids both scored (in a's order)."""
    pos_b = {rid: i for i, rid in enumerate(b.ids)}
    ia = [i for i, rid in enumerate(a.ids) if rid in pos_b]
    ib = [pos_b[a.ids[i]] for i in ia]
    tests = {}
    for key in keys:
        if key in a.per_report and key in b.per_report:
            tests[key] = wilcoxon_test([a.per_report[key][i] for i in ia], [b.per_report[key][j] for j in ib])
    return {"n": len(ia), "tests": tests}
