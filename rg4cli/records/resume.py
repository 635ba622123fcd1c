"""What `--resume` continues: the complete records of a killed or finished run's output.

A killed writer leaves `FILE.partial` (or FILE); its cut-short last line is dropped
(a gzip output is rewritten up to its last complete line) and every other line must be
a good record, else resuming would keep a damaged line and write its id again.
"""

from __future__ import annotations

import codecs
import gzip
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rg4cli.errors import InputError
from rg4cli.records.jsonl import GZIP_MAGIC, open_binary_in, parse_line
from rg4cli.records.study import normalize_id
from rg4cli.records.targets import resolve_output

PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | os.PathLike) -> Path:
    """Where a writer of `path` writes before renaming (and what it locks): beside a link's target."""
    real = resolve_output(path).real
    return real.with_name(real.name + PARTIAL_SUFFIX)


def resume_source(path: str | os.PathLike) -> Path:
    """The file `--resume` continues: a killed run's FILE.partial when it holds records, else FILE."""
    partial = partial_path(path)
    try:
        if partial.stat().st_size > 0:
            return partial
    except OSError:
        pass
    return resolve_output(path).real


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def drop_cut_line(path: Path) -> None:
    """Drop a cut-short last line (a killed writer's) from a plain file, in place."""
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


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) of a plain or gzip file; a gzip stream cut short (a killed writer's)
    ends the lines where it stops decoding."""
    with open_binary_in(path) as fh:
        lineno = 0
        lines = iter(fh)
        while True:
            try:
                raw = next(lines)
            except StopIteration:
                return
            except (EOFError, zlib.error, gzip.BadGzipFile):
                return
            lineno += 1
            yield lineno, raw


def complete_lines(path: str | os.PathLike) -> Iterator[tuple[int, str, dict]]:
    """(line, text, record) of the complete records of an output to resume.

    A cut-short last line (a killed run; in gzip, whatever a cut stream leaves undecoded) is
    ignored; any other bad line is an InputError naming it: resuming over it would keep it and
    write its id again.
    """
    name = str(path)
    pending: tuple[int, bytes] | None = None
    for lineno, raw in _lines(Path(path)):
        if pending is not None:
            yield _resume_record(name, *pending)
        pending = (lineno, raw)
    if pending is not None and pending[1].endswith(b"\n"):
        yield _resume_record(name, *pending)


def complete_records(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """(line, record) of the complete records of an output to resume (see complete_lines)."""
    for lineno, _, record in complete_lines(path):
        yield lineno, record


def _resume_record(name: str, lineno: int, raw: bytes) -> tuple[int, str, dict]:
    if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    field_name = None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        record, problem = None, f"not UTF-8 text (byte {exc.start + 1} of the line: {exc.reason})"
    else:
        if not text.strip():
            return lineno, text, {}
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
    return lineno, text, record


def complete_ids(path: str | os.PathLike, key: Callable[[dict], Any] = lambda r: r.get("id")) -> set:
    return {key(record) for _, _, record in complete_lines(path) if record}


def resumed_records(path: str | os.PathLike | None) -> Iterator[dict]:
    """The complete records `--resume` keeps from an output (FILE.partial of a killed run, else FILE)."""
    if path in (None, "-") or resolve_output(path).direct:
        return
    source = resume_source(path)
    if source.is_file():
        for _, _, record in complete_lines(source):
            if record:
                yield record


def done_ids(path: str | os.PathLike | None, key: Callable[[dict], Any] = lambda r: normalize_id(r.get("id"))) -> set:
    """Keys of the complete records `--resume` keeps from an output (see resumed_records)."""
    return {key(record) for record in resumed_records(path)}
