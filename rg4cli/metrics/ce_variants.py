"""The CE numbers published pipelines print, beyond `clinical.ce_scores`' micro and macro.

Every pipeline makes labels binary first (`clinical.binarize`: positive 1, negative and not
mentioned 0, uncertain 1 under `unc_pos` or 0 under `unc_neg`), then averages as
scikit-learn's `classification_report` / `precision_recall_fscore_support` do with 0 for
0/0 (`zero_division=0`, which is also what the default "warn" returns):

* `weighted_{14,5}_{unc}`: per-observation P, R, F1 averaged with the reference positives
  (support) as weights; 0 when no reference has a positive.
* `samples_{14,5}_{unc}`: P, R, F1 of each report's observations, averaged over reports; a
  report where neither side has a positive scores 0 (scikit-learn's rule; the per-report
  `ce_f1_*` keys of `clinical` score such a report 1 for paired tests).
* `accuracy_{14,5}_{unc}`: the share of reports whose binary labels match on every
  observation of the subset (scikit-learn's subset accuracy); f1chexbert's `accuracy` is
  `accuracy_5_unc_pos`, its per-report `pe_accuracy` the per-report `ce_exact_5_unc_pos`.
* `auroc_14_{unc}`: the mean over the 14 of the ROC AUC of binary predictions,
  (1 + TPR - FPR) / 2 per observation, as LLM-RG4's and R2Gen's `compute_mlc` print it
  (`AVG_AUCROC`); null when some reference column is constant (their code stops there).

`REFERENCE_KEYS` says which key reproduces which pipeline's number (docs/metrics-reference.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rg4cli.metrics.clinical import SUBSETS, UNCERTAIN_AS, binarize, ce_scores, counts, prf

REFERENCE_KEYS: tuple[tuple[str, str, str], ...] = (
    ("LLM-RG4 code (calculate_metric)", "F1_MICRO / F1_MACRO", "ce.micro_14_unc_pos.f1 / ce.macro_14_unc_pos.f1"),
    (
        "LLM-RG4 code (calculate_metric)",
        "PRECISION_/RECALL_MICRO, _MACRO",
        "ce.{micro,macro}_14_unc_pos.{precision,recall}",
    ),
    ("LLM-RG4 code (calculate_metric)", "AVG_AUCROC", "ce.auroc_14_unc_pos"),
    ("R2Gen-family compute_ce.py", "F1_MICRO / F1_MACRO (and P, R)", "ce.{micro,macro}_14_unc_neg"),
    ("R2Gen-family compute_ce.py", "AVG_AUCROC", "ce.auroc_14_unc_neg"),
    ("f1chexbert (RadEval, ViLMedic)", "accuracy", "ce.accuracy_5_unc_pos"),
    ("f1chexbert (RadEval, ViLMedic)", "pe_accuracy (per report)", "per-report ce_exact_5_unc_pos"),
    (
        "f1chexbert (RadEval, ViLMedic)",
        "cr['micro avg'|'macro avg'|...]",
        "ce.{micro,macro,weighted,samples}_14_unc_pos",
    ),
    ("f1chexbert (RadEval, ViLMedic)", "cr_5[...]", "ce.{micro,macro,weighted,samples}_5_unc_pos"),
    ("f1chexbert (RadEval, ViLMedic)", "cr[<condition>]", "per_observation.unc_pos.<observation>"),
    ("LLaVA-Rad rrg_eval", "CheXbert 14 / 5 (uncertain negative)", "ce.{micro,macro,weighted,samples}_{14,5}_unc_neg"),
    (
        "LLaVA-Rad rrg_eval",
        "CheXbert 14+ / 5+ (uncertain positive)",
        "ce.{micro,macro,weighted,samples}_{14,5}_unc_pos",
    ),
    ("LLaVA-Rad rrg_eval", "per-condition breakdown", "per_observation.{unc_neg,unc_pos}.<observation>"),
)


def variant_keys() -> list[str]:
    """Keys `variant_scores` adds to a CE block, in output order."""
    keys = []
    for unc in UNCERTAIN_AS:
        for subset in SUBSETS:
            keys += [f"weighted_{subset}_{unc}", f"samples_{subset}_{unc}", f"accuracy_{subset}_{unc}"]
        keys.append(f"auroc_14_{unc}")
    return keys


def _triple(p, r, f) -> dict[str, float]:
    return {"precision": float(p), "recall": float(r), "f1": float(f)}


def _weighted(hyp: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    c = counts(hyp, ref)
    support = c["tp"] + c["fn"]
    if support.sum() == 0:
        return _triple(0.0, 0.0, 0.0)
    p, r, f = prf(c["tp"], c["fp"], c["fn"])
    w = support / support.sum()
    return _triple((p * w).sum(), (r * w).sum(), (f * w).sum())


def _samples(hyp: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    tp = ((hyp == 1) & (ref == 1)).sum(1)
    p, r, f = prf(tp, hyp.sum(1) - tp, ref.sum(1) - tp)
    return _triple(p.mean(), r.mean(), f.mean())


def _auroc(hyp: np.ndarray, ref: np.ndarray) -> float | None:
    pos = ref.sum(0)
    neg = ref.shape[0] - pos
    if (pos == 0).any() or (neg == 0).any():
        return None
    tpr = ((hyp == 1) & (ref == 1)).sum(0) / pos
    fpr = ((hyp == 1) & (ref == 0)).sum(0) / neg
    return float(((1.0 + tpr - fpr) / 2.0).mean())


def variant_scores(
    hyp_labels: Sequence[dict], ref_labels: Sequence[dict]
) -> dict[str, dict[str, float] | float | None]:
    """The `variant_keys` of one block; None for every key when there are no reports."""
    if len(hyp_labels) != len(ref_labels):
        raise ValueError(f"{len(hyp_labels)} hypothesis label sets but {len(ref_labels)} reference label sets")
    if not hyp_labels:
        return {k: None for k in variant_keys()}
    out: dict[str, dict[str, float] | float | None] = {}
    for unc in UNCERTAIN_AS:
        full_hyp, full_ref = binarize(hyp_labels, unc), binarize(ref_labels, unc)
        for subset, names in SUBSETS.items():
            cols = [i for i, name in enumerate(SUBSETS["14"]) if name in names]
            hyp, ref = full_hyp[:, cols], full_ref[:, cols]
            out[f"weighted_{subset}_{unc}"] = _weighted(hyp, ref)
            out[f"samples_{subset}_{unc}"] = _samples(hyp, ref)
            out[f"accuracy_{subset}_{unc}"] = float((hyp == ref).all(1).mean())
        out[f"auroc_14_{unc}"] = _auroc(full_hyp, full_ref)
    return {k: out[k] for k in variant_keys()}


def ce_block(hyp_labels: Sequence[dict], ref_labels: Sequence[dict]) -> dict:
    """A score block's `ce`: `clinical.ce_scores` then `variant_scores`."""
    return {**ce_scores(hyp_labels, ref_labels), **variant_scores(hyp_labels, ref_labels)}


def reference_table_text() -> str:
    """REFERENCE_KEYS as plain text lines (for `rg4 score --help` and its man page)."""
    lines = []
    for pipeline, printed, key in REFERENCE_KEYS:
        lines.append(f"{pipeline}: {printed}")
        lines.append(f"    -> {key}")
    return "\n".join(lines)
