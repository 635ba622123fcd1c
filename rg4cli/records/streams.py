"""All JSON Lines I/O of rg4: one reader, one writer, one join, and the loop of the annotating commands.

Contract (docs/records.md "Conventions every command keeps"): a file or `-` (stdin) in, stdout or a
file out, `.gz` both ways. The parts live in their own modules: reading and strict JSON
(`records.jsonl`), the writer, `.partial` files and locks (`records.outputs`), what
`--resume` continues (`records.resume`) and joins by id (`records.joins`); their public
names are importable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rg4cli.errors import InputError
from rg4cli.records.joins import Joined, RefIndex, index_by_id, join_by_id
from rg4cli.records.jsonl import (
    GZIP_MAGIC,
    ON_ERROR_CHOICES,
    RecordReader,
    display_name,
    dumps_json,
    finite_json,
    open_binary_in,
    parse_line,
)
from rg4cli.records.outputs import DirLock, RecordWriter, refuse_input_as_output, same_file, write_json
from rg4cli.records.resume import (
    PARTIAL_SUFFIX,
    complete_ids,
    complete_records,
    done_ids,
    partial_path,
    resume_source,
    resumed_records,
)

__all__ = [
    "GZIP_MAGIC",
    "ON_ERROR_CHOICES",
    "PARTIAL_SUFFIX",
    "DirLock",
    "Joined",
    "RecordReader",
    "RecordWriter",
    "RefIndex",
    "complete_ids",
    "complete_records",
    "display_name",
    "done_ids",
    "dumps_json",
    "finite_json",
    "index_by_id",
    "join_by_id",
    "map_in_blocks",
    "open_binary_in",
    "parse_line",
    "partial_path",
    "refuse_input_as_output",
    "resume_source",
    "resumed_records",
    "same_file",
    "write_json",
]


def map_in_blocks(
    reader: RecordReader,
    writer: RecordWriter,
    prepare: Callable[[int, dict], Any],
    process: Callable[[list[tuple[dict, Any]]], Iterable[dict]],
    block_size: int = 64,
    *,
    resume: bool = False,
) -> int:
    """The loop of every record-annotating command (label, hallucination, weights).

    `prepare(lineno, record)` returns what the model needs for the record, or None after
    calling `reader.reject` (the record is then skipped or the run stops); an InputError it
    raises without a place (e.g. from `text_of`) is rejected at the record's line. Records
    are handed to `process` in blocks (batched models), which yields them annotated, in
    order. When a later line stops the run, the block already read is still processed and
    written first: nothing before the bad line is lost.

    `resume=True` (with `RecordWriter(output, append=True)`): records whose id the output
    already holds are not written again, but they keep their place in the blocks, so the
    blocks are those of an uninterrupted run (a batched model's numbers can depend on what
    shares its batch): a block of done records is passed over, a block with any record to
    write is processed whole. Returns how many records were passed over.
    """
    pending: list[tuple[dict, Any]] = []
    done_flags: list[bool] = []
    done = writer.resumed_ids if resume else set()
    passed_over = 0

    def flush() -> None:
        if pending:
            if not all(done_flags):
                for record, was_done in zip(process(pending), done_flags):
                    if not was_done:
                        writer.write(record)
            pending.clear()
            done_flags.clear()

    try:
        for lineno, record in reader:
            is_done = bool(done) and record.get("id") in done
            passed_over += is_done
            try:
                item = prepare(lineno, record)
            except InputError as exc:
                if exc.source is not None or exc.line is not None:
                    raise
                reader.reject(lineno, exc.field, exc.problem)
                continue
            if item is None:
                continue
            pending.append((record, item))
            done_flags.append(is_done)
            if len(pending) >= block_size:
                flush()
        flush()
    except InputError:
        flush()
        raise
    return passed_over
