"""The one output rule (records.targets, records.outputs): links written through, devices and
descriptor links written directly and left as they were, nothing published by an interrupt,
gzip outputs resumed to the same bytes. Every device or link here is made in a tmp dir."""

from __future__ import annotations

import errno
import gzip
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rg4cli.errors import InputError, Rg4Error
from rg4cli.records.streams import RecordWriter, done_ids, write_json

RECORDS = [{"id": str(i), "text": f"record {i} " + "x" * i} for i in range(6)]


def _write_all(path, records=RECORDS, **kw):
    with RecordWriter(path, **kw) as w:
        for r in records:
            w.write(r)


def test_a_link_to_a_file_is_written_through_and_stays_a_link(tmp_path):
    target = tmp_path / "real" / "out.jsonl"
    target.parent.mkdir()
    target.write_text('{"id": "old"}\n')
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    with RecordWriter(link) as w:
        w.write({"id": "a"})
        assert (target.parent / "out.jsonl.partial").exists()  # beside the real file
        assert not (tmp_path / "link.jsonl.partial").exists()
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == '{"id": "a"}\n'
    write_json(link, {"a": 1})
    assert link.is_symlink() and target.read_text().startswith("{")


def test_a_dangling_link_creates_its_target(tmp_path):
    link = tmp_path / "link.jsonl"
    link.symlink_to(tmp_path / "new.jsonl")
    _write_all(link, RECORDS[:1])
    assert link.is_symlink() and (tmp_path / "new.jsonl").read_text() == '{"id": "0", "text": "record 0 "}\n'


def _drain(source, into: list) -> threading.Thread:
    """Read `source` (a descriptor, or a FIFO path opened in the thread) to its end."""

    def run():
        with open(source, "rb") as fh:
            into.append(fh.read())

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_a_fifo_is_written_directly_and_stays_a_fifo(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list = []
    t = _drain(str(fifo), got)  # opening blocks until the writer opens it: no race
    link = tmp_path / "to-fifo"
    link.symlink_to(fifo)
    _write_all(link, RECORDS[:2])
    t.join(10)
    assert got and got[0].count(b"\n") == 2
    assert fifo.is_fifo() and link.is_symlink() and not list(tmp_path.glob("*.partial"))
    with pytest.raises(InputError, match="--resume needs -o to be a regular file"):
        RecordWriter(fifo, append=True)


def test_a_link_to_a_descriptor_of_a_pipe_is_written_into_the_pipe(tmp_path):
    r, w = os.pipe()
    got: list = []
    t = _drain(r, got)
    link = tmp_path / "stdout-like"
    link.symlink_to(f"/proc/self/fd/{w}")
    try:
        _write_all(link, RECORDS[:3])
        write_json(link, {"done": True})
    finally:
        os.close(w)
    t.join(10)
    assert got[0].count(b"\n") >= 4 and b'"done": true' in got[0]
    assert link.is_symlink() and os.readlink(link) == f"/proc/self/fd/{w}"
    assert not list(tmp_path.glob("*.partial"))


def test_stdin_as_output_is_refused_and_left_as_it_was(tmp_path):
    data = tmp_path / "in.jsonl"
    data.write_text('{"id": "a", "report": "Heart size is normal."}\n')
    link = tmp_path / "stdin-like"
    link.symlink_to("/proc/self/fd/0")
    with open(data, "rb") as stdin:
        proc = subprocess.run(
            [sys.executable, "-m", "rg4cli", "label", "-", "-o", str(link)],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
    assert proc.returncode == 2, proc.stderr
    assert "standard input" in proc.stderr and "Traceback" not in proc.stderr
    assert data.read_text().startswith('{"id": "a"') and link.is_symlink()


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError, InputError])
def test_an_exception_never_publishes_and_keeps_the_partial_for_resume(tmp_path, error):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "old"}\n')
    with pytest.raises(error):
        with RecordWriter(out) as w:
            w.write(RECORDS[0])
            raise error("stop") if error is not KeyboardInterrupt else error()
    assert out.read_text() == '{"id": "old"}\n'
    assert (tmp_path / "out.jsonl.partial").read_text().count("\n") == 1
    assert done_ids(out) == {"0"}


def test_without_resume_the_partial_goes(tmp_path):
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        with RecordWriter(out, resumable=False) as w:
            w.write(RECORDS[0])
            raise KeyboardInterrupt
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_full_disk_is_one_line_and_removes_a_partial_no_resume_can_use(tmp_path):
    out = tmp_path / "out.jsonl"
    writer = RecordWriter(out, resumable=False)
    writer.write(RECORDS[0])
    real = writer._fh

    class Full:
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

        def close(self):
            real.close()

    writer._fh = Full()
    with pytest.raises(Rg4Error, match=r"out.jsonl: cannot write: No space left on device$"):
        with writer:
            writer.write(RECORDS[1])
    assert not list(tmp_path.iterdir())


def _cut_partial(tmp_path, name, n_complete, cut_chars):
    """What kill -9 leaves: FILE.partial with n complete lines and part of the next."""
    lines = [__import__("json").dumps(r, ensure_ascii=False) + "\n" for r in RECORDS]
    text = "".join(lines[:n_complete]) + lines[n_complete][:cut_chars]
    (tmp_path / (name + ".partial")).write_text(text)


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
@pytest.mark.parametrize("n_complete, cut", [(0, 3), (2, 0), (3, 7), (5, 1)])
def test_resume_after_a_kill_gives_the_bytes_of_an_uninterrupted_run(tmp_path, suffix, n_complete, cut):
    whole = tmp_path / ("whole" + suffix)
    _write_all(whole)
    out = tmp_path / ("out" + suffix)
    _cut_partial(tmp_path, out.name, n_complete, cut)
    with RecordWriter(out, append=True) as w:
        for r in RECORDS:
            if r["id"] not in w.resumed_ids:
                w.write(r)
    assert out.read_bytes() == whole.read_bytes()
    assert not list(tmp_path.glob("*.partial"))


def test_resume_of_a_published_gzip_output_and_of_an_old_gzip_partial(tmp_path):
    whole = tmp_path / "whole.jsonl.gz"
    _write_all(whole)
    out = tmp_path / "out.jsonl.gz"
    _write_all(out, RECORDS[:2])
    old = gzip.compress("".join(__import__("json").dumps(r) + "\n" for r in RECORDS[:4]).encode())
    for setup in ("published", "old-partial"):
        if setup == "old-partial":  # an older rg4 wrote a gzip .partial; kill -9 cut it
            (tmp_path / "out.jsonl.gz.partial").write_bytes(old[: len(old) - 9])
        with RecordWriter(out, append=True) as w:
            for r in RECORDS:
                if r["id"] not in w.resumed_ids:
                    w.write(r)
        assert out.read_bytes() == whole.read_bytes(), setup
