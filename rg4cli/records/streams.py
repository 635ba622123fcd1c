"""All JSON Lines I/O of rg4: one reader, one writer, one join.

Contract (README "Conventions every command keeps"): a file or `-` (stdin) in, stdout or a file out, `.gz` both
ways; each output record is flushed as soon as it is written, so a stopped job
loses nothing; bad lines raise InputError naming file, line and field, or are
skipped and counted with `on_error="skip"`.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from rg4cli.errors import InputError
from rg4cli.records.study import normalize_id

ON_ERROR_CHOICES = ("fail", "skip")


def display_name(path: str | os.PathLike | None) -> str:
    return "<stdin>" if path in (None, "-") else str(path)


def open_text_in(path: str | os.PathLike | None) -> IO[str]:
    """Open a text input: `-`/None is stdin; `.gz` is decompressed (stdin too, by magic)."""
    if path in (None, "-"):
        raw = sys.stdin.buffer
        head = raw.peek(2)[:2] if hasattr(raw, "peek") else b""
        if head == b"\x1f\x8b":
            return io.TextIOWrapper(gzip.GzipFile(fileobj=raw), encoding="utf-8")
        return io.TextIOWrapper(raw, encoding="utf-8", newline=None)
    p = Path(path)
    if not p.exists():
        raise InputError(f"no such file: {p}", source=str(p))
    if p.is_dir():
        raise InputError("is a directory, expected a JSONL file", source=str(p))
    if p.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8")
    return open(p, "r", encoding="utf-8")


class RecordReader:
    """Iterate `(line_number, record)` over a JSONL input.

    `require` maps field name -> accepted type(s); a record that lacks a field or
    has the wrong type is rejected. `reject()` is also the way later stages turn a
    record-level problem (missing image, unknown setting) into either an error or a
    counted skip, so every command shares one error policy.
    """

    def __init__(self, path: str | os.PathLike | None, *, on_error: str = "fail",
                 require: dict[str, type | tuple[type, ...]] | None = None,
                 log: Callable[[str], None] | None = None):
        if on_error not in ON_ERROR_CHOICES:
            raise InputError(f"--on-error must be one of {', '.join(ON_ERROR_CHOICES)}, got {on_error!r}")
        self.path = path
        self.name = display_name(path)
        self.on_error = on_error
        self.require = {"id": str} if require is None else require
        self.skipped = 0
        self.skip_examples: list[str] = []
        self.log = log

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
        for name, types in self.require.items():
            if name not in record or record[name] is None:
                self.reject(line, name, "missing field")
                return False
            if not isinstance(record[name], types) or isinstance(record[name], bool) and bool not in _as_tuple(types):
                want = " or ".join(t.__name__ for t in _as_tuple(types))
                self.reject(line, name, f"expected {want}, got {type(record[name]).__name__} {json.dumps(record[name])[:40]}")
                return False
        return True

    def __iter__(self) -> Iterator[tuple[int, dict]]:
        with open_text_in(self.path) as fh:
            for lineno, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except json.JSONDecodeError as exc:
                    cut = "" if text.endswith("\n") else " (the line is cut short: truncated input?)"
                    self.reject(lineno, None, f"bad JSON: {exc.msg} (column {exc.colno}){cut}")
                    continue
                except UnicodeDecodeError as exc:  # pragma: no cover - depends on bytes
                    self.reject(lineno, None, f"not UTF-8 text: {exc.reason}")
                    continue
                if not isinstance(record, dict):
                    self.reject(lineno, None, f"expected a JSON object, got {type(record).__name__}")
                    continue
                if self.check(lineno, record):
                    yield lineno, record

    def records(self) -> Iterator[dict]:
        for _, record in self:
            yield record

    def summary(self) -> str | None:
        if not self.skipped:
            return None
        return f"{self.name}: skipped {self.skipped} record(s); first: {self.skip_examples[0]}"


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


class RecordWriter:
    """Write records as JSON Lines, one flush per record.

    `path` None or `-` is stdout. With `append=True` (resume) new records go after
    the existing ones; a cut-short last line left by a killed run is dropped first.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, append: bool = False):
        self.path = None if path in (None, "-") else Path(path)
        self.count = 0
        if self.path is None:
            self._fh: IO[str] = sys.stdout
            self._own = False
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if append and self.path.exists():
            _drop_partial_last_line(self.path)
        mode = "at" if append else "wt"
        if self.path.suffix == ".gz":
            self._fh = gzip.open(self.path, mode, encoding="utf-8")
        else:
            self._fh = open(self.path, mode[0], encoding="utf-8")
        self._own = True

    def write(self, record: dict) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        self.count += 1

    def close(self) -> None:
        if self._own:
            self._fh.close()
        else:
            self._fh.flush()

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _drop_partial_last_line(path: Path) -> None:
    if path.suffix == ".gz":
        # gzip members cannot be truncated in place; rewrite the complete lines.
        lines = []
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                for text in fh:
                    if text.endswith("\n"):
                        lines.append(text)
        except (EOFError, OSError):
            pass  # a killed writer leaves a truncated stream: keep what decoded
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.writelines(lines)
        return
    with open(path, "rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


def done_ids(path: str | os.PathLike | None, key: Callable[[dict], Any] = lambda r: normalize_id(r.get("id"))) -> set:
    """Keys of the complete records already in an output file (for `--resume`)."""
    if path in (None, "-") or not Path(path).exists():
        return set()
    seen = set()
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for text in fh:
                if not text.endswith("\n"):
                    break
                try:
                    seen.add(key(json.loads(text)))
                except json.JSONDecodeError:
                    break
    except (EOFError, OSError):
        pass
    return seen


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write one JSON document (summaries, configs) atomically."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, p)


@dataclass
class RefIndex:
    """References indexed by id (`--ref FILE`)."""

    name: str
    by_id: dict[str, dict]
    lines: dict[str, int] = field(default_factory=dict)


def index_by_id(path: str | os.PathLike, *, on_error: str = "fail") -> RefIndex:
    """Read a reference file into a dict by id; duplicate ids are an error."""
    reader = RecordReader(path, on_error=on_error)
    by_id: dict[str, dict] = {}
    lines: dict[str, int] = {}
    dups: list[str] = []
    for lineno, rec in reader:
        if rec["id"] in by_id:
            dups.append(f"{rec['id']!r} (lines {lines[rec['id']]} and {lineno})")
            continue
        by_id[rec["id"]] = rec
        lines[rec["id"]] = lineno
    if dups:
        raise InputError(f"{len(dups)} duplicate id(s): {', '.join(dups[:3])}"
                         + (" ..." if len(dups) > 3 else ""), source=reader.name, field="id")
    return RefIndex(reader.name, by_id, lines)


@dataclass
class Joined:
    pairs: list[tuple[dict, dict]]
    missing_in_ref: list[str]
    missing_in_input: list[str]


def join_by_id(records: Iterable[tuple[int, dict]], ref: RefIndex, *, input_name: str = "<stdin>",
               on_missing: str = "fail") -> Joined:
    """Pair input records with references by id, in input order.

    Ids missing on either side and duplicate input ids are reported by count and
    first examples; `on_missing="skip"` keeps only the ids present on both sides.
    """
    pairs: list[tuple[dict, dict]] = []
    seen: dict[str, int] = {}
    dups: list[str] = []
    missing_in_ref: list[str] = []
    for lineno, rec in records:
        rid = rec["id"]
        if rid in seen:
            dups.append(f"{rid!r} (lines {seen[rid]} and {lineno})")
            continue
        seen[rid] = lineno
        if rid in ref.by_id:
            pairs.append((rec, ref.by_id[rid]))
        else:
            missing_in_ref.append(rid)
    if dups:
        raise InputError(f"{len(dups)} duplicate id(s): {', '.join(dups[:3])}" + (" ..." if len(dups) > 3 else ""),
                         source=input_name, field="id")
    missing_in_input = [rid for rid in ref.by_id if rid not in seen]
    if on_missing == "fail" and (missing_in_ref or missing_in_input):
        parts = []
        if missing_in_ref:
            parts.append(f"{len(missing_in_ref)} id(s) of {input_name} not in {ref.name} "
                         f"(first: {', '.join(map(repr, missing_in_ref[:3]))})")
        if missing_in_input:
            parts.append(f"{len(missing_in_input)} id(s) of {ref.name} not in {input_name} "
                         f"(first: {', '.join(map(repr, missing_in_input[:3]))})")
        raise InputError("; ".join(parts) + "; use --on-missing skip to score the common ids", field="id")
    return Joined(pairs, missing_in_ref, missing_in_input)


def map_in_blocks(reader: RecordReader, writer: RecordWriter,
                  prepare: Callable[[int, dict], Any],
                  process: Callable[[list[tuple[dict, Any]]], Iterable[dict]],
                  block_size: int = 64) -> None:
    """The loop of every record-annotating command (label, hallucination, weights).

    `prepare(lineno, record)` returns what the model needs for the record, or None after
    calling `reader.reject` (the record is then skipped or the run stops). Records are
    handed to `process` in blocks (batched models), which yields them annotated, in order.
    When a later line stops the run, the block already read is still processed and
    written first: nothing before the bad line is lost.
    """
    pending: list[tuple[dict, Any]] = []

    def flush() -> None:
        if pending:
            for record in process(pending):
                writer.write(record)
            pending.clear()

    try:
        for lineno, record in reader:
            item = prepare(lineno, record)
            if item is None:
                continue
            pending.append((record, item))
            if len(pending) >= block_size:
                flush()
        flush()
    except InputError:
        flush()
        raise
