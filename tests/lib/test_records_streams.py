"""The JSONL contract shared by every command."""

from __future__ import annotations

import gzip
import json

import pytest

from rg4cli.errors import InputError
from rg4cli.records.streams import RecordReader, RecordWriter, done_ids, index_by_id, join_by_id

from .jsonl import write_jsonl


def test_reads_plain_and_gzip_and_passes_fields_through(tmp_path):
    recs = [{"id": "a", "x": 1, "nested": {"k": [1, 2]}}, {"id": "b", "extra": None}]
    plain = write_jsonl(tmp_path / "in.jsonl", [json.dumps(r) for r in recs])
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
    path = write_jsonl(tmp_path / "in.jsonl", ['{"id": 3.5}', '{"text": "x"}', "[1, 2]", '{"id": true}'])
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
    ref = index_by_id(write_jsonl(tmp_path / "ref.jsonl", ['{"id": "a"}', '{"id": "b"}', '{"id": "c"}']))
    hyp = [(1, {"id": "b"}), (2, {"id": "a"}), (3, {"id": "z"})]
    with pytest.raises(InputError) as err:
        join_by_id(hyp, ref)
    assert "1 id(s) of <stdin> not in" in str(err.value) and "'z'" in str(err.value) and "'c'" in str(err.value)
    joined = join_by_id(hyp, ref, on_missing="skip")
    assert [h["id"] for h, _ in joined.pairs] == ["b", "a"]
    with pytest.raises(InputError, match="duplicate"):
        join_by_id([(1, {"id": "a"}), (2, {"id": "a"})], ref, on_missing="skip")
    with pytest.raises(InputError, match="duplicate"):
        index_by_id(write_jsonl(tmp_path / "dup.jsonl", ['{"id": "a"}', '{"id": "a"}']))


def test_map_in_blocks_writes_what_came_before_a_bad_line(tmp_path):
    from rg4cli.records.streams import map_in_blocks

    path = write_jsonl(tmp_path / "in.jsonl", ['{"id": "a"}', '{"id": "b"}', '{"id": "c", "bad": true}', '{"id": "d"}'])
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

    with pytest.raises(
        InputError,
        match=r":3: bad: not allowed \(2 record\(s\) written are in .*out.jsonl.partial; rerun with --resume",
    ):
        with RecordWriter(out) as writer:
            map_in_blocks(reader, writer, prepare, process, block_size=10)
    # Never published as if complete: kept for --resume.
    assert not out.exists()
    assert [r for _, r in RecordReader(tmp_path / "out.jsonl.partial")] == [
        {"id": "a", "up": "A"},
        {"id": "b", "up": "B"},
    ]
    assert blocks == [["A", "B"]]


# ---- bad bytes and numbers: one line naming file:line:field ------------------------------------


def _bytes(path, data: bytes):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "line, where, problem",
    [
        (b'{"id": "b", "x": NaN}', ":2: x:", "not a finite number"),
        (b'{"id": "b", "w": [1, {"q": -Infinity}]}', ":2: w[1].q:", "not a finite number"),
        (b'{"id": "b", "w": 1e999}', ":2: w:", "not a finite number"),
        (b'{"id": "b", "t": "a\\ud800b"}', ":2: t:", "surrogate"),
        (b'{"id": "b", "t": "caf\xe9"}', ":2:", "not UTF-8"),
        (b'{"id": "b", "x": ' + b"[" * 50000 + b"]" * 50000 + b"}", ":2:", "nested too deeply"),
        (b'{"id": "b", "n": 1' + b"0" * 5000 + b"}", ":2:", "bad JSON"),
    ],
)
def test_bad_lines_name_their_line_and_field_and_skip_goes_on(tmp_path, line, where, problem):
    path = _bytes(tmp_path / "in.jsonl", b'{"id": "a"}\n' + line + b'\n{"id": "c"}\n')
    with pytest.raises(InputError) as err:
        list(RecordReader(path))
    assert str(err.value).startswith(f"{path}{where}") and problem in str(err.value)
    reader = RecordReader(path, on_error="skip")
    assert [r["id"] for _, r in reader] == ["a", "c"] and reader.skipped == 1


