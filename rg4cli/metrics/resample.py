"""Every `rg4 score` number of many weighted corpora at once, from per-report statistics.

A corpus here is a weight per scored pair: how many times the pair occurs (a bootstrap
resample: 0, 1, 2...; the evaluated set: all ones). `ReportStatistics` holds what each
metric needs of each pair, computed once by the scorers (`score.score_system`):

* BLEU-1..4: test length, closest reference length, guessed and correct n-grams per
  order (pycocoevalcap's BleuScorer counts); a corpus's BLEU is its formula on the sums;
* METEOR: the JVM's per-segment statistics (`meteor.additive_statistics`); a corpus's
  METEOR is METEOR's own arithmetic on their sum (`meteor.scores_of_totals`);
* ROUGE-L: the per-report score (the corpus value is their mean);
* CIDEr: the cooked n-grams (`resample_cider.CiderBlock`: document frequencies
  recomputed from each corpus's references);
* CE: per report and observation, TP, FP and FN under both uncertain conventions;
  micro and macro P/R/F1 from their sums;
* hallucination: whether the field is present, input_agnostic, and each category.

Everything but CIDEr is linear in the weights: one matrix product per block of corpora
gives the sums (`linear`), and each metric's formula finishes them (`finish`). Memory
is bounded by the block: (corpora x pairs) weights and (corpora x n-gram classes) for
CIDEr, never corpora x pairs x vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rg4cli.metrics import clinical, meteor
from rg4cli.metrics.blas import one_blas_thread
from rg4cli.metrics.resample_cider import CiderBlock, CiderFlat
from rg4cli.records.study import INPUT_SETTINGS
from rg4cli.vocab import CATEGORIES, FIVE, OBSERVATIONS

BLEU_SMALL, BLEU_TINY = 1e-9, 1e-15  # pycocoevalcap's BleuScorer
_FIVE_AT = [OBSERVATIONS.index(o) for o in FIVE]
_OBS = len(OBSERVATIONS)


@dataclass
class ReportStatistics:
    """Per-report sufficient statistics of one system's scored pairs, in pair order.

    Build with `of_system` (after `score.score_system`) or `take` a subset; `values`
    computes every summary number of weighted corpora without touching text.
    """

    ids: list[str]
    settings: list[str | None]
    bleu: np.ndarray  # (n, 10): test length, reference length, guess 1..4, correct 1..4
    meteor: np.ndarray | None  # (n, fields) additive METEOR statistics; None without METEOR
    rouge: np.ndarray  # (n,)
    cider_pairs: list  # nlg._CiderPair per report
    ce: np.ndarray  # (n, 2 conventions, 3 [tp fp fn], 14 observations)
    hall: np.ndarray | None  # (n, 2 + 2 * categories): present, input_agnostic, present.*, unsupported.*
    _cider: dict = field(default_factory=dict, repr=False)  # derived arrays, computed once: see cider_block

    @classmethod
    def of_system(cls, sys_: Any) -> ReportStatistics:
        """From a `score.System` that `score_system` scored (its `sufficient` statistics)."""
        suff = sys_.sufficient
        if suff is None:
            raise ValueError("the system has not been scored (score_system fills its sufficient statistics)")
        bleu = np.zeros((len(sys_.ids), 10))
        for i, comps in enumerate(suff.bleu):
            t = comps["testlen"]
            bleu[i, 0] = t
            bleu[i, 1] = min((abs(r - t), r) for r in comps["reflen"])[1]  # "closest"
            bleu[i, 2:6] = comps["guess"]
            bleu[i, 6:10] = comps["correct"]
        ce = np.zeros((len(sys_.ids), 2, 3, _OBS))
        for u, unc in enumerate(clinical.UNCERTAIN_AS):
            h = clinical.binarize(sys_.hyp_labels, unc)
            r = clinical.binarize(sys_.ref_labels, unc)
            ce[:, u, 0] = (h == 1) & (r == 1)
            ce[:, u, 1] = (h == 1) & (r == 0)
            ce[:, u, 2] = (h == 0) & (r == 1)
        hall = None
        if any(x is not None for x in sys_.hallucination):
            hall = np.zeros((len(sys_.ids), 2 + 2 * len(CATEGORIES)))
            for i, x in enumerate(sys_.hallucination):
                if x is None:
                    continue
                unsupported = x.get("unsupported") or ()
                hall[i, 0] = 1.0
                hall[i, 1] = bool(x.get("input_agnostic"))
                for c, cat in enumerate(CATEGORIES):
                    hall[i, 2 + c] = bool(x.get(cat))
                    hall[i, 2 + len(CATEGORIES) + c] = cat in unsupported
        return cls(
            ids=list(sys_.ids),
            settings=list(sys_.settings),
            bleu=bleu,
            meteor=meteor.additive_statistics(suff.meteor) if suff.meteor is not None else None,
            rouge=np.asarray(sys_.per_report["rouge_l"], dtype=np.float64),
            cider_pairs=list(suff.cider.pairs),
            ce=ce,
            hall=hall,
        )

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, idx: Sequence[int]) -> ReportStatistics:
        """The statistics of these reports, in this order (a subset scores as that subset alone)."""
        idx = list(idx)
        return ReportStatistics(
            [self.ids[i] for i in idx],
            [self.settings[i] for i in idx],
            self.bleu[idx],
            None if self.meteor is None else self.meteor[idx],
            self.rouge[idx],
            [self.cider_pairs[i] for i in idx],
            self.ce[idx],
            None if self.hall is None else self.hall[idx],
        )

    # ---- blocks -----------------------------------------------------------------

    def blocks(self) -> dict[str, np.ndarray]:
        """Summary block path -> the indices of its reports ("overall", "by_setting.<s>")."""
        out = {"overall": np.arange(len(self.ids))}
        for s in INPUT_SETTINGS:
            idx = np.array([i for i, x in enumerate(self.settings) if x == s], dtype=np.int64)
            if len(idx):
                out[f"by_setting.{s}"] = idx
        return out

    def cider_block(self, idx: np.ndarray) -> CiderBlock:
        key = np.asarray(idx, dtype=np.int64).tobytes()
        if key not in self._cider:
            if "flat" not in self._cider:
                self._cider["flat"] = CiderFlat(self.cider_pairs)
            self._cider[key] = CiderBlock(self._cider["flat"], np.asarray(idx, dtype=np.int64))
        return self._cider[key]

    def linear(self) -> np.ndarray:
        """(n, columns) per-report statistics whose weighted sums the metrics finish (`finish`)."""
        parts = [self.bleu, self.rouge[:, None], self.ce.reshape(len(self.ids), -1)]
        if self.meteor is not None:
            parts.append(self.meteor)
        if self.hall is not None:
            parts.append(self.hall)
        return np.concatenate(parts, axis=1)

    def metric_names(self) -> list[str]:
        """The metric paths within a block, in output order (`finish`'s keys)."""
        names = [f"bleu_{k}" for k in range(1, 5)]
        if self.meteor is not None:
            names.append("meteor")
        names += ["rouge_l", "cider"]
        names += [f"ce.{key}.{m}" for key in clinical.ce_keys() for m in ("precision", "recall", "f1")]
        if self.hall is not None:
            names.append("hall.rate")
            names += [f"hall.{part}.{c}" for part in ("present", "unsupported") for c in CATEGORIES]
        return names

    def finish(self, sums: np.ndarray, size: np.ndarray, cider: np.ndarray | None) -> dict[str, np.ndarray]:
        """Every metric of corpora from their summed `linear` columns, their sizes and CIDEr."""
        out: dict[str, np.ndarray] = {}
        size = np.asarray(size, dtype=np.float64)
        empty = size == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            test_len, ref_len = sums[:, 0], sums[:, 1]
            bleu = np.ones(len(sums))
            ratio = (test_len + BLEU_TINY) / (ref_len + BLEU_SMALL)
            brevity = np.where(ratio < 1, np.exp(1 - 1 / ratio), 1.0)
            for k in range(4):
                bleu = bleu * ((sums[:, 6 + k] + BLEU_TINY) / (sums[:, 2 + k] + BLEU_SMALL))
                out[f"bleu_{k + 1}"] = np.where(empty, np.nan, bleu ** (1.0 / (k + 1)) * brevity)
            at = 10
            rouge = sums[:, at] / size
            at += 1
            ce = sums[:, at : at + 2 * 3 * _OBS].reshape(len(sums), 2, 3, _OBS)
            at += 2 * 3 * _OBS
            if self.meteor is not None:
                width = self.meteor.shape[1]
                out["meteor"] = np.where(empty, np.nan, meteor.scores_of_totals(sums[:, at : at + width]))
                at += width
            out["rouge_l"] = np.where(empty, np.nan, rouge)
            out["cider"] = np.full(len(sums), np.nan) if cider is None else cider
            for u, unc in enumerate(clinical.UNCERTAIN_AS):
                for subset, cols in (("14", slice(None)), ("5", _FIVE_AT)):
                    tp, fp, fn = (ce[:, u, j][:, cols] for j in range(3))
                    p, r, f = clinical.prf(tp.sum(1), fp.sum(1), fn.sum(1))
                    for m, v in zip(("precision", "recall", "f1"), (p, r, f)):
                        out[f"ce.micro_{subset}_{unc}.{m}"] = np.where(empty, np.nan, v)
                    p, r, f = clinical.prf(tp, fp, fn)
                    for m, v in zip(("precision", "recall", "f1"), (p, r, f)):
                        out[f"ce.macro_{subset}_{unc}.{m}"] = np.where(empty, np.nan, v.mean(1))
            if self.hall is not None:
                h = sums[:, at : at + self.hall.shape[1]]
                has = h[:, 0]
                share = np.where(has[:, None] > 0, h / np.where(has > 0, has, 1.0)[:, None], np.nan)
                out["hall.rate"] = share[:, 1]
                for c, cat in enumerate(CATEGORIES):
                    out[f"hall.present.{cat}"] = share[:, 2 + c]
                    out[f"hall.unsupported.{cat}"] = share[:, 2 + len(CATEGORIES) + c]
        return {k: out[k] for k in self.metric_names()}

    def values(self, weights: np.ndarray, blocks: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        """Dotted summary path -> (corpora,) value of every metric of every block; `weights` is
        (corpora, reports). NaN where a block is empty in a corpus (or has no hallucination field)."""
        w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        if "linear" not in self._cider:
            self._cider["linear"] = self.linear()
        lin = self._cider["linear"]
        out: dict[str, np.ndarray] = {}
        with one_blas_thread():
            for name, idx in (blocks or self.blocks()).items():
                wb = np.ascontiguousarray(w[:, idx])
                sums = wb @ lin[idx]
                cider = self.cider_block(idx).corpus_scores(wb)
                for key, v in self.finish(sums, wb.sum(1), cider).items():
                    out[f"{name}.{key}"] = v
        return out

    def point(self) -> dict[str, float | None]:
        """Every metric path's value on the scored reports themselves (all weights one)."""
        return {k: _num(v[0]) for k, v in self.values(np.ones((1, len(self.ids)))).items()}


def _num(x: float) -> float | None:
    return None if x != x else float(x)


# ---- bootstrap ------------------------------------------------------------------

BOOT_CHUNK = 50  # resamples drawn and evaluated together (bounds memory; results do not depend on it)


def resample_weights(n: int, resamples: int, seed: int) -> Any:
    """(chunk, n) weight blocks of `resamples` bootstrap resamples of n reports: each resample
    draws n reports with replacement. Resample r comes from its own stream (seed, r), so the
    draws depend on the seed alone, not on how they are blocked."""
    for start in range(0, resamples, BOOT_CHUNK):
        rows = []
        for r in range(start, min(resamples, start + BOOT_CHUNK)):
            rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0, r])))
            rows.append(np.bincount(rng.integers(0, n, size=n), minlength=n))
        yield np.array(rows, dtype=np.float64)


