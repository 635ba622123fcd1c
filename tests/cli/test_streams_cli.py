"""CLI tests of streams cli (library tests: tests/lib/test_records_streams.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rg4cli.errors import InputError
from rg4cli.records.streams import RecordReader, RecordWriter


def test_closed_pipe_ends_quietly(tmp_path):
    # A writer whose reader goes away (`| head`) must exit 0 without a traceback.
    code = (
        "import sys\n"
        "from rg4cli.cli.common import handle_errors\n"
        "from rg4cli.records.streams import RecordWriter\n"
        "@handle_errors\n"
        "def emit():\n"
        "    w = RecordWriter(None)\n"
        "    for i in range(200000):\n"
        "        w.write({'id': str(i), 'pad': 'x' * 100})\n"
        "import typer\n"
        "try:\n"
        "    emit()\n"
        "except typer.Exit as e:\n"
        "    sys.exit(e.exit_code)\n"
    )
    proc = subprocess.run(
        f'{sys.executable} -c "{code}" | head -n 2', shell=True, capture_output=True, text=True, executable="/bin/bash"
    )
    assert proc.stdout.count("\n") == 2
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_a_second_writer_of_one_file_is_refused(tmp_path):
    out = tmp_path / "out.jsonl"
    with RecordWriter(out) as first:
        first.write({"id": "a"})
        for append in (False, True):
            with pytest.raises(InputError, match="another process is writing this file"):
                RecordWriter(out, append=append)
        code = (
            "import sys\nfrom rg4cli.records.streams import RecordWriter\nfrom rg4cli.errors import InputError\n"
            f"try:\n    RecordWriter({str(out)!r})\nexcept InputError as e:\n    print(e)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert "another process is writing this file" in proc.stdout
        first.write({"id": "b"})
    assert [r["id"] for _, r in RecordReader(out)] == ["a", "b"]
    with RecordWriter(out, append=True) as again:  # free again once the first is closed
        again.write({"id": "c"})
    assert [r["id"] for _, r in RecordReader(out)] == ["a", "b", "c"]
