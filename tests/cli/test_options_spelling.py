"""One spelling per option across commands; the old spellings still work, hidden from --help."""

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
    "command,new,old,backend",
    [
        ("label", "--labeler-model", "--checkpoint", "chexbert"),
        ("weights", "--labeler-model", "--labeler", "ig"),
        ("hallucination", "--judge-model", "--model", "discbert"),
    ],
)
def test_new_and_old_spelling_mean_the_same(tmp_path, src, command, new, old, backend):
    missing = str(tmp_path / "nowhere")
    by_new = _run([command, str(src), "--backend", backend, new, missing])
    by_old = _run([command, str(src), "--backend", backend, old, missing])
    assert by_new.exit_code == by_old.exit_code != 0
    assert by_new.stderr.splitlines()[-1] == by_old.stderr.splitlines()[-1] and missing in by_new.stderr
    assert f"{old} is now spelled {new}" in by_old.stderr and "now spelled" not in by_new.stderr
    both = _run([command, str(src), "--backend", backend, new, missing, old, missing + "2"])
    assert both.exit_code == 2 and f"{old} is the old spelling of {new}" in both.stderr


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