def bootstrap_values(
    systems: Sequence[ReportStatistics],
    resamples: int,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Per system, path -> (resamples,) values on the same resamples of the reports (the
    systems must hold the same reports in the same order: a paired bootstrap)."""
    n = len(systems[0])
    blocks = systems[0].blocks()
    chunks: list[list[dict[str, np.ndarray]]] = [[] for _ in systems]
    for w in resample_weights(n, resamples, seed):
        for s, stats in enumerate(systems):
            chunks[s].append(stats.values(w, blocks))
    if progress is not None:
        progress(f"bootstrap: {resamples:,} resamples of {n:,} reports, {len(systems)} system(s)")
    return [{k: np.concatenate([c[k] for c in ch]) for k in ch[0]} if ch else {} for ch in chunks]


def interval(values: np.ndarray, ci: float) -> tuple[float | None, float | None, float | None]:
    """(low, high, standard error) of bootstrap values: the percentile interval (numpy's linear
    interpolation) and the standard deviation (ddof 1); resamples where the metric is undefined
    (a setting drawn zero times) are left out."""
    v = values[~np.isnan(values)]
    if len(v) < 2:
        return None, None, None
    low, high = np.quantile(v, [(1 - ci) / 2, 1 - (1 - ci) / 2])
    return float(low), float(high), float(np.std(v, ddof=1))
