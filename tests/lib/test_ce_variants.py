"""Every CE variant `rg4 score` reports equals the arithmetic of the pipeline it is named after.

Two kinds of check:

- tests/fixtures/ce_reference_outputs.json holds random CheXbert class sets (0 blank,
  1 positive, 2 negative, 3 uncertain; No Finding 0/1) and what the pipelines themselves
  printed for them, run outside this repository (scikit-learn 1.9.1): LLM-RG4's
  `calculate_metric` steps (CSV round trip, fillna(0), -1 -> 1, `compute_mlc`), R2Gen's
  `compute_ce.py` steps (-1 -> 0), f1chexbert 0.0.2's `forward` (its CheXbert answering the
  given classes) and LLaVA-Rad's `rrg_eval.chexbert.evaluate` (likewise).
- the arithmetic written out again here, as loops over reports and observations, on random
  label sets of several sizes and densities (constant columns included).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rg4cli.metrics import ce_variants, clinical
from rg4cli.vocab import CHEXBERT_CLASS_TO_LABEL, FIVE, OBSERVATIONS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TOL = 1e-12
AVGS = {"micro avg": "micro", "macro avg": "macro", "weighted avg": "weighted", "samples avg": "samples"}


def _labels(classes):
    row = {o: CHEXBERT_CLASS_TO_LABEL[c] for o, c in zip(OBSERVATIONS[:13], classes[:13])}
    row[OBSERVATIONS[13]] = 1 if classes[13] == 1 else None
    return row


@pytest.fixture(scope="module")
def reference():
    data = json.loads((FIXTURES / "ce_reference_outputs.json").read_text())
    rows = []
    for k, s in enumerate(data["sets"]):
        hyp, ref = [_labels(c) for c in s["hyp"]], [_labels(c) for c in s["ref"]]
        block = ce_variants.ce_block(hyp, ref)
        table = {u: clinical.per_observation(hyp, ref, u) for u in ("unc_pos", "unc_neg")}
        rows.append((k, data, block, table, clinical.per_report_scores(hyp, ref), len(hyp)))
    return rows


def _close(a, b):
    return abs(a - b) <= TOL


def test_llm_rg4_and_r2gen_compute_mlc(reference):
    for k, data, block, _, _, _ in reference:
        for pipeline, unc in (("llmrg4", "unc_pos"), ("r2gen", "unc_neg")):
            ref = data[pipeline][k]
            for avg in ("micro", "macro"):
                got = block[f"{avg}_14_{unc}"]
                assert _close(got["f1"], ref[f"F1_{avg.upper()}"]), (pipeline, k, avg)
                assert _close(got["precision"], ref[f"PRECISION_{avg.upper()}"]), (pipeline, k, avg)
                assert _close(got["recall"], ref[f"RECALL_{avg.upper()}"]), (pipeline, k, avg)
            if ref["AVG_AUCROC"] == ref["AVG_AUCROC"]:
                assert _close(block[f"auroc_14_{unc}"], ref["AVG_AUCROC"]), (pipeline, k)
            else:  # NaN: a constant reference column (older scikit-learn raised there); rg4 says null
                assert block[f"auroc_14_{unc}"] is None
    assert sum(r["AVG_AUCROC"] == r["AVG_AUCROC"] for r in reference[0][1]["llmrg4"]) >= 2


def _check_report(cr, block, table, subset, unc, names, where):
    for ref_key, avg in AVGS.items():
        got = block[f"{avg}_{subset}_{unc}"]
        for metric in ("precision", "recall"):
            assert _close(got[metric], cr[ref_key][metric]), (where, ref_key, metric)
        assert _close(got["f1"], cr[ref_key]["f1-score"]), (where, ref_key)
    for name in names:
        row = table[unc][name]
        assert row["support"] == cr[name]["support"], (where, name)
        for metric in ("precision", "recall"):
            assert _close(row[metric], cr[name][metric]), (where, name, metric)
        assert _close(row["f1"], cr[name]["f1-score"]), (where, name)


def test_f1chexbert_forward(reference):
    for k, data, block, table, per_report, _ in reference:
        ref = data["f1chexbert"][k]
        assert _close(block["accuracy_5_unc_pos"], ref["accuracy"])
        assert per_report["ce_exact_5_unc_pos"] == ref["pe_accuracy"]
        _check_report(ref["cr"], block, table, "14", "unc_pos", OBSERVATIONS, ("f1chexbert 14", k))
        _check_report(ref["cr_5"], block, table, "5", "unc_pos", FIVE, ("f1chexbert 5", k))


def test_llava_rad_evaluate(reference):
    for k, data, block, table, _, _ in reference:
        ref = data["llavarad"][k]
        for name, subset, unc, names in (
            ("14", "14", "unc_neg", OBSERVATIONS),
            ("5", "5", "unc_neg", FIVE),
            ("14+", "14", "unc_pos", OBSERVATIONS),
            ("5+", "5", "unc_pos", FIVE),
        ):
            _check_report(ref[name], block, table, subset, unc, names, ("llava-rad " + name, k))


# ---- the arithmetic written out -----------------------------------------------------------


def _random_labels(rng, n, blank):
    values = [1, 0, -1]
    rows = []
    for _ in range(n):
        row = {o: (None if rng.random() < blank else rng.choice(values)) for o in OBSERVATIONS[:13]}
        row["No Finding"] = 1 if rng.random() < 0.3 else None
        rows.append(row)
    return rows


def _bin(label, unc):
    return {1: 1, 0: 0, None: 0, -1: 1 if unc == "unc_pos" else 0}[label]


def _div(a, b):
    return a / b if b else 0.0


def _by_hand(hyp, ref, names, unc):
    """scikit-learn's classification_report averages (zero_division=0), one observation at a time."""
    per = []
    for o in names:
        tp = sum(_bin(h[o], unc) == 1 and _bin(r[o], unc) == 1 for h, r in zip(hyp, ref))
        fp = sum(_bin(h[o], unc) == 1 and _bin(r[o], unc) == 0 for h, r in zip(hyp, ref))
        fn = sum(_bin(h[o], unc) == 0 and _bin(r[o], unc) == 1 for h, r in zip(hyp, ref))
        p, rc = _div(tp, tp + fp), _div(tp, tp + fn)
        per.append((tp, fp, fn, p, rc, _div(2 * p * rc, p + rc), tp + fn))
    TP, FP, FN = (sum(x[i] for x in per) for i in range(3))
    P, R = _div(TP, TP + FP), _div(TP, TP + FN)
    out = {"micro": (P, R, _div(2 * P * R, P + R))}
    out["macro"] = tuple(sum(x[i] for x in per) / len(per) for i in (3, 4, 5))
    total = sum(x[6] for x in per)
    out["weighted"] = tuple(_div(sum(x[i] * x[6] for x in per), total) for i in (3, 4, 5))
    samples = []
    for h, r in zip(hyp, ref):
        hb = {o for o in names if _bin(h[o], unc)}
        rb = {o for o in names if _bin(r[o], unc)}
        p, rc = _div(len(hb & rb), len(hb)), _div(len(hb & rb), len(rb))
        samples.append((p, rc, _div(2 * len(hb & rb), len(hb) + len(rb))))
    out["samples"] = tuple(sum(s[i] for s in samples) / len(samples) for i in range(3))
    out["accuracy"] = sum(all(_bin(h[o], unc) == _bin(r[o], unc) for o in names) for h, r in zip(hyp, ref)) / len(hyp)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_variants_equal_the_arithmetic_written_out(seed):
    rng = random.Random(seed)
    n = rng.choice([1, 2, 5, 30, 120])
    hyp, ref = _random_labels(rng, n, rng.choice([0.3, 0.8, 0.97])), _random_labels(rng, n, rng.choice([0.3, 0.9]))
    block = ce_variants.ce_block(hyp, ref)
    for unc in ("unc_pos", "unc_neg"):
        for subset, names in (("14", OBSERVATIONS), ("5", FIVE)):
            want = _by_hand(hyp, ref, names, unc)
            for avg in ("micro", "macro", "weighted", "samples"):
                got = block[f"{avg}_{subset}_{unc}"]
                for i, metric in enumerate(("precision", "recall", "f1")):
                    assert abs(got[metric] - want[avg][i]) <= 1e-12, (seed, unc, subset, avg, metric)
            assert abs(block[f"accuracy_{subset}_{unc}"] - want["accuracy"]) <= 1e-12


