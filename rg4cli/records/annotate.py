"""The record loop every annotating stage shares (label, hallucination, weights).

Records stream from a JSONL input to a JSONL output in blocks (batched models); a
record the stage cannot read is rejected by the input's error policy (fail: one line
naming file:line:field, exit 2; skip: counted); what was written before a bad line
stays written (streams.map_in_blocks).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rg4cli.errors import InputError
from rg4cli.records.streams import RecordReader, RecordWriter, map_in_blocks


@dataclass
class StageSummary:
    """What a stage did: records written and skipped (with the reader's line about them)."""

    written: int = 0
    skipped: int = 0
    skip_line: str | None = None  # "<file>: skipped N record(s); first: ..." or None
    backend: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # the stage's own summary (hallucination rates)


def annotate_records(
    input: str | os.PathLike | None,
    output: str | os.PathLike | None,
    prepare: Callable[[int, dict], Any],
    annotate: Callable[[list[tuple[dict, Any]]], None],
    *,
    on_error: str = "fail",
    block_size: int = 64,
    log: Callable[[str], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    resume: bool = False,
) -> StageSummary:
    """Stream `input` to `output`, annotating records in place, block by block.

    `prepare(line, record)` returns what `annotate` needs for the record, or raises
    InputError (field, problem) to reject it. `annotate(block)` sets the annotation
    fields on each `(record, prepared)` of the block. `on_progress(before, after)` is
    called with the count written before and after each block. `resume`: keep the
    records already in `output` (or its FILE.partial after a kill) and pass over their ids.
    """
    reader = RecordReader(input, on_error=on_error, log=log)

    def prepared(line: int, record: dict) -> Any:
        try:
            return prepare(line, record)
        except InputError as exc:
            reader.reject(line, exc.field, exc.problem)
            return None

    def process(block: list[tuple[dict, Any]]) -> list[dict]:
        annotate(block)
        if on_progress is not None:
            on_progress(writer.count, writer.count + len(block))
        return [record for record, _ in block]

    with RecordWriter(output, append=resume) as writer:
        resumed = map_in_blocks(reader, writer, prepared, process, block_size=block_size, resume=resume)
    if resumed and log is not None:
        log(f"resumed: {resumed} record(s) already in {output} passed over")
    return StageSummary(written=writer.count, skipped=reader.skipped, skip_line=reader.summary())
