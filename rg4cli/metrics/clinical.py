"""Clinical efficacy (CE): precision / recall / F1 of the 14 CheXpert observations.

Labels are dicts observation -> 1 (positive), 0 (negative), -1 (uncertain) or None
(not mentioned), as `rg4 label` writes them. CE compares a hypothesis's labels with
its reference's after making them binary:

* not mentioned and negative -> 0; positive -> 1;
* uncertain -> 1 under `unc_pos` (LLM-RG4's code: `res[res == -1] = 1`, the rg4
  default) or -> 0 under `unc_neg` (R2Gen's `compute_ce.py`: `res[res == -1] = 0`).

Averages, named in every key:

* `micro_14` / `micro_5`: TP, FP, FN summed over the 14 observations (or the 5:
  Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion), then P, R, F1.
  `micro_14_unc_pos` F1 is the CE number of the LLM-RG4 tables.
* `macro_14` / `macro_5`: P, R and F1 computed per observation, then averaged with
  equal weight (so macro F1 is the mean of per-observation F1s, not the F1 of the
  macro P and R) -- scikit-learn's `average="macro"`, which both papers' code call.

0/0, explicitly: P = TP/(TP+FP), R = TP/(TP+FN), F1 = 2TP/(2TP+FP+FN), and any of
them whose denominator is 0 is 0 (scikit-learn's `zero_division` default, which
is what the LLM-RG4 and R2Gen numbers were computed with). So an observation that
no reference and no hypothesis mentions -- a constant column -- scores 0 and still
counts in the macro average; `per_observation` shows its `support` and `predicted`
counts (both 0) so such rows can be recognised. Nothing raises on constant columns.

Per-report F1 (for paired tests): over one report's observations,
F1 = 2TP/(2TP+FP+FN), and 1.0 when neither report has a positive observation (they
agree completely; scoring that 0 would make "no false alarm" and "a false alarm"
indistinguishable in a paired test).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rg4cli.vocab import FIVE, OBSERVATIONS

UNCERTAIN_AS: dict[str, int] = {"unc_pos": 1, "unc_neg": 0}
SUBSETS: dict[str, tuple[str, ...]] = {"14": OBSERVATIONS, "5": FIVE}
LABEL_VALUES = (1, 0, -1, None)


def ce_keys() -> list[str]:
    """Every key of `ce_scores`, in output order."""
    return [f"{avg}_{subset}_{unc}" for unc in UNCERTAIN_AS for subset in SUBSETS for avg in ("micro", "macro")]


def labels_problem(labels: Any) -> str | None:
    """Why `labels` is not a usable label dict (None when it is)."""
    if not isinstance(labels, dict):
        return f"expected an object of observation -> 1/0/-1/null, got {type(labels).__name__}"
    unknown = [k for k in labels if k not in OBSERVATIONS]
    if unknown:
        return f"unknown observation {unknown[0]!r} (expected the 14 CheXpert names, e.g. 'Pleural Effusion')"
    for name, value in labels.items():
        if isinstance(value, bool) or value not in LABEL_VALUES:
            return f"{name!r}: expected 1, 0, -1 or null, got {value!r}"
    return None


def binarize(
    labels: Sequence[dict], uncertain: str = "unc_pos", observations: Sequence[str] = OBSERVATIONS
) -> np.ndarray:
    """(n_reports, n_observations) 0/1 matrix; a missing key counts as not mentioned."""
    unc = UNCERTAIN_AS[uncertain]
    mapping = {1: 1, 0: 0, -1: unc, None: 0}
    out = np.zeros((len(labels), len(observations)), dtype=np.int64)
    for i, lab in enumerate(labels):
        for j, name in enumerate(observations):
            out[i, j] = mapping[lab.get(name)]
    return out


def _ratio(num: np.ndarray | int, den: np.ndarray | int) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def counts(hyp: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
    """Per-observation TP, FP, FN, TN of binary matrices."""
    return {
        "tp": ((hyp == 1) & (ref == 1)).sum(0),
        "fp": ((hyp == 1) & (ref == 0)).sum(0),
        "fn": ((hyp == 0) & (ref == 1)).sum(0),
        "tn": ((hyp == 0) & (ref == 0)).sum(0),
    }


def prf(tp, fp, fn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall, F1 with 0 for 0/0 (elementwise)."""
    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    return _ratio(tp, tp + fp), _ratio(tp, tp + fn), _ratio(2 * tp, 2 * tp + fp + fn)