def test_finite_numbers_and_surrogate_pairs_pass(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", ['{"id": "a", "w": 1e308, "s": "NaN Infinity", "e": "\\ud83d\\ude00"}'])
    [(_, rec)] = list(RecordReader(path))
    assert rec["w"] == 1e308 and rec["e"] == "\U0001f600"


def test_bom_is_accepted_and_gzip_is_known_by_its_magic(tmp_path):
    bom = _bytes(tmp_path / "bom.jsonl", b'\xef\xbb\xbf{"id": "a"}\r\n{"id": "b"}\r\n')
    assert [r["id"] for _, r in RecordReader(bom)] == ["a", "b"]
    named_gz = write_jsonl(tmp_path / "plain.jsonl.gz", ['{"id": "a"}'])  # plain text named .gz
    assert [r["id"] for _, r in RecordReader(named_gz)] == ["a"]
    unnamed = tmp_path / "packed.jsonl"
    unnamed.write_bytes(gzip.compress(b'{"id": "a"}\n'))
    assert [r["id"] for _, r in RecordReader(unnamed)] == ["a"]


def test_truncated_gzip_keeps_the_records_before_the_cut(tmp_path):
    import random

    rng = random.Random(0)
    lines = [json.dumps({"id": str(i), "t": "".join(rng.choice("abcdef ") for _ in range(200))}) for i in range(300)]
    data = gzip.compress(("\n".join(lines) + "\n").encode())
    path = _bytes(tmp_path / "in.jsonl.gz", data[: len(data) * 2 // 3])
    reader = RecordReader(path, on_error="skip")
    ids = [r["id"] for _, r in reader]
    assert 100 < len(ids) < 300 and ids == [str(i) for i in range(len(ids))]
    assert reader.skipped == 1 and "cut short" in reader.skip_examples[0]
    with pytest.raises(InputError, match=rf":{len(ids) + 1}: the compressed stream is cut short"):
        list(RecordReader(path))


# ---- writing: FILE.partial, rename at the end, one writer, never over an input ---------------------


def test_output_appears_under_its_name_at_close_and_an_old_file_stays_whole_until_then(tmp_path):
    out = write_jsonl(tmp_path / "out.jsonl", ['{"id": "old"}'])
    writer = RecordWriter(out)
    writer.write({"id": "new"})
    assert out.read_text() == '{"id": "old"}\n'  # not yet replaced
    assert (tmp_path / "out.jsonl.partial").read_text() == '{"id": "new"}\n'  # flushed per record
    writer.close()
    assert out.read_text() == '{"id": "new"}\n' and not (tmp_path / "out.jsonl.partial").exists()


def test_an_input_being_read_is_never_an_output(tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", ['{"id": "a"}'])
    reader = RecordReader(path)
    link = tmp_path / "link.jsonl"
    link.symlink_to(path)
    for target in (path, link):
        with pytest.raises(InputError, match="is also an input"):
            RecordWriter(target)
    from rg4cli.records.streams import write_json

    with pytest.raises(InputError, match="is also an input"):
        write_json(path, {"a": 1})
    assert path.read_text() == '{"id": "a"}\n' and list(reader)


def test_kill_then_resume_continues_the_partial_file(tmp_path):
    from rg4cli.records.streams import resume_source

    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    partial.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "re', encoding="utf-8")  # a kill -9 mid-line
    assert resume_source(out) == partial and done_ids(out) == {"a", "b"}
    with RecordWriter(out, append=True) as w:
        assert w.resumed_ids == {"a", "b"}
        w.write({"id": "c"})
    assert [r["id"] for _, r in RecordReader(out)] == ["a", "b", "c"] and not partial.exists()


def test_resume_refuses_a_damaged_middle_line(tmp_path):
    out = write_jsonl(tmp_path / "out.jsonl", ['{"id": "a"}', '{"id": "b", "x"', '{"id": "c"}'])
    with pytest.raises(InputError, match=r"out.jsonl:2: bad JSON.*damaged"):
        done_ids(out)
    with pytest.raises(InputError, match=r"out.jsonl:2: bad JSON.*damaged"):
        RecordWriter(out, append=True)
    assert out.read_text().count("\n") == 3 and not (tmp_path / "out.jsonl.partial").exists()


def test_gzip_output_resumes_after_a_cut(tmp_path):
    out = tmp_path / "out.jsonl.gz"
    with RecordWriter(out) as w:
        for i in range(3):
            w.write({"id": str(i)})
    data = out.read_bytes()
    out.write_bytes(data[:-6])  # the trailer lost
    with RecordWriter(out, append=True) as w:
        assert w.resumed_ids <= {"0", "1", "2"}
        w.write({"id": "3"})
    ids = [r["id"] for _, r in RecordReader(out)]
    assert ids[-1] == "3" and len(ids) == len(set(ids))


def test_write_errors_are_one_line(tmp_path):
    from rg4cli.errors import Rg4Error

    with pytest.raises(InputError, match="is a directory"):
        RecordWriter(tmp_path)
    with RecordWriter("/dev/full") as w, pytest.raises(Rg4Error, match="No space left"):
        w.write({"id": "a"})
    blocker = write_jsonl(tmp_path / "file", ["x"])
    with pytest.raises(InputError, match="cannot write"):
        RecordWriter(blocker / "out.jsonl")


def test_json_documents_have_no_nan(tmp_path):
    from rg4cli.errors import Rg4Error
    from rg4cli.records.streams import dumps_json, write_json

    write_json(tmp_path / "s.json", {"a": float("nan"), "b": [float("inf"), 1.5]})
    assert json.loads((tmp_path / "s.json").read_text()) == {"a": None, "b": [None, 1.5]}
    assert "NaN" not in dumps_json({"x": float("nan")})
    with RecordWriter(tmp_path / "o.jsonl") as w, pytest.raises(Rg4Error, match="NaN or infinite"):
        w.write({"id": "a", "x": float("nan")})


def test_map_in_blocks_resume_passes_over_done_ids_and_places_unplaced_errors(tmp_path):
    from rg4cli.records.streams import map_in_blocks

    path = write_jsonl(tmp_path / "in.jsonl", ['{"id": "a"}', '{"id": "b"}', '{"id": "c", "t": 0}', '{"id": "d"}'])
    out = write_jsonl(tmp_path / "out.jsonl", ['{"id": "a", "up": "A"}'])

    def prepare(lineno, record):
        if "t" in record:
            raise InputError("expected a string", field="t")  # no place: map_in_blocks adds it
        return record["id"].upper()

    def process(block):
        return [{**record, "up": item} for record, item in block]

    reader = RecordReader(path, on_error="skip")
    with RecordWriter(out, append=True) as writer:
        assert map_in_blocks(reader, writer, prepare, process, resume=True) == 1
    assert [r["id"] for _, r in RecordReader(out)] == ["a", "b", "d"]
    assert reader.skip_examples == [f"{path}:3: t: expected a string"]


def test_a_full_disk_keeps_the_old_file_and_the_records_written(tmp_path):
    import errno

    from rg4cli.errors import Rg4Error

    out = write_jsonl(tmp_path / "out.jsonl", ['{"id": "old"}'])
    writer = RecordWriter(out)
    writer.write({"id": "a"})
    real = writer._fh

    class Full:  # the disk fills up on the second record
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            pass

        def close(self):
            real.close()

    writer._fh = Full()
    with pytest.raises(
        Rg4Error,
        match=r"out.jsonl: cannot write: No space left on device \(1 record\(s\) before it are in .*partial; --resume",
    ):
        writer.write({"id": "b"})
    writer.close()
    assert out.read_text() == '{"id": "old"}\n'  # not replaced by a cut-short run
    assert (tmp_path / "out.jsonl.partial").read_text() == '{"id": "a"}\n'  # --resume continues it