def test_auroc_of_binary_predictions_and_empty_blocks():
    hyp = [{"Edema": 1}, {"Edema": 1}, {"Edema": None}, {"Edema": 0}]
    ref = [{"Edema": 1}, {"Edema": 0}, {"Edema": 1}, {"Edema": 0}]
    assert ce_variants.ce_block(hyp, ref)["auroc_14_unc_pos"] is None  # 13 columns have no positive reference
    full = [{o: (1 if i % 2 else 0) for o in OBSERVATIONS} for i in range(4)]
    flip = [{o: (0 if i in (0, 3) else 1) for o in OBSERVATIONS} for i in range(4)]
    # TPR 1/2, FPR 1/2 for every observation -> (1 + 1/2 - 1/2) / 2
    assert ce_variants.ce_block(flip, full)["auroc_14_unc_neg"] == 0.5
    assert ce_variants.ce_block(full, full)["auroc_14_unc_pos"] == 1.0
    empty = ce_variants.ce_block([], [])
    assert set(empty) == set(clinical.ce_keys()) | set(ce_variants.variant_keys())
    assert all(v is None for v in empty.values())


def test_per_observation_table_on_the_terminal():
    from rich.console import Console

    from rg4cli.metrics.ce_tables import per_observation_table

    hyp = [{"Edema": 1, "Cardiomegaly": -1}, {"Edema": 0}]
    ref = [{"Edema": 1, "Cardiomegaly": 1}, {"Edema": 1}]
    summary = {"per_observation": {u: clinical.per_observation(hyp, ref, u) for u in ("unc_pos", "unc_neg")}}
    console = Console(width=140, record=True, file=None)
    with console.capture() as cap:
        console.print(per_observation_table(summary))
    text = cap.get()
    lines = {
        line.split()[0]: line.split()
        for line in text.splitlines()
        if line.strip().startswith(("Edema", "Cardiomegaly"))
    }
    assert lines["Edema"][1:] == ["1.000", "0.500", "0.667", "2", "1.000", "0.500", "0.667", "2"]
    assert lines["Cardiomegaly"][1:5] == ["1.000", "1.000", "1.000", "1"] and lines["Cardiomegaly"][5:] == [
        "0.000"
    ] * 3 + ["1"]
    assert per_observation_table({}) is None
