"""`rg4 score` uses a record's labels / hallucination only when computed from the text it scores."""

from __future__ import annotations

import json

from rg4cli.labelers.backends import make_labeler
from rg4cli.metrics import ScoreSettings, score_files
from rg4cli.records.provenance import bind
from rg4cli.records.study import text_of

from ..conftest import REPORT_CORPUS
from .jsonl import jsonl_arg

GENERATED = [
    "findings: The heart is normal in size. impression: No acute process.",
    "findings: Small left pleural effusion. impression: Effusion.",
    "findings: The lungs are clear. impression: Normal chest.",
    "findings: Mild cardiomegaly. Possible pneumonia in the right lower lobe. impression: Pneumonia.",
]


def _refs():
    out = []
    for i, t in enumerate(REPORT_CORPUS * 3):
        findings, impression = t.removeprefix("findings: ").split(" impression: ")
        out.append({"id": f"s{i}", "findings": findings, "impression": impression, "setting": "sn"})
    return out


def _label(records):
    """What `rg4 label` does: labels bound to the text they were computed from."""
    labeler = make_labeler(backend="rules")
    out = []
    for rec in records:
        rec = json.loads(json.dumps(rec))
        text = text_of(rec, "auto")
        bind(rec, "labels", labeler.label([text])[0], text_field="findings+impression", text=text)
        out.append(rec)
    return out


def _generate(records):
    """A generator that copies the study record and writes a new report (annotations kept, as the bug was)."""
    return [dict(json.loads(json.dumps(rec)), report=GENERATED[i % 4]) for i, rec in enumerate(records)]


def _comparable(summary):
    return {k: summary[k] for k in ("n", "overall", "by_setting", "per_observation", "empty_hypotheses")}


def test_label_then_generate_scores_like_generate_alone(tmp_path):
    refs = _refs()
    ref = jsonl_arg(tmp_path / "t.jsonl", refs)
    plain = score_files(jsonl_arg(tmp_path / "g.jsonl", _generate(refs)), ref, ScoreSettings(meteor=False)).summary
    labeled = score_files(
        jsonl_arg(tmp_path / "lg.jsonl", _generate(_label(refs))), ref, ScoreSettings(meteor=False)
    ).summary
    assert _comparable(labeled) == _comparable(plain)
    assert labeled["config"]["labels"]["hyp"] == {"from_field": 0, "labeled": 12, "stale": 12}
    # CE differs from a perfect score: the stale reference labels did not reach the metric
    assert plain["overall"]["ce"]["micro_14_unc_pos"]["f1"] < 0.9
    # labels bound to the scored text are used (the reference side, labeled by `rg4 label`)
    with_ref_labels = score_files(
        jsonl_arg(tmp_path / "g2.jsonl", _generate(refs)),
        jsonl_arg(tmp_path / "lt.jsonl", _label(refs)),
        ScoreSettings(meteor=False),
    ).summary
    assert with_ref_labels["config"]["labels"]["ref"] == {"from_field": 12, "labeled": 0, "stale": 0}
    assert _comparable(with_ref_labels) == _comparable(plain)


def test_bound_labels_are_used_even_when_wrong(tmp_path):
    """A label field computed from the scored text is trusted (it is the user's labeler's output)."""
    refs = _refs()
    hyps = _generate(refs)
    for rec in hyps:
        bind(rec, "labels", {"Pneumothorax": 1}, text_field="report", text=rec["report"])
    s = score_files(
        jsonl_arg(tmp_path / "h.jsonl", hyps), jsonl_arg(tmp_path / "t.jsonl", refs), ScoreSettings(meteor=False)
    ).summary
    assert s["config"]["labels"]["hyp"] == {"from_field": 12, "labeled": 0, "stale": 0}
    assert s["per_observation"]["unc_pos"]["Pneumothorax"]["predicted"] == 12


def test_unbound_labels_are_used_with_one_warning(tmp_path):
    refs = _refs()
    hyps = [dict(r, report=GENERATED[0], labels={"Edema": 1}) for r in refs]  # an older file: no provenance
    logs: list[str] = []
    s = score_files(
        jsonl_arg(tmp_path / "h.jsonl", hyps),
        jsonl_arg(tmp_path / "t.jsonl", refs),
        ScoreSettings(meteor=False),
        log=logs.append,
    ).summary
    assert s["config"]["labels"]["hyp"]["from_field"] == 12
    assert sum("`labels` has no provenance" in line for line in logs) == 1


def test_stale_hallucination_is_not_used(tmp_path):
    refs = _refs()
    hyps = _generate(refs)
    for i, rec in enumerate(hyps):
        # computed on the reference text, then the report was replaced
        bind(
            rec,
            "hallucination",
            {"input_agnostic": True, "pc": True},
            text_field="findings+impression",
            text=text_of(refs[i], "auto"),
        )
    hyps[0]["hallucination"] = {"input_agnostic": False}
    bind(hyps[0], "hallucination", {"input_agnostic": False}, text_field="report", text=hyps[0]["report"])
    logs: list[str] = []
    s = score_files(
        jsonl_arg(tmp_path / "h.jsonl", hyps),
        jsonl_arg(tmp_path / "t.jsonl", refs),
        ScoreSettings(meteor=False),
        log=logs.append,
    ).summary
    assert s["skipped"]["hallucination_stale"] == 11
    assert s["overall"]["hall"]["n"] == 1 and s["overall"]["hall"]["rate"] == 0
    assert any("computed from another text" in line for line in logs)


def test_relabel_ignores_fields(tmp_path):
    refs = _refs()
    s = score_files(
        jsonl_arg(tmp_path / "h.jsonl", _label(refs)),
        jsonl_arg(tmp_path / "t.jsonl", _label(refs)),
        ScoreSettings(meteor=False, relabel=True),
    ).summary
    assert s["config"]["labels"]["hyp"] == {"from_field": 0, "labeled": 12, "stale": 0}
