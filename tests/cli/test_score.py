"""CLI tests of score (library tests: tests/lib/test_metrics.py)."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from rg4cli.cli.app import app
from rg4cli.metrics import score as scoring

from ..lib.jsonl import jsonl_arg
from ..lib.test_metrics import (
    needs_java,
)


def test_cli_stdout_is_one_json_object(scored_files):
    per = scored_files["dir"] / "per.jsonl"
    result = CliRunner().invoke(
        app, ["score", scored_files["good"], "--ref", scored_files["ref"], "--no-meteor", "--per-report", str(per)]
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["n"] == 24 and summary["config"]["tokenize"] == "r2gen"
    assert "overall" in result.stderr and "B4" in result.stderr
    rows = [json.loads(x) for x in per.read_text().splitlines()]
    assert len(rows) == 24 and set(rows[0]) == {"id", "setting", "input_agnostic", *scoring.PER_REPORT_KEYS}
    assert math.isclose(sum(r["rouge_l"] for r in rows) / 24, summary["overall"]["rouge_l"])


def test_cli_reads_stdin_and_writes_output_file(scored_files):
    out = scored_files["dir"] / "summary.json"
    result = CliRunner().invoke(
        app,
        ["score", "--ref", scored_files["ref"], "--no-meteor", "-q", "-o", str(out)],
        input=open(scored_files["good"]).read(),
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "" and json.loads(out.read_text())["n"] == 24


def test_cli_errors_exit_2(scored_files, tmp_path):
    recs = [json.loads(x) for x in open(scored_files["good"])][:10]
    path = jsonl_arg(tmp_path / "few.jsonl", recs)
    result = CliRunner().invoke(app, ["score", path, "--ref", scored_files["ref"], "--no-meteor"])
    assert result.exit_code == 2
    assert "14 id(s)" in result.stderr and "--on-missing skip" in result.stderr and result.stdout == ""
    result = CliRunner().invoke(
        app, ["score", path, "--ref", scored_files["ref"], "--no-meteor", "--on-missing", "skip", "-q"]
    )
    assert result.exit_code == 0 and json.loads(result.stdout)["n"] == 10
    result = CliRunner().invoke(
        app,
        [
            "score",
            path,
            "--ref",
            scored_files["ref"],
            "--on-missing",
            "skip",
            "--relabel",
            "--labeler",
            "chexbert",
            "--no-meteor",
        ],
    )
    assert result.exit_code == 2 and "--labeler-model" in result.stderr


def test_cli_help_lists_keys():
    result = CliRunner().invoke(app, ["score", "--help"])
    assert result.exit_code == 0
    for key in ("micro_14_unc_pos", "by_setting", "per_observation", "against", "p_value", "SPICE"):
        assert key in result.stdout


@needs_java
@pytest.mark.slow
def test_cli_with_meteor_on_real_reports(iu_dir, tmp_path):
    reports = [json.loads(x) for x in open(iu_dir / "reports.jsonl")]
    reports = [r for r in reports if r.get("findings") and r.get("impression")][:60]
    refs = [{"id": r["id"], "findings": r["findings"], "impression": r["impression"]} for r in reports]
    hyps = [
        {"id": r["id"], "findings": reports[(i + 1) % 60]["findings"], "impression": r["impression"]}
        for i, r in enumerate(reports)
    ]
    ref = jsonl_arg(tmp_path / "r.jsonl", refs)
    hyp = jsonl_arg(tmp_path / "h.jsonl", hyps)
    result = CliRunner().invoke(app, ["score", hyp, "--ref", ref, "-q"])
    assert result.exit_code == 0, result.stderr
    s = json.loads(result.stdout)
    assert 0 < s["overall"]["meteor"] < 1 and 0 < s["overall"]["bleu_4"] < 1
    assert s["config"]["labels"]["ref"]["labeled"] == 60
