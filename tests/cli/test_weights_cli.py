"""CLI tests of weights cli (library tests: tests/lib/test_weights.py)."""

from __future__ import annotations

import json

from rg4cli.cli.app import app
from rg4cli.text.sections import join_sections
from rg4cli.text.sentences import split_sentences

from ..conftest import REPORT_CORPUS
from ..lib.jsonl import write_jsonl
from ..lib.test_weights import (
    _runner,
)


def test_cli_ig_adds_sentence_weights_and_keeps_everything_else(tmp_path, labeler_dir):
    records = [
        {
            "id": "a",
            "findings": "Moderate right pleural effusion. The heart is enlarged.",
            "impression": "Effusion.",
            "labels": {"Pleural Effusion": 1, "Cardiomegaly": 1},
            "extra": [1, 2],
        },
        {"id": "b", "report": REPORT_CORPUS[0]},  # no labels: the labeler's own heads decide
        {"id": "c", "findings": "Lungs are clear.", "labels": {"Edema": 0}},
    ]
    src = write_jsonl(tmp_path / "in.jsonl", records)
    res = _runner().invoke(
        app,
        [
            "weights",
            str(src),
            "--labeler-model",
            str(labeler_dir),
            "--steps",
            "8",
            "--batch-size",
            "5",
            "-o",
            str(tmp_path / "out.jsonl"),
        ],
    )
    assert res.exit_code == 0, res.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in out] == ["a", "b", "c"]
    assert out[0]["extra"] == [1, 2] and out[0]["labels"] == records[0]["labels"]
    text_a = join_sections(records[0]["findings"], records[0]["impression"])
    assert [(w["start"], w["end"]) for w in out[0]["sentence_weights"]] == split_sentences(text_a)
    assert any(w["weight"] == 1.75 for w in out[0]["sentence_weights"])  # per-label max reaches 1 somewhere
    assert out[0]["weights_meta"]["backend"] == "ig" and out[0]["weights_meta"]["steps"] == 8
    assert out[0]["weights_meta"]["text"] == "findings+impression" and out[1]["weights_meta"]["text"] == "report"
    assert [(w["start"], w["end"]) for w in out[1]["sentence_weights"]] == split_sentences(REPORT_CORPUS[0])
    # nothing positive: weight 1 everywhere, no score
    assert [(w["weight"], w["score"]) for w in out[2]["sentence_weights"]] == [(1.0, None)]


def test_cli_ig_without_labeler_says_how_to_get_one(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "report": "No effusion."}])
    res = _runner().invoke(app, ["weights", str(src), "--backend", "ig"])
    assert res.exit_code == 2
    assert "--labeler" in res.stderr and "rg4 train --task labeler" in res.stderr


def test_cli_bad_records_name_line_and_field(tmp_path, labeler_dir):
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": "a", "report": "Small effusion."},
            {"id": "b", "report": "Edema.", "labels": {"Edema": "yes"}},
            {"id": "c"},
        ],
    )
    res = _runner().invoke(app, ["weights", str(src), "--backend", "rules"])
    assert res.exit_code == 2
    assert f"{src}:2: labels: Edema: expected 1, 0, -1 or null" in res.stderr
    assert json.loads(res.stdout.splitlines()[0])["id"] == "a"  # records before the bad one are written
    res = _runner().invoke(app, ["weights", str(src), "--backend", "rules", "--on-error", "skip"])
    assert res.exit_code == 0
    assert [json.loads(l)["id"] for l in res.stdout.splitlines()] == ["a"]
    assert "skipped 2 record(s)" in res.stderr
    res = _runner().invoke(app, ["weights", str(src), "--labeler-model", str(labeler_dir), "--steps", "0"])
    assert res.exit_code == 2 and "--steps" in res.stderr


def test_cli_rules_backend_on_stdin():
    text = "findings: Large left pleural effusion. No pneumothorax."
    res = _runner().invoke(
        app,
        ["weights", "--text", "findings+impression"],
        input=json.dumps({"id": "x", "findings": text[len("findings: ") :]}) + "\n",
    )
    assert res.exit_code == 0, res.stderr
    rec = json.loads(res.stdout)
    assert [w["weight"] for w in rec["sentence_weights"]] == [1.75, 1.0]
    assert rec["weights_meta"] == {"backend": "rules", "lam": 1.75, "text": "findings+impression"}
