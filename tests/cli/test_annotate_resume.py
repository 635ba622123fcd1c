"""--resume for the annotating commands: a killed run's records are kept and passed over."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rg4cli.cli.app import app

from ..conftest import REPORT_CORPUS


def _records(n: int) -> list[dict]:
    return [{"id": f"r{i}", "frontal": "f.png", "report": REPORT_CORPUS[i % len(REPORT_CORPUS)]} for i in range(n)]


@pytest.mark.parametrize("command", ["label", "hallucination", "weights"])
def test_resume_keeps_what_is_there_and_does_the_rest(tmp_path, command):
    records = _records(6)
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    full = tmp_path / "full.jsonl"
    assert CliRunner().invoke(app, [command, str(src), "-o", str(full)]).exit_code == 0
    done = full.read_text().splitlines()
    # A killed run left the first two records and half of the third in FILE.partial.
    out = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.partial").write_text("\n".join(done[:2]) + "\n" + done[2][: len(done[2]) // 2])
    result = CliRunner().invoke(app, [command, str(src), "-o", str(out), "--resume"])
    assert result.exit_code == 0, result.output
    assert out.read_text().splitlines() == done
    assert not (tmp_path / "out.jsonl.partial").exists()


def test_resume_needs_an_output_file(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(_records(1)[0]) + "\n")
    result = CliRunner().invoke(app, ["label", str(src), "--resume"])
    assert result.exit_code == 2
    assert "--resume" in result.output and "Traceback" not in result.output
