"""METEOR 1.5's corpus arithmetic in Python, from the JVM's per-segment statistics.

The JVM (`meteor_jvm`) aligns each segment once and returns its sufficient statistics
(`MeteorProcess.stats`); everything else is arithmetic on them, done here:
`meteor_scores` computes what METEOR's `EVAL` returns (a corpus score is the score of
the summed statistics, `summed`), `meteor_score` scores one statistics vector,
operation for operation as `MeteorScorer.computeMetrics`. Java's Math.pow, which no
Python function matches bit for bit on every CPU, is asked of the JVM in one short
round trip (`jvm_penalty_factors`); `MeteorProcess.evaluate` asks the JVM for every
number, and the tests hold the two equal. `MeteorStats` runs the alignment in a
background thread so the JVM works while Python scores.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

from rg4cli.metrics.meteor_jvm import meteor_process

# METEOR 1.5's parameters for `-l en` (task "default"): alpha, beta, gamma, delta, and the weights of
# its four matching stages (exact, stem, synonym, paraphrase). tests/lib checks them against the JVM.
METEOR_PARAMS = (0.85, 0.2, 0.6, 0.75)
METEOR_STAGE_WEIGHTS = (1.0, 0.6, 0.8, 0.6)


_CHUNKS = 4 + 4 * len(METEOR_STAGE_WEIGHTS)  # index of "chunks" in a statistics vector


def _full_match_in_one_chunk(v: Sequence[float]) -> bool:
    """Every test and reference word matched, in one chunk: METEOR then charges no fragmentation,
    and addStats leaves that chunk out of a sum. Total matches summed as MeteorStats(String) reads
    them (per stage: test content, reference content, test function, reference function)."""
    t_total = r_total = 0.0
    for i in range(4, _CHUNKS, 4):
        t_total += v[i]
        r_total += v[i + 1]
        t_total += v[i + 2]
        r_total += v[i + 3]
    return t_total == v[0] and r_total == v[1] and v[_CHUNKS] == 1.0


def _fragmentation(v: Sequence[float]) -> np.float64:
    """METEOR's fragmentation: chunks over the mean of test and reference word matches (0 for a
    full match in one chunk; NaN for no match at all)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if _full_match_in_one_chunk(v):
            return np.float64(0.0)
        return np.float64(v[_CHUNKS]) / ((v[_CHUNKS + 1] + v[_CHUNKS + 2]) / 2.0)


def _meteor_score(v: Sequence[float], factors: dict[float, float] | None = None) -> float:
    """METEOR's score of one statistics vector: MeteorScorer.computeMetrics, operation for operation.

    Layout (MeteorStats.toString): test length, reference length, test function words, reference
    function words, then per stage (test content, reference content, test function, reference
    function) matches, then chunks, test word matches, reference word matches. `factors` maps a
    fragmentation to the JVM's own 1 - gamma * Math.pow(frag, beta) (`jvm_penalty_factors`);
    without it numpy's power stands in, which can differ from Java's in the last bit.
    """
    alpha, beta, gamma, delta = METEOR_PARAMS
    n = len(METEOR_STAGE_WEIGHTS)
    t_len, r_len, t_fun, r_fun = v[0], v[1], v[2], v[3]
    stage = [v[4 + 4 * i : 8 + 4 * i] for i in range(n)]
    t_wlen = delta * (t_len - t_fun) + (1.0 - delta) * t_fun
    r_wlen = delta * (r_len - r_fun) + (1.0 - delta) * r_fun
    t_wm = r_wm = 0.0
    for w, (tc, _, _, _) in zip(METEOR_STAGE_WEIGHTS, stage):
        t_wm += tc * w * delta
    for w, (_, rc, _, _) in zip(METEOR_STAGE_WEIGHTS, stage):
        r_wm += rc * w * delta
    for w, (_, _, tf, _) in zip(METEOR_STAGE_WEIGHTS, stage):
        t_wm += tf * w * (1.0 - delta)
    for w, (_, _, _, rf) in zip(METEOR_STAGE_WEIGHTS, stage):
        r_wm += rf * w * (1.0 - delta)
    # Java's double division: x/0 is inf or NaN, never an exception; NaN scores become 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.float64(t_wm) / np.float64(t_wlen)
        recall = np.float64(r_wm) / np.float64(r_wlen)
        f_mean = 1.0 / ((1.0 - alpha) / precision + alpha / recall)
        frag = _fragmentation(v)
        factor = factors.get(float(frag)) if factors else None
        if factor is None:
            factor = 1.0 - gamma * np.power(frag, beta)
        score = float(f_mean * factor)
    return 0.0 if score != score else max(score, 0.0)


def _stats_vectors(stats: Sequence[str]) -> list[list[float]]:
    return [[float(x) for x in line.split()] for line in stats]


def _summed(vectors: Sequence[Sequence[float]]) -> list[float]:
    """MeteorStats.addStats over the segments in order: a full match in one chunk adds no chunk."""
    total = [0.0] * len(vectors[0])
    for vec in vectors:
        total = [a + b for a, b in zip(total, vec)]
        if _full_match_in_one_chunk(vec):
            total[_CHUNKS] -= 1.0
    return total


