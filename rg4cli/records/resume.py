"""What `--resume` continues: the complete records of a killed or finished run's output.

A killed writer leaves `FILE.partial` (or FILE); its cut-short last line is dropped
(a gzip output is rewritten up to its last complete line) and every other line must be
a good record, else resuming would keep a damaged line and write its id again.
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rg4cli.errors import InputError
from rg4cli.records.jsonl import _LIVE_READERS, GZIP_MAGIC, RecordReader, parse_line
from rg4cli.records.study import normalize_id

PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | os.PathLike) -> Path:
    """Where a writer of `path` writes before renaming (and what it locks)."""
    p = Path(path)
    return p.with_name(p.name + PARTIAL_SUFFIX)


def resume_source(path: str | os.PathLike) -> Path:
    """The file `--resume` continues: a killed run's FILE.partial when it holds records, else FILE."""
    partial = partial_path(path)
    try:
        if partial.stat().st_size > 0:
            return partial
    except OSError:
        pass
    return Path(path)


def _drop_cut_line(path: Path) -> None:
    """Drop a cut-short last line (a killed writer's) from a plain or gzip output."""
    with open(path, "rb") as fh:
        is_gzip = fh.read(2) == GZIP_MAGIC
    if is_gzip:
        lines, cut = [], False
        try:
            with gzip.open(path, "rb") as fh:
                for raw in fh:
                    if raw.endswith(b"\n"):
                        lines.append(raw)
                    else:
                        cut = True
        except (EOFError, OSError, zlib.error):
            cut = True  # a killed writer leaves a truncated stream: keep what decoded
        if cut:
            # gzip members cannot be truncated in place: write the complete lines again.
            tmp = path.with_name(path.name + ".tmp")
            with gzip.open(tmp, "wb") as fh:
                fh.writelines(lines)
            os.replace(tmp, path)
        return
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if not size:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        # Find the last newline from the end, in blocks (outputs can be large).
        pos = size
        while pos > 0:
            step = min(1 << 16, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                fh.truncate(pos + nl + 1)
                return
        fh.truncate(0)


def complete_records(path: str | os.PathLike, *, drop_cut_line: bool = False) -> Iterator[tuple[int, dict]]:
    """(line, record) of the complete records of an output to resume.

    A cut-short last line (a killed run) is ignored (and removed with `drop_cut_line`);
    any other bad line is an InputError naming it: resuming over it would keep it and
    write its id again.
    """
    p = Path(path)
    if drop_cut_line:
        _drop_cut_line(p)
    reader = RecordReader(p, require={})
    _LIVE_READERS.discard(reader)  # reading our own output to continue it, not an input
    pending: tuple[int, str] | None = None
    for lineno, text in _resume_lines(reader):
        if pending is not None:
            yield _resume_record(reader.name, *pending)
        pending = (lineno, text)
    if pending is not None and pending[1].endswith("\n"):
        yield _resume_record(reader.name, *pending)


def _resume_lines(reader: RecordReader) -> Iterator[tuple[int, str]]:
    try:
        for lineno, text in reader.lines():
            if text.strip():
                yield lineno, text
    except InputError as exc:
        raise InputError(
            f"{exc.problem}; the output to resume is damaged: repair or remove that line",
            source=exc.source,
            line=exc.line,
            field=exc.field,
        ) from None


def _resume_record(name: str, lineno: int, text: str) -> tuple[int, dict]:
    record, field_name, problem = parse_line(text)
    if problem is None and not isinstance(record, dict):
        problem = f"expected a JSON object, got {type(record).__name__}"
    if problem is not None:
        raise InputError(
            f"{problem}; the output to resume is damaged: repair or remove that line",
            source=name,
            line=lineno,
            field=field_name,
        )
    return lineno, record


def complete_ids(
    path: str | os.PathLike, key: Callable[[dict], Any] = lambda r: r.get("id"), *, drop_cut_line: bool = False
) -> set:
    return {key(record) for _, record in complete_records(path, drop_cut_line=drop_cut_line)}


def resumed_records(path: str | os.PathLike | None) -> Iterator[dict]:
    """The complete records `--resume` keeps from an output (FILE.partial of a killed run, else FILE)."""
    if path in (None, "-"):
        return
    source = resume_source(path)
    if source.is_file():
        for _, record in complete_records(source):
            yield record


def done_ids(path: str | os.PathLike | None, key: Callable[[dict], Any] = lambda r: normalize_id(r.get("id"))) -> set:
    """Keys of the complete records `--resume` keeps from an output (see resumed_records)."""
    return {key(record) for record in resumed_records(path)}
