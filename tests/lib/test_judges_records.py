"""`rg4cli.judges.judge_records`: the whole `rg4 hallucination` stage in one call; its summary
never counts a verdict on another text."""

from __future__ import annotations

import pytest

from rg4cli.errors import InputError
from rg4cli.judges import JudgeSettings, judge_records, summarize

from .jsonl import read_jsonl, write_jsonl


def test_judge_records_writes_bound_verdicts_and_the_summary(tmp_path):
    src = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"id": 1, "report": "Compared to the prior study, unchanged cardiomegaly."},
            {"id": "b", "report": "No acute disease.", "prior_report": "Clear lungs."},
        ],
    )
    out = tmp_path / "out.jsonl"
    logged = []
    done = judge_records(src, out, JudgeSettings(explain=True), log=logged.append)
    assert done.written == 2 and done.extra["summary"]["reports"] == 2
    assert done.extra["summary"]["input_agnostic"] == 1  # pc without a prior report
    assert any(line.startswith("1 [sn] INPUT-AGNOSTIC: pc") for line in logged)
    a, b = read_jsonl(out)
    assert a["hallucination"]["pc"] and a["provenance"]["hallucination"]["text"] == "report"
    assert summarize([a, b])["input_agnostic"] == 1


def test_summary_refuses_a_verdict_on_another_text(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": "a", "report": "Compared to the prior, unchanged."}])
    out = tmp_path / "out.jsonl"
    judge_records(src, out, JudgeSettings())
    rec = read_jsonl(out)[0]
    rec["report"] = "No acute disease."  # the text changed after judging
    with pytest.raises(InputError, match="hallucination: was judged on another text"):
        summarize([rec])
    # a file without provenance (older rg4): counted, and the caller is told once
    del rec["provenance"]
    seen = []
    assert summarize([rec, rec], on_unbound=seen.append)["reports"] == 2 and seen == ["hallucination"] * 2


def test_judge_settings_are_checked():
    with pytest.raises(InputError, match="--judge-model is for --backend discbert"):
        JudgeSettings(judge_model="m/").check()