def jvm_penalty_factors(vectors: Sequence[Sequence[float]], process) -> dict[float, float]:
    """1 - gamma * Math.pow(frag, beta) as METEOR's JVM computes it, for each vector's fragmentation.

    Java's Math.pow is not libm's nor numpy's: on some CPUs they differ from it in the last bit
    for a few percent of arguments, and METEOR's score is f_mean times this factor. One EVAL asks
    the JVM for it: per distinct fragmentation, a vector whose f_mean is exactly 1.0 (every word
    matched exactly: precision and recall 1.0) with that fragmentation (chunks and word matches
    doubled: the same quotient, and never a one-chunk full match), so its score is the factor.
    """
    wanted: dict[float, tuple[float, float]] = {}
    for v in vectors:
        frag = float(_fragmentation(v))
        if frag > 0 and frag == frag and frag not in wanted:  # 0 and NaN need no power
            wanted[frag] = (v[_CHUNKS], v[_CHUNKS + 1] + v[_CHUNKS + 2])
    if not wanted:
        return {}
    zeros = " ".join(["0"] * (4 * len(METEOR_STAGE_WEIGHTS) - 2))
    lines = [f"1 1 0 0 1 1 {zeros} {2 * chunks!r} {words!r} {words!r}" for chunks, words in wanted.values()]
    _, factors = process.evaluate(lines)
    return dict(zip(wanted, factors))


def meteor_scores(
    stats: Sequence[str], process=None, subsets: dict[str, Sequence[int]] | None = None
) -> tuple[float, list[float], dict[str, float]]:
    """(corpus score, per-segment scores, corpus score per subset) from `MeteorProcess.stats` lines:
    what METEOR's `EVAL` returns for them (a corpus score is that of the summed statistics),
    computed here from the statistics. With the JVM `process`, Math.pow's values come from it
    (`jvm_penalty_factors`, one short round trip), so every number is the JVM's bit for bit."""
    if not stats:
        return float("nan"), [], {}
    vectors = _stats_vectors(stats)
    totals = {name: _summed([vectors[i] for i in idx]) for name, idx in (subsets or {}).items() if idx}
    total = _summed(vectors)
    factors = jvm_penalty_factors([*vectors, total, *totals.values()], process) if process is not None else None
    return (
        _meteor_score(total, factors),
        [_meteor_score(vec, factors) for vec in vectors],
        {name: _meteor_score(t, factors) for name, t in totals.items()},
    )


class MeteorStats:
    """METEOR statistics computed in the background (the JVM works while Python scores)."""

    def __init__(self, hyps: Sequence[str], refs: Sequence[str | Sequence[str]]):
        self._result: list[str] | None = None
        self._error: BaseException | None = None
        self.finished_at = 0.0  # time.perf_counter() when the last statistic arrived
        self._thread = threading.Thread(target=self._run, args=(list(hyps), as_refs(refs)), daemon=True)
        self._thread.start()

    def _run(self, hyps: list[str], refs: list[list[str]]) -> None:
        try:
            self._result = meteor_process().stats(hyps, refs)
        except BaseException as exc:
            self._error = exc
        self.finished_at = time.perf_counter()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> list[str]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def as_refs(refs: Sequence[str | Sequence[str]]) -> list[list[str]]:
    """Each pair's references as a list (a single string is one reference)."""
    return [[r] if isinstance(r, str) else list(r) for r in refs]


# ---- many corpora at once (resampling) -------------------------------------------


def additive_statistics(stats: Sequence[str]) -> np.ndarray:
    """(segments, fields) array whose column sums over any multiset of segments are that multiset's
    summed statistics (`_summed`): a segment matched fully in one chunk contributes no chunk."""
    vectors = np.array(_stats_vectors(stats), dtype=np.float64).reshape(len(stats), -1)
    for i, vec in enumerate(vectors):
        if _full_match_in_one_chunk(vec):
            vectors[i, _CHUNKS] -= 1.0
    return vectors


def scores_of_totals(totals: np.ndarray) -> np.ndarray:
    """METEOR's score of each row of summed statistics (`_meteor_score` on every row, numpy's power
    for Java's Math.pow: equal to the JVM's numbers within a few units in the last place)."""
    alpha, beta, gamma, delta = METEOR_PARAMS
    v = np.asarray(totals, dtype=np.float64)
    weights = np.asarray(METEOR_STAGE_WEIGHTS)
    stage = v[:, 4:_CHUNKS].reshape(len(v), len(weights), 4)
    t_wlen = delta * (v[:, 0] - v[:, 2]) + (1.0 - delta) * v[:, 2]
    r_wlen = delta * (v[:, 1] - v[:, 3]) + (1.0 - delta) * v[:, 3]
    t_wm = (stage[:, :, 0] * weights * delta).sum(1) + (stage[:, :, 2] * weights * (1.0 - delta)).sum(1)
    r_wm = (stage[:, :, 1] * weights * delta).sum(1) + (stage[:, :, 3] * weights * (1.0 - delta)).sum(1)
    full = (stage[:, :, 0::2].sum((1, 2)) == v[:, 0]) & (stage[:, :, 1::2].sum((1, 2)) == v[:, 1])
    full &= v[:, _CHUNKS] == 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = t_wm / t_wlen
        recall = r_wm / r_wlen
        f_mean = 1.0 / ((1.0 - alpha) / precision + alpha / recall)
        frag = np.where(full, 0.0, v[:, _CHUNKS] / ((v[:, _CHUNKS + 1] + v[:, _CHUNKS + 2]) / 2.0))
        score = f_mean * (1.0 - gamma * np.power(frag, beta))
    return np.where(np.isnan(score), 0.0, np.maximum(score, 0.0))
