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


def swap_masks(n: int, trials: int, seed: int, *, reuse: bool = False) -> Iterator[np.ndarray]:
    """(chunk, n) 0/1 blocks: 1 where a trial swaps the report's two outputs. Block k comes from
    its own stream (seed, k), so trial t is the same whatever the number of trials. With `reuse`
    every block is written into the same array (fresh pages for each block cost more than
    filling them on a busy machine): a consumer must be done with a block before the next."""
    buf = None
    for k, start in enumerate(range(0, trials, AR_CHUNK)):
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 1, k])))
        rows = min(AR_CHUNK, trials - start)
        # Random bytes, 8 fair coins each (the fastest way numpy draws them).
        bits = np.unpackbits(rng.integers(0, 256, size=(rows, (n + 7) // 8), dtype=np.uint8), axis=1, count=n)
        if buf is None or not reuse or buf.shape != bits.shape:
            buf = np.empty(bits.shape)
        np.copyto(buf, bits)
        yield buf


def aligned(a: ReportStatistics, b: ReportStatistics) -> tuple[ReportStatistics, ReportStatistics]:
    """The two systems with the same statistics columns: METEOR only where both have it; a
    hallucination block of zeros (no field) for a side without one."""
    if len(a) != len(b) or a.ids != b.ids:
        raise ValueError("paired statistics must hold the same reports in the same order")
    if (a.meteor is None) != (b.meteor is None):
        a, b = replace(a, meteor=None), replace(b, meteor=None)
    if (a.hall is None) != (b.hall is None):
        width = (a.hall if a.hall is not None else b.hall).shape[1]  # type: ignore[union-attr]  # called only when one side has hallucination fields
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
    masks: Callable[..., Iterator[np.ndarray]] = swap_masks,
) -> dict[str, dict[str, float | None]]:
    """Path -> {a, b, delta (b - a), p, count} by approximate randomization over `trials` trials."""
    a, b = aligned(a, b)
    n = len(a)
    lin_a, lin_b = a.linear(), b.linear()
    width = lin_a.shape[1]
    blocks = a.blocks()
    ones = np.ones((1, n))
    # Per report: its linear statistics, its CIDEr in the overall block and in its setting's block.
    col_a = np.concatenate([lin_a, a.cider_block(blocks["overall"]).pair_scores(ones), np.zeros((n, 1))], axis=1)
    col_b = np.concatenate([lin_b, b.cider_block(blocks["overall"]).pair_scores(ones), np.zeros((n, 1))], axis=1)
    for name, idx in blocks.items():
        if name != "overall":
            col_a[idx, -1] = a.cider_block(idx).pair_scores(ones[:, idx])[:, 0]
            col_b[idx, -1] = b.cider_block(idx).pair_scores(ones[:, idx])[:, 0]
    # The trials' sums are computed per segment (each setting, and reports without one) and the
    # overall block's are their total: every report is multiplied once per trial.
    in_setting = np.zeros(n, dtype=bool)
    segments = []
    for name, idx in blocks.items():
        if name != "overall":
            in_setting[idx] = True
            segments.append((name, idx))
    if not in_setting.all():
        segments.append((None, np.flatnonzero(~in_setting)))
    parts = []  # (block name or None, reports, differences of the changing columns, changing columns)
    for name, idx in segments:
        diff = col_b[idx] - col_a[idx]
        moving = np.flatnonzero(np.any(diff != 0, axis=0))
        parts.append((name, idx, np.ascontiguousarray(diff[:, moving]), moving))
    observed: dict[str, dict[str, float | None]] = {}
    base = {}
    for name, idx in blocks.items():
        cider_col = width if name == "overall" else width + 1
        keep = [*range(width), cider_col]
        sa, sb = col_a[idx][:, keep].sum(0), col_b[idx][:, keep].sum(0)
        base[name] = (sa, sb, keep)
        va, vb = _finish(a, sa[None], len(idx)), _finish(a, sb[None], len(idx))
        for key in va:
            x, y = float(va[key][0]), float(vb[key][0])
            observed[f"{name}.{key}"] = {
                "a": None if x != x else x,
                "b": None if y != y else y,
                "delta": None if x != x or y != y else y - x,
                "count": 0,
            }
    with one_blas_thread():
        for mask in masks(n, trials, seed, reuse=True):
            total = np.zeros((len(mask), width + 2))
            for name, idx, diff, moving in parts:
                moved = np.zeros((len(mask), width + 2))
                moved[:, moving] = np.ascontiguousarray(mask[:, idx]) @ diff
                total += moved
                if name is not None:
                    _count(a, name, len(idx), base[name], moved, observed)
            _count(a, "overall", n, base["overall"], total, observed)
    for obs in observed.values():
        obs["p"] = None if obs["delta"] is None or trials <= 0 else (obs["count"] + 1) / (trials + 1)
    return observed


def _count(a: ReportStatistics, name: str, size: int, base: tuple, moved: np.ndarray, observed: dict) -> None:
    """Add to each path's count the trials whose difference is at least the observed one."""
    sum_a, sum_b, keep = base
    shift = moved[:, keep]
    va, vb = _finish(a, sum_a + shift, size), _finish(a, sum_b - shift, size)
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
