"""Strict JSON Lines reading: one reader for every input of rg4.

A file or `-` (stdin), `.gz` recognised by its gzip magic whatever its name. Every line
is decoded on its own, so a bad line (not UTF-8, bad JSON, NaN or Infinity, a lone
surrogate, nesting too deep) raises InputError naming file, line and field, or is
skipped and counted with `on_error="skip"`; a UTF-8 BOM is accepted; a truncated `.gz`
stops with one line after its last complete record.
"""

from __future__ import annotations

import codecs
import gzip
import json
import math
import os
import re
import sys
import weakref
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from rg4cli.errors import InputError
from rg4cli.records.study import normalize_id

ON_ERROR_CHOICES = ("fail", "skip")
GZIP_MAGIC = b"\x1f\x8b"

_MAYBE_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")

# Readers alive in this process: a writer refuses to replace a file one of them reads.
_LIVE_READERS: weakref.WeakSet[RecordReader] = weakref.WeakSet()


def display_name(path: str | os.PathLike | None) -> str:
    return "<stdin>" if path in (None, "-") else str(path)


@contextmanager
def open_binary_in(path: str | os.PathLike | None) -> Iterator[IO[bytes]]:
    """A binary input: `-`/None is stdin; gzip is recognised by its magic bytes."""
    if path in (None, "-"):
        raw = sys.stdin.buffer
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        yield gzip.GzipFile(fileobj=raw, mode="rb") if head == GZIP_MAGIC else raw
        return
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", source=str(p))
    if p.is_dir():
        raise InputError("is a directory, expected a JSONL file", source=str(p))
    try:
        fh = open(p, "rb")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", source=str(p)) from None
    with fh:
        if fh.peek(2)[:2] == GZIP_MAGIC:
            with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                yield gz
        else:
            yield fh


class _NonFinite:
    """Stands for NaN, Infinity or an overflowing number during the strict parse."""

    def __init__(self, text: str):
        self.text = text


def _strict_float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


class _NotFinite(ValueError):
    """NaN, Infinity or a number too large for a float (1e309) in a line."""


