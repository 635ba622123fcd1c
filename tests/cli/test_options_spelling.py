"""One spelling per option across commands; the old spellings of 0.1.0 are refused."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rg4cli.cli.app import app


def _run(args):
    try:
        return CliRunner(mix_stderr=False).invoke(app, args)
    except TypeError:  # click >= 8.2 keeps stderr apart already
        return CliRunner().invoke(app, args)


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"id": "a", "report": "No effusion."}) + "\n")
    return path


@pytest.mark.parametrize(
    "command,old,backend",
    [
        ("label", "--checkpoint", "chexbert"),
        ("label", "--bert", "chexbert"),
        ("weights", "--labeler", "ig"),
        ("weights", "--bert", "ig"),
        ("hallucination", "--model", "discbert"),
        ("hallucination", "--bert", "discbert"),
    ],
)
def test_old_spellings_are_usage_errors(tmp_path, src, command, old, backend):
    """The spellings of the unreleased 0.1.0 are gone: one usage line naming the option, exit 2."""
    result = _run([command, str(src), "--backend", backend, old, str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert old in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "command,shown,hidden",
    [
        ("label", ["--labeler-model", "--labeler-bert"], ["--checkpoint", "--bert"]),
        ("weights", ["--labeler-model", "--labeler-bert"], ["--labeler", "--bert"]),
        ("hallucination", ["--judge-model", "--judge-bert"], ["--model", "--bert"]),
    ],
)
def test_help_shows_one_spelling(command, shown, hidden):
    text = _run([command, "--help"]).stdout
    options = [line.split()[0] for line in text.splitlines() if line.lstrip().startswith("--")]
    assert all(name in options for name in shown)
    assert not any(name in options for name in hidden), options