def _triple(p, r, f) -> dict[str, float]:
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def ce_scores(hyp_labels: Sequence[dict], ref_labels: Sequence[dict]) -> dict[str, dict[str, float] | None]:
    """Micro and macro P/R/F1 over the 14 and the 5, both uncertain conventions.

    Keys: `{micro,macro}_{14,5}_{unc_pos,unc_neg}`, each {precision, recall, f1};
    None for every key when there are no reports.
    """
    if len(hyp_labels) != len(ref_labels):
        raise ValueError(f"{len(hyp_labels)} hypothesis label sets but {len(ref_labels)} reference label sets")
    if not hyp_labels:
        return {k: None for k in ce_keys()}
    out: dict[str, dict[str, float] | None] = {}
    for unc in UNCERTAIN_AS:
        for subset, names in SUBSETS.items():
            c = counts(binarize(hyp_labels, unc, names), binarize(ref_labels, unc, names))
            out[f"micro_{subset}_{unc}"] = _triple(*prf(c["tp"].sum(), c["fp"].sum(), c["fn"].sum()))
            p, r, f = prf(c["tp"], c["fp"], c["fn"])
            out[f"macro_{subset}_{unc}"] = _triple(p.mean(), r.mean(), f.mean())
    return {k: out[k] for k in ce_keys()}


def per_observation(
    hyp_labels: Sequence[dict], ref_labels: Sequence[dict], uncertain: str = "unc_pos"
) -> dict[str, dict[str, float | int]]:
    """observation -> tp, fp, fn, tn, support (reference positives), predicted
    (hypothesis positives), precision, recall, f1 (0 for 0/0)."""
    hyp = binarize(hyp_labels, uncertain)
    ref = binarize(ref_labels, uncertain)
    c = counts(hyp, ref)
    p, r, f = prf(c["tp"], c["fp"], c["fn"])
    table = {}
    for j, name in enumerate(OBSERVATIONS):
        table[name] = {
            "tp": int(c["tp"][j]),
            "fp": int(c["fp"][j]),
            "fn": int(c["fn"][j]),
            "tn": int(c["tn"][j]),
            "support": int(c["tp"][j] + c["fn"][j]),
            "predicted": int(c["tp"][j] + c["fp"][j]),
            "precision": float(p[j]),
            "recall": float(r[j]),
            "f1": float(f[j]),
        }
    return table


def per_report_f1(
    hyp_labels: Sequence[dict],
    ref_labels: Sequence[dict],
    uncertain: str = "unc_pos",
    observations: Sequence[str] = OBSERVATIONS,
) -> list[float]:
    """F1 of each report's observations; 1.0 when neither side has a positive."""
    hyp = binarize(hyp_labels, uncertain, observations)
    ref = binarize(ref_labels, uncertain, observations)
    tp = ((hyp == 1) & (ref == 1)).sum(1)
    wrong = (hyp != ref).sum(1)
    den = 2 * tp + wrong
    f1 = np.where(den > 0, 2 * tp / np.maximum(den, 1), 1.0)
    return [float(x) for x in f1]


def exact_match(hyp_labels: Sequence[dict], ref_labels: Sequence[dict], uncertain: str, observations) -> list[float]:
    """Per report: 1.0 when the binary labels agree on every observation, else 0.0."""
    hyp, ref = binarize(hyp_labels, uncertain, observations), binarize(ref_labels, uncertain, observations)
    return [float(x) for x in (hyp == ref).all(1)]


def per_report_keys() -> list[str]:
    """Per-report CE keys: `ce_f1_{14,5}_{unc_pos,unc_neg}`, then `ce_exact_5_unc_pos` (1.0 when
    the 5 binary labels all agree: f1chexbert's per-report `pe_accuracy`)."""
    return [f"ce_f1_{subset}_{unc}" for unc in UNCERTAIN_AS for subset in SUBSETS] + ["ce_exact_5_unc_pos"]


def per_report_scores(hyp_labels: Sequence[dict], ref_labels: Sequence[dict]) -> dict[str, list[float]]:
    out = {
        f"ce_f1_{subset}_{unc}": per_report_f1(hyp_labels, ref_labels, unc, names)
        for unc in UNCERTAIN_AS
        for subset, names in SUBSETS.items()
    }
    out["ce_exact_5_unc_pos"] = exact_match(hyp_labels, ref_labels, "unc_pos", FIVE)
    return out
