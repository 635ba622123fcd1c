"""The `rg4` entry point: commands, version, help, man pages."""

from __future__ import annotations

import shutil
import subprocess
import sys

from typer.testing import CliRunner

from rg4cli import __version__
from rg4cli.cli.app import COMMANDS, app
from rg4cli.cli.manpage import render_all

from ..conftest import REPO

EXPECTED = {"build-data", "label", "weights", "train", "generate", "score", "hallucination", "synth", "report"}


def test_help_lists_all_commands_and_version():
    runner = CliRunner()
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in EXPECTED:
        assert name in result.output
    assert set(COMMANDS) == EXPECTED
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_every_command_help_says_what_it_reads_and_shows_a_pipeline():
    runner = CliRunner()
    for name in EXPECTED:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "rg4 " in result.output.split("Example")[-1], f"{name} --help shows no example"


def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "rg4cli", "--version"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.strip() == f"rg4 {__version__}"


def test_man_pages_are_current():
    committed = {p.name: p.read_text(encoding="utf-8") for p in (REPO / "man").glob("rg4*.1")}
    fresh = render_all()
    stale = sorted(name for name in set(fresh) | set(committed) if fresh.get(name) != committed.get(name))
    assert not stale, f"man pages out of date: {stale}; run `make man`"


def test_man_page_renders():
    if shutil.which("man") is None and shutil.which("groff") is None:
        import pytest

        pytest.skip("neither man nor groff installed")
    tool = ["man", "-l"] if shutil.which("man") else ["groff", "-man", "-Tutf8"]
    proc = subprocess.run(
        tool + [str(REPO / "man" / "rg4.1")],
        capture_output=True,
        text=True,
        env={"MANPAGER": "cat", "PAGER": "cat", "PATH": "/usr/bin:/bin", "MANWIDTH": "80"},
    )
    assert proc.returncode == 0 and "rg4" in proc.stdout


def test_cli_start_up_does_not_load_torch():
    # Every `rg4` call imports the whole CLI; torch/transformers (seconds of start-up) load only
    # in the commands that run a model.
    code = "import sys, rg4cli.cli.app; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_console_entry_starts_meteor_only_for_a_scoring_run():
    from rg4cli.cli.launch import _will_score_meteor

    assert _will_score_meteor(["score", "gen.jsonl", "--ref", "test.jsonl"])
    assert not _will_score_meteor(["score", "gen.jsonl", "--ref", "test.jsonl", "--no-meteor"])
    assert not _will_score_meteor(["score", "--help"])
    assert not _will_score_meteor(["label", "test.jsonl"])
    assert not _will_score_meteor([])


def test_a_failing_score_does_not_wait_for_the_jvm_it_started(tmp_path):
    # The entry starts METEOR's JVM before reading anything; an input error must still end at once
    # (the JVM is killed, not waited for through its start-up), with the usual one line and status 2.
    ref = tmp_path / "ref.jsonl"
    ref.write_text('{"id": "a", "findings": "No effusion."}\n', encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "rg4cli", "score", str(tmp_path / "missing.jsonl"), "--ref", str(ref)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "missing.jsonl" in proc.stderr and "Traceback" not in proc.stderr
