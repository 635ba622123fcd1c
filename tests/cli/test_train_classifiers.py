"""CLI tests of train classifiers (library tests: tests/lib/test_training_classifiers.py)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rg4cli.cli.app import app

from ..lib.corpora import make_records
from ..lib.jsonl import write_jsonl


def test_cli_trains_and_reports_bad_records(classifier_data, tmp_path):
    train_path, _ = classifier_data
    runner = CliRunner()
    out = tmp_path / "cli"
    args = [
        "train",
        "--task",
        "discbert",
        "--max-steps",
        "3",
        "--batch-size",
        "8",
        "--grad-accum",
        "2",
        "--checkpoint-every",
        "2",
        "-q",
        "-o",
        str(out),
        str(train_path),
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 3 and summary["task"] == "discbert"
    # a run's directory is not silently overwritten by a new run
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "pass --resume" in res.output

    bad = write_jsonl(tmp_path / "bad.jsonl", [make_records(1)[0], {"id": "x", "findings": "Clear."}])
    res = runner.invoke(app, ["train", "--task", "labeler", "-o", str(tmp_path / "bad"), str(bad)])
    assert res.exit_code == 2
    assert "bad.jsonl:2: labels: missing field" in res.output
    res = runner.invoke(
        app, ["train", "--task", "labeler", "--settings", "sn", "-o", str(tmp_path / "b2"), str(train_path)]
    )
    assert res.exit_code == 2 and "--settings applies to --task generator only" in res.output
