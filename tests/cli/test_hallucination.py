"""CLI tests of hallucination (library tests: tests/lib/test_judges.py)."""

from __future__ import annotations

import json

import pytest

from rg4cli.cli.app import app

from ..lib.jsonl import write_jsonl
from ..lib.test_judges import (
    STUDIES,
    _runner,
)


def test_cli_writes_field_summary_and_explains(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", STUDIES)
    summary = tmp_path / "hall.json"
    res = _runner().invoke(app, ["hallucination", str(src), "--summary", str(summary), "--explain"])
    assert res.exit_code == 0, res.stderr
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["id"] for r in out] == ["s1", "s2", "s3"]
    assert out[2]["extra"] == {"keep": 1}
    assert out[0]["hallucination"]["unsupported"] == ["pc", "comm"]
    assert out[1]["hallucination"]["setting"] == "mw" and out[1]["hallucination"]["input_agnostic"] is False
    s = json.loads(summary.read_text())
    assert s["reports"] == 3 and s["input_agnostic"] == 1
    assert s["by_setting"]["sn"]["reports"] == 2 and s["by_setting"]["mw"]["rate"] == 0
    assert "s1 [sn] INPUT-AGNOSTIC: pc, comm" in res.stderr
    assert "'Unchanged'" in res.stderr and "[comm!]" in res.stderr
    assert "hall." in res.stderr


def test_cli_text_choice(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [STUDIES[0]])
    res = _runner().invoke(app, ["hallucination", str(src), "--text", "findings"])
    assert res.exit_code == 0, res.stderr
    h = json.loads(res.stdout)["hallucination"]
    assert h["pc"] and not h["comm"]


@pytest.mark.parametrize(
    "records,args,message",
    [
        (
            [
                '{"id": "a", "report": "x"',
            ],
            [],
            "in.jsonl:1: bad JSON",
        ),
        ([{"id": "a", "report": "ok", "lateral": 3}], [], "in.jsonl:1: lateral: expected a string"),
        ([{"id": "a", "frontal": "f.png"}], [], "in.jsonl:1: report: no text to judge"),
        ([{"report": "x"}], [], "in.jsonl:1: id: missing field"),
        ([{"id": "a", "report": "x"}], ["--backend", "magic"], "--backend must be one of"),
        ([{"id": "a", "report": "x"}], ["--judge-model", "m/"], "--judge-model is for --backend discbert"),
        ([{"id": "a", "report": "x"}], ["--text", "title"], "--text must be one of"),
        ([{"id": "a", "report": "x"}], ["--backend", "discbert", "--judge-model", "nowhere/"], "no such model"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path, records, args, message):
    src = write_jsonl(tmp_path / "in.jsonl", records)
    res = _runner().invoke(app, ["hallucination", str(src), *args])
    assert res.exit_code == 2
    assert message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_cli_skips_bad_records_when_asked(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [STUDIES[0], {"id": "bad", "frontal": "f"}, STUDIES[2]])
    res = _runner().invoke(app, ["hallucination", str(src), "--on-error", "skip"])
    assert res.exit_code == 0
    assert [json.loads(x)["id"] for x in res.stdout.splitlines()] == ["s1", "s3"]
    assert "skipped 1 record" in res.stderr
