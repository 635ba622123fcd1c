"""`rg4cli.labelers.label_records`: the whole `rg4 label` stage in one call."""

from __future__ import annotations

import pytest

from rg4cli.errors import InputError
from rg4cli.labelers import LabelSettings, label_records
from rg4cli.records.provenance import annotation, text_digest
from rg4cli.text.sections import join_sections

from .jsonl import read_jsonl, write_jsonl


def test_label_records_binds_labels_to_the_text_read(tmp_path):
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": 1, "findings": "Mild cardiomegaly.", "impression": "No effusion."},
            {"id": "b", "report": "findings: Lungs are clear."},
            {"id": "c"},  # no text: skipped and counted
        ],
    )
    out = tmp_path / "out.jsonl"
    summary = label_records(src, out, LabelSettings(on_error="skip"))
    assert (summary.written, summary.skipped, summary.backend) == (2, 1, "rules")
    assert "report: no text to label" in summary.skip_line
    a, b = read_jsonl(out)
    assert a["id"] == "1"  # an integer id is its decimal string
    text_a = join_sections("Mild cardiomegaly.", "No effusion.")
    assert a["provenance"]["labels"] == {"text": "findings+impression", "sha256": text_digest(text_a)}
    assert annotation(a, "labels", text_a)["Cardiomegaly"] == 1
    assert annotation(a, "labels", "findings: Large effusion.") is None  # never another text's labels
    assert b["provenance"]["labels"]["text"] == "report"


def test_label_records_into_and_explain_and_bad_settings(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "findings": "No pneumothorax."}])
    out = tmp_path / "out.jsonl"
    label_records(src, out, LabelSettings(text="findings", into="ref_labels", explain=True))
    rec = read_jsonl(out)[0]
    assert rec["ref_labels"]["Pneumothorax"] == 0 and "ref_labels" in rec["provenance"]
    assert rec["ref_labels_explain"]["mentions"][0]["observation"] == "Pneumothorax"
    with pytest.raises(InputError, match="--into"):
        label_records(src, out, LabelSettings(into="a b"))


def test_relabeling_without_explain_drops_the_old_explanation(tmp_path):
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [{"id": "a", "report": "No effusion.", "labels_explain": {"mentions": ["of an older text"]}}],
    )
    out = tmp_path / "out.jsonl"
    label_records(src, out, LabelSettings())
    assert "labels_explain" not in read_jsonl(out)[0]
