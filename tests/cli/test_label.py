"""CLI tests of label (library tests: tests/lib/test_labelers.py)."""

from __future__ import annotations

import json

from ..conftest import REPORT_CORPUS
from ..lib.jsonl import write_jsonl
from ..lib.test_labelers import (
    _official_checkpoint,
    _run,
)


def test_cli_labels_records_in_order_and_keeps_fields(tmp_path):
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": "a", "findings": "Mild cardiomegaly.", "impression": "No effusion.", "extra": [1, 2]},
            {"id": "b", "report": "findings: Lungs are clear. impression: Normal chest."},
        ],
    )
    res = _run([str(src)])
    assert res.exit_code == 0, res.output
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["id"] for r in out] == ["a", "b"] and out[0]["extra"] == [1, 2]
    assert out[0]["labels"]["Cardiomegaly"] == 1 and out[0]["labels"]["Pleural Effusion"] == 0
    assert out[1]["labels"]["No Finding"] == 1


def test_cli_into_text_and_explain(tmp_path):
    src = write_jsonl(
        tmp_path / "in.jsonl", [{"id": "a", "findings": "No pneumothorax.", "impression": "Possible pneumonia."}]
    )
    res = _run([str(src), "--text", "findings", "--into", "ref_labels", "--explain", "-o", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "o.jsonl").read_text())
    assert "labels" not in rec
    assert rec["ref_labels"]["Pneumothorax"] == 0 and rec["ref_labels"]["Pneumonia"] is None  # findings only
    mention = rec["ref_labels_explain"]["mentions"][0]
    assert mention["observation"] == "Pneumothorax" and mention["cue"] == "no"
    assert "No pneumothorax."[mention["start"] : mention["end"]] == "pneumothorax"


def test_cli_bad_json_line_names_file_and_line(tmp_path):
    src = write_jsonl(tmp_path / "bad.jsonl", [{"id": "a", "findings": "No effusion."}, '{"id": "b", "findings": '])
    res = _run([str(src)])
    assert res.exit_code == 2
    assert f"{src}:2" in res.stderr and "bad JSON" in res.stderr
    res = _run([str(src), "--on-error", "skip"])
    assert res.exit_code == 0 and len(res.stdout.splitlines()) == 1 and "skipped 1" in res.stderr


def test_cli_record_without_text_is_an_error_naming_the_field(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "findings": "No effusion."}, {"id": "b", "impression": None}])
    res = _run([str(src), "--text", "findings"])
    assert res.exit_code == 2 and f"{src}:2: findings: no text" in res.stderr
    src = write_jsonl(tmp_path / "in2.jsonl", [{"id": "a", "findings": 3}])
    res = _run([str(src)])
    assert res.exit_code == 2 and "findings: expected a string" in res.stderr


def test_cli_option_errors(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "findings": "No effusion."}])
    assert _run([str(src), "--text", "summary"]).exit_code == 2
    assert _run([str(src), "--into", "a b"]).exit_code == 2
    res = _run([str(src), "--backend", "chexbert"])
    assert res.exit_code == 2 and "--labeler-model" in res.stderr
    res = _run([str(src), "--backend", "chexbert", "--labeler-model", str(tmp_path / "nope.pth"), "--explain"])
    assert res.exit_code == 2 and "--explain" in res.stderr


def test_cli_chexbert_backend(tmp_path):
    pth, bert_dir, _ = _official_checkpoint(tmp_path, {"Pneumothorax": 1}, no_finding=1)
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": str(i), "report": t} for i, t in enumerate(REPORT_CORPUS)])
    res = _run(
        [
            str(src),
            "--backend",
            "chexbert",
            "--labeler-model",
            str(pth),
            "--labeler-bert",
            str(bert_dir),
            "--batch-size",
            "3",
            "--device",
            "cpu",
        ]
    )
    assert res.exit_code == 0, res.stderr
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["id"] for r in out] == ["0", "1", "2", "3"]
    assert all(r["labels"]["Pneumothorax"] == 1 and r["labels"]["No Finding"] == 1 for r in out)