def _refuse_constant(text: str) -> float:
    raise _NotFinite(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


class _DuplicateKey(ValueError):
    """A key twice in one object: JSON parsers disagree on which wins, so neither is read."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


# One decoder for every line (json.loads with hooks would build one per call).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys)


def _first_path(obj: Any, bad: Callable[[Any], bool], path: str = "") -> tuple[str, Any] | None:
    """(field path, value) of the first value in `obj` for which `bad` holds."""
    if bad(obj):
        return path, obj
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for key, value in items:
        sub = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
        found = _first_path(value, bad, sub)
        if found is not None:
            return found
    return None


def _has_surrogate(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def parse_line(text: str) -> tuple[Any, str | None, str | None]:
    """(value, field, problem) of one JSONL line; problem None when it is good JSON."""
    try:
        value = _DECODER.decode(text)
    except _NotFinite:
        # Parsed again with placeholders to name the field (bad lines only).
        strict = json.loads(text, parse_constant=_NonFinite, parse_float=_strict_float)
        path, bad = _first_path(strict, lambda v: isinstance(v, _NonFinite))
        return (
            None,
            path or None,
            (f"{bad.text} is not a finite number (JSON has no NaN or Infinity; use null or a number in range)"),
        )
    except _DuplicateKey as exc:
        return None, exc.key, f"duplicate key {exc.key!r} in one object (which one counts is ambiguous); keep one"
    except json.JSONDecodeError as exc:
        cut = "" if text.endswith("\n") else " (the line is cut short: truncated input?)"
        return None, None, f"bad JSON: {exc.msg} (column {exc.colno}){cut}"
    except RecursionError:
        return None, None, "bad JSON: nested too deeply"
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        return None, None, f"bad JSON: {str(exc).splitlines()[0][:120]}"
    if _MAYBE_SURROGATE.search(text):
        found = _first_path(value, _has_surrogate)
        if found is not None:
            return None, found[0] or None, "a lone UTF-16 surrogate (\\ud800-\\udfff) is not a character"
    return value, None, None


class RecordReader:
    """Iterate `(line_number, record)` over a JSONL input.

    `require` maps field name -> accepted type(s); a record that lacks a field or
    has the wrong type is rejected. `reject()` is also the way later stages turn a
    record-level problem (missing image, unknown setting) into either an error or a
    counted skip, so every command shares one error policy.
    """

    def __init__(
        self,
        path: str | os.PathLike | None,
        *,
        on_error: str = "fail",
        require: dict[str, type | tuple[type, ...]] | None = None,
        log: Callable[[str], None] | None = None,
    ):
        if on_error not in ON_ERROR_CHOICES:
            raise InputError(f"--on-error must be one of {', '.join(ON_ERROR_CHOICES)}, got {on_error!r}")
        self.path = path
        self.name = display_name(path)
        self.on_error = on_error
        self.require = {"id": str} if require is None else require
        self.skipped = 0
        self.skip_examples: list[str] = []
        self.log = log
        _LIVE_READERS.add(self)

    def reject(self, line: int | None, field: str | None, problem: str) -> None:
        """Fail with a one-line error, or count the record as skipped."""
        err = InputError(problem, source=self.name, line=line, field=field)
        if self.on_error == "fail":
            raise err
        self.skipped += 1
        if len(self.skip_examples) < 5:
            self.skip_examples.append(str(err))
        if self.log is not None:
            self.log(f"skipped: {err}")

    def check(self, line: int, record: dict) -> bool:
        if "id" in record:
            record["id"] = normalize_id(record["id"])  # an integer id is its decimal string
            if record["id"] == "" and "id" in self.require:
                self.reject(line, "id", "empty id; every record needs a non-empty id")
                return False
        for name, types in self.require.items():
            if name not in record or record[name] is None:
                self.reject(line, name, "missing field")
                return False
            if not isinstance(record[name], types) or isinstance(record[name], bool) and bool not in _as_tuple(types):
                want = " or ".join(t.__name__ for t in _as_tuple(types))
                self.reject(
                    line, name, f"expected {want}, got {type(record[name]).__name__} {json.dumps(record[name])[:40]}"
                )
                return False
        return True

    def lines(self) -> Iterator[tuple[int, str]]:
        """(line number, text) of every line, decoded one by one (a bad line names itself)."""
        yield from self._decoded(parse=False)

    def __iter__(self) -> Iterator[tuple[int, dict]]:
        for lineno, record in self._decoded(parse=True):
            if self.check(lineno, record):
                yield lineno, record

    def _decoded(self, *, parse: bool) -> Iterator[tuple[int, Any]]:
        # With `parse`, the line's bytes and text are dropped before its record is handed on:
        # a very long line is then held once (as the record), not three times.
        with open_binary_in(self.path) as fh:
            lineno = 0
            lines = iter(fh)
            while True:
                try:
                    raw = next(lines)
                except StopIteration:
                    return
                except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                    self.reject(
                        lineno + 1,
                        None,
                        f"the compressed stream is cut short or corrupt after line "
                        f"{lineno} ({exc}); the records before it were read",
                    )
                    return
                lineno += 1
                if lineno == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    self.reject(
                        lineno,
                        None,
                        f"not UTF-8 text (byte {exc.start + 1} of the line: {exc.reason}); convert the file to UTF-8",
                    )
                    continue
                raw = b""
                if not parse:
                    yield lineno, text
                    continue
                if not text or text.isspace():
                    continue
                record, field_name, problem = parse_line(text)
                text = ""
                if problem is not None:
                    self.reject(lineno, field_name, problem)
                    continue
                if not isinstance(record, dict):
                    self.reject(lineno, None, f"expected a JSON object, got {type(record).__name__}")
                    continue
                yield lineno, record
                record = None

    def records(self) -> Iterator[dict]:
        for _, record in self:
            yield record

    def summary(self) -> str | None:
        if not self.skipped:
            return None
        return f"{self.name}: skipped {self.skipped} record(s); first: {self.skip_examples[0]}"


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def finite_json(obj: Any) -> Any:
    """`obj` with every NaN or infinite float replaced by None (JSON has no NaN)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    return obj


def dumps_json(obj: Any, **kwargs: Any) -> str:
    """A JSON document (summaries): a value that is not a finite number becomes null."""
    return json.dumps(finite_json(obj), allow_nan=False, ensure_ascii=False, **kwargs)
