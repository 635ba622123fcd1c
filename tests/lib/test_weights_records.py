"""`rg4cli.weights.weigh_records`: the whole `rg4 weights` stage in one call; labels of
another text never steer the weights."""

from __future__ import annotations

from rg4cli.records.provenance import bind, text_digest
from rg4cli.weights import WeighSettings, WeightingOptions, weigh_records

from .jsonl import read_jsonl, write_jsonl

TEXT = "Moderate right pleural effusion. The heart size is normal."


def _weights(tmp_path, record, name="w"):
    src = write_jsonl(tmp_path / f"{name}.in.jsonl", [record])
    out = tmp_path / f"{name}.out.jsonl"
    logged = []
    summary = weigh_records(
        src, out, WeighSettings(backend="rules", text="report", weighting=WeightingOptions(lam=2.0)), log=logged.append
    )
    rec = read_jsonl(out)[0]
    return [w["weight"] for w in rec["sentence_weights"]], rec, summary, logged


def test_labels_of_this_text_steer_the_weights_labels_of_another_do_not(tmp_path):
    only_heart = {"Cardiomegaly": 1}
    bound_here = {"id": "a", "report": TEXT}
    bind(bound_here, "labels", only_heart, text_field="report", text=TEXT)
    weights, rec, summary, _ = _weights(tmp_path, bound_here, "here")
    assert weights == [1.0, 1.0]  # the record's labels name no effusion
    assert summary.extra["stale_labels"] == 0
    assert rec["provenance"]["sentence_weights"] == {"text": "report", "sha256": text_digest(TEXT)}

    bound_elsewhere = {"id": "a", "report": TEXT}
    bind(bound_elsewhere, "labels", only_heart, text_field="report", text="Cardiomegaly.")
    weights, _, summary, _ = _weights(tmp_path, bound_elsewhere, "elsewhere")
    assert weights == [2.0, 1.0]  # stale labels ignored: the rules labeler's own effusion counts
    assert summary.extra["stale_labels"] == 1


def test_labels_without_provenance_are_used_with_one_warning(tmp_path):
    weights, _, _, logged = _weights(tmp_path, {"id": 1, "report": TEXT, "labels": {"Cardiomegaly": 1}})
    assert weights == [1.0, 1.0]
    assert sum("no provenance" in line for line in logged) == 1
