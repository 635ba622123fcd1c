"""The JSONL contract shared by every command."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys

import pytest

from rg4cli.errors import InputError
from rg4cli.records.streams import RecordReader, RecordWriter, done_ids, index_by_id, join_by_id


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_reads_plain_and_gzip_and_passes_fields_through(tmp_path):
    recs = [{"id": "a", "x": 1, "nested": {"k": [1, 2]}}, {"id": "b", "extra": None}]
    plain = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in recs])
    gz = tmp_path / "in.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write(plain.read_text())
    assert [r for _, r in RecordReader(plain)] == recs
    assert [r for _, r in RecordReader(gz)] == recs
    out = tmp_path / "out.jsonl.gz"
    with RecordWriter(out) as w:
        for r in recs:
            w.write(r)
    assert [r for _, r in RecordReader(out)] == recs


def test_bad_json_names_file_line_and_truncation(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"id": "a"}\n\n{"id": "b", "x": \n{"id": "c"}\n{"id": "d", "tex', encoding="utf-8")
    with pytest.raises(InputError) as err:
        list(RecordReader(path))
    assert str(err.value).startswith(f"{path}:3: bad JSON")
    reader = RecordReader(path, on_error="skip")
    assert [r["id"] for _, r in reader] == ["a", "c"]
    assert reader.skipped == 2 and "truncated" in reader.skip_examples[1]


def test_missing_and_mistyped_fields(tmp_path):
    path = _write(tmp_path / "in.jsonl", ['{"id": 3.5}', '{"text": "x"}', '[1, 2]', '{"id": true}'])
    reader = RecordReader(path, on_error="skip")
    assert list(reader) == []
    assert reader.skipped == 4
    assert reader.skip_examples[0] == f"{path}:1: id: expected str, got float 3.5"
    assert reader.skip_examples[1] == f"{path}:2: id: missing field"
    assert "expected a JSON object" in reader.skip_examples[2]


def test_resume_drops_cut_short_last_line(tmp_path):
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "rep', encoding="utf-8")
    assert done_ids(out) == {"a", "b"}
    with RecordWriter(out, append=True) as w:
        w.write({"id": "c"})
    assert [r["id"] for _, r in RecordReader(out)] == ["a", "b", "c"]


def test_join_reports_missing_and_duplicates(tmp_path):
    ref = index_by_id(_write(tmp_path / "ref.jsonl", ['{"id": "a"}', '{"id": "b"}', '{"id": "c"}']))
    hyp = [(1, {"id": "b"}), (2, {"id": "a"}), (3, {"id": "z"})]
    with pytest.raises(InputError) as err:
        join_by_id(hyp, ref)
    assert "1 id(s) of <stdin> not in" in str(err.value) and "'z'" in str(err.value) and "'c'" in str(err.value)
    joined = join_by_id(hyp, ref, on_missing="skip")
    assert [h["id"] for h, _ in joined.pairs] == ["b", "a"]
    with pytest.raises(InputError, match="duplicate"):
        join_by_id([(1, {"id": "a"}), (2, {"id": "a"})], ref, on_missing="skip")
    with pytest.raises(InputError, match="duplicate"):
        index_by_id(_write(tmp_path / "dup.jsonl", ['{"id": "a"}', '{"id": "a"}']))


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
    proc = subprocess.run(f"{sys.executable} -c \"{code}\" | head -n 2", shell=True, capture_output=True, text=True,
                          executable="/bin/bash")
    assert proc.stdout.count("\n") == 2
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


def test_map_in_blocks_writes_what_came_before_a_bad_line(tmp_path):
    from rg4cli.records.streams import map_in_blocks

    path = _write(tmp_path / "in.jsonl", ['{"id": "a"}', '{"id": "b"}', '{"id": "c", "bad": true}', '{"id": "d"}'])
    out = tmp_path / "out.jsonl"
    reader = RecordReader(path)
    blocks = []

    def prepare(lineno, record):
        if record.get("bad"):
            reader.reject(lineno, "bad", "not allowed")
            return None
        return record["id"].upper()

    def process(block):
        blocks.append([item for _, item in block])
        return [{**record, "up": item} for record, item in block]

    with RecordWriter(out) as writer, pytest.raises(InputError, match=":3: bad: not allowed"):
        map_in_blocks(reader, writer, prepare, process, block_size=10)
    assert [r for _, r in RecordReader(out)] == [{"id": "a", "up": "A"}, {"id": "b", "up": "B"}]
    assert blocks == [["A", "B"]]
