"""Integer ids are accepted everywhere as their decimal string (docs/records.md "The study record")."""

from __future__ import annotations

import pytest

from rg4cli.errors import InputError
from rg4cli.records.streams import RecordReader, done_ids, index_by_id, join_by_id
from rg4cli.records.study import Study, normalize_id

from .jsonl import write_jsonl


def test_normalize_id():
    assert normalize_id(12) == "12" and normalize_id(-3) == "-3" and normalize_id("12") == "12"
    assert normalize_id(True) is True and normalize_id(1.5) == 1.5 and normalize_id(None) is None


def test_reader_reads_integer_ids_as_strings_and_still_refuses_other_types(tmp_path):
    src = write_jsonl(tmp_path / "in.jsonl", [{"id": 7}, {"id": "8"}, {"id": 1.5}])
    reader = RecordReader(src, on_error="skip")
    assert [r["id"] for r in reader.records()] == ["7", "8"]
    assert reader.skipped == 1 and "id: expected str" in reader.skip_examples[0]


def test_integer_and_string_ids_join_and_resume(tmp_path):
    hyp = write_jsonl(tmp_path / "hyp.jsonl", [{"id": 1, "report": "a"}, {"id": "2", "report": "b"}])
    ref = write_jsonl(tmp_path / "ref.jsonl", [{"id": "1", "report": "x"}, {"id": 2, "report": "y"}])
    joined = join_by_id(RecordReader(hyp), index_by_id(ref))
    assert [(h["id"], r["report"]) for h, r in joined.pairs] == [("1", "x"), ("2", "y")]
    assert done_ids(hyp) == {"1", "2"}


def test_duplicate_ids_across_types_are_duplicates(tmp_path):
    ref = write_jsonl(tmp_path / "ref.jsonl", [{"id": 3}, {"id": "3"}])
    with pytest.raises(InputError, match="duplicate id"):
        index_by_id(ref)


def test_study_accepts_integer_id():
    assert Study.from_record({"id": 42}).id == "42"
    with pytest.raises(InputError, match="id"):
        Study.from_record({"id": 4.2})
