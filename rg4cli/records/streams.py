"""All JSON Lines I/O of rg4: one reader, one writer, one join.

Contract (docs/records.md "Conventions every command keeps"): a file or `-` (stdin) in, stdout or a file out, `.gz` both
ways (inputs are recognised by their gzip magic, whatever their name).

Reading: every line is decoded on its own, so a bad line (not UTF-8, bad JSON, NaN or
Infinity, a lone surrogate, nesting too deep) raises InputError naming file, line and
field, or is skipped and counted with `on_error="skip"`; a UTF-8 BOM is accepted; a
truncated `.gz` stops with one line after its last complete record.

Writing: stdout streams, one flush per record. `-o FILE` is written to `FILE.partial`
beside it (one flush per record) and renamed to FILE at the end, also when a bad input
line stops the run, so the records before it are kept and an existing FILE stays whole
until then; a kill leaves FILE untouched and `FILE.partial` for `--resume`. With
`append=True` (`--resume`) the records go after the complete ones already there (FILE,
or `FILE.partial` of a killed run, whose cut-short last line is dropped). Every writer
holds an exclusive lock (`flock` on `FILE.partial`) for its lifetime: a second writer of
the same FILE is refused with one line. A file that is being read is never an output.
"""

from __future__ import annotations

import codecs
import errno
import fcntl
import gzip
import json
import math
import os
import re
import sys
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from rg4cli.errors import InputError, Rg4Error
from rg4cli.records.study import normalize_id

ON_ERROR_CHOICES = ("fail", "skip")
PARTIAL_SUFFIX = ".partial"
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


def same_file(a: str | os.PathLike | None, b: str | os.PathLike | None) -> bool:
    """Whether two paths name one existing file (links and spellings resolved)."""
    if a in (None, "-") or b in (None, "-"):
        return False
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def refuse_input_as_output(output: str | os.PathLike | None, inputs: Iterable[Any] = ()) -> None:
    """InputError when `output` is one of `inputs` or a file a live RecordReader reads."""
    if output in (None, "-"):
        return
    read = [p for p in inputs if p not in (None, "-")]
    read += [r.path for r in list(_LIVE_READERS) if r.path not in (None, "-")]
    for path in read:
        if same_file(output, path):
            also = "" if str(path) == str(output) else f" ({path})"
            raise InputError(
                f"is also an input of this command{also}; an output never replaces an input: write to another file",
                source=str(output),
            )


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


# One decoder for every line (json.loads with hooks would build one per call).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


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
                yield lineno, text

    def __iter__(self) -> Iterator[tuple[int, dict]]:
        for lineno, text in self.lines():
            if not text.strip():
                continue
            record, field_name, problem = parse_line(text)
            if problem is not None:
                self.reject(lineno, field_name, problem)
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


def _write_error(path: str | os.PathLike, exc: OSError, extra: str = "") -> Rg4Error:
    """One line for a failed open or write: a bad path is the user's (exit 2), a full disk a runtime failure."""
    reason = exc.strerror or str(exc)
    if exc.errno in (
        errno.EISDIR,
        errno.ENOTDIR,
        errno.EACCES,
        errno.EPERM,
        errno.ENOENT,
        errno.EROFS,
        errno.ENAMETOOLONG,
        errno.EEXIST,
    ):
        return InputError(f"cannot write: {reason}{extra}", source=str(path))
    return Rg4Error(f"{path}: cannot write: {reason}{extra}")


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


class _Lock:
    """An exclusive `flock` on a file beside the target, held by one writer; a second is refused."""

    def __init__(self, path: Path, target: Path, what: str = "file"):
        self.path = path
        for _ in range(10):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise _write_error(target, exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise InputError(
                    f"another process is writing this {what} (it holds {self.path.name}); wait for "
                    f"it to end or write to another {what}",
                    source=str(target),
                ) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a file another writer renamed or removed meanwhile
                self.fd = fd
                return
            os.close(fd)
        raise Rg4Error(f"{target}: could not lock {self.path.name}")

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def truncate(self) -> None:
        os.ftruncate(self.fd, 0)

    def release(self, *, remove: bool) -> None:
        if self.fd < 0:
            return
        if remove:
            try:
                if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                    os.unlink(self.path)
            except OSError:
                pass
        os.close(self.fd)
        self.fd = -1

    def __del__(self) -> None:  # a writer dropped without close(): the lock goes with it
        if getattr(self, "fd", -1) >= 0:
            os.close(self.fd)
            self.fd = -1


class RecordWriter:
    """Write records as JSON Lines, one flush per record (see the module docstring).

    `path` None or `-` is stdout. A FILE is written to FILE.partial and renamed at
    close; `append=True` (resume) continues the complete records already there, whose
    ids `resumed_ids` holds. `inputs`: files this writer must not replace (besides
    those a live RecordReader reads).
    """

    def __init__(self, path: str | os.PathLike | None = None, *, append: bool = False, inputs: Iterable[Any] = ()):
        self.path = None if path in (None, "-") else Path(path)
        self.count = 0
        self.resumed_ids: set = set()
        self._failed = False
        self._closed = False
        self._lock: _Lock | None = None
        self._publish = False
        if self.path is None:
            if append:
                raise InputError("--resume needs -o FILE (the records already there are kept and skipped)")
            self._fh: IO[str] = sys.stdout
            self._own = False
            self._data = None
            return
        refuse_input_as_output(self.path, inputs)
        self._own = True
        if self.path.is_dir():
            raise InputError("is a directory; -o needs a file name", source=str(self.path))
        if self.path.exists() and not self.path.is_file():
            # A device or a pipe (/dev/null, a FIFO): nothing to rename, write straight to it.
            self._data = self.path
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise InputError(
                    f"cannot write: {self.path.parent} is not a directory", source=str(self.path)
                ) from None
            except OSError as exc:
                raise _write_error(self.path, exc) from None
            self._lock = _Lock(partial_path(self.path), self.path)
            if append and self._lock.size() > 0:
                self._data, self._publish = self._lock.path, True  # a killed run's records
            elif append:
                self._data = self.path  # continue FILE itself
            else:
                self._lock.truncate()
                self._data, self._publish = self._lock.path, True
        try:
            if append and self._data.is_file():
                self.resumed_ids = complete_ids(self._data, drop_cut_line=True)
            mode = "w" if self._lock is None and not append else "a"  # the lock's file was truncated when fresh
            self._fh = (
                gzip.open(self._data, mode + "t", encoding="utf-8")
                if self.path.suffix == ".gz"
                else open(self._data, mode, encoding="utf-8")
            )
        except BaseException as exc:
            if self._lock is not None:
                self._lock.release(remove=self._lock.size() == 0)
                self._lock = None
            if isinstance(exc, OSError):
                raise _write_error(self.path, exc) from None
            raise

    @property
    def name(self) -> str:
        return display_name(self.path)

    def write(self, record: dict) -> None:
        try:
            line = json.dumps(record, ensure_ascii=False, allow_nan=False)
        except ValueError:
            raise Rg4Error(
                f"record {record.get('id')!r}: a value is NaN or infinite (a computation went wrong); not written"
            ) from None
        try:
            self._fh.write(line + "\n")
            self._fh.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            self._failed = True
            if not self._own:
                _silence_stdout()
                raise Rg4Error(f"<stdout>: cannot write: {exc.strerror or exc}") from None
            kept = f" ({self.count} record(s) written before it are in {self._data})" if self.count else ""
            raise _write_error(self.path, exc, kept) from None
        self.count += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._own:
            if not self._failed:
                self._fh.flush()
            return
        try:
            self._fh.close()
            if self._publish and not self._failed:
                _fsync(self._data)
                os.replace(self._data, self.path)
        except OSError as exc:
            already = self._failed
            self._failed = True
            self._release()
            if not already:
                raise _write_error(self.path, exc) from None
            return
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            # After a failed write FILE.partial keeps the records written (--resume continues them);
            # otherwise it is gone (renamed to FILE) or an empty lock file to remove.
            self._lock.release(remove=not (self._publish and self._failed))
            self._lock = None

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _silence_stdout() -> None:
    # Python flushes stdout again at exit and would print a second error: point it at /dev/null.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real descriptor (a test runner's buffer)
        pass


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


def write_json(path: str | os.PathLike, obj: Any, *, inputs: Iterable[Any] = ()) -> None:
    """Write one JSON document (summaries, configs) atomically; NaN and infinities become null."""
    p = Path(path)
    refuse_input_as_output(p, inputs)
    text = dumps_json(obj, indent=2) + "\n"
    if p.is_dir():
        raise InputError("is a directory; expected a file name", source=str(p))
    if p.exists() and not p.is_file():  # /dev/stdout, a pipe
        try:
            with open(p, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise _write_error(p, exc) from None
        return
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except OSError as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise _write_error(p, exc) from None


class DirLock:
    """An exclusive lock on an output directory (`rg4 train -o DIR`): a second writer is refused."""

    NAME = ".rg4-writer.lock"

    def __init__(self, directory: str | os.PathLike):
        d = Path(directory)
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _write_error(d, exc) from None
        self._lock = _Lock(d / self.NAME, d, "directory")

    def release(self) -> None:
        self._lock.release(remove=True)

    def __del__(self) -> None:
        lock = getattr(self, "_lock", None)
        if lock is not None and lock.fd >= 0:
            lock.release(remove=True)

    def __enter__(self) -> DirLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


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
        raise InputError(
            f"{len(dups)} duplicate id(s): {', '.join(dups[:3])}" + (" ..." if len(dups) > 3 else ""),
            source=reader.name,
            field="id",
        )
    return RefIndex(reader.name, by_id, lines)


@dataclass
class Joined:
    pairs: list[tuple[dict, dict]]
    missing_in_ref: list[str]
    missing_in_input: list[str]


def join_by_id(
    records: Iterable[tuple[int, dict]], ref: RefIndex, *, input_name: str = "<stdin>", on_missing: str = "fail"
) -> Joined:
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
        raise InputError(
            f"{len(dups)} duplicate id(s): {', '.join(dups[:3])}" + (" ..." if len(dups) > 3 else ""),
            source=input_name,
            field="id",
        )
    missing_in_input = [rid for rid in ref.by_id if rid not in seen]
    if on_missing == "fail" and (missing_in_ref or missing_in_input):
        parts = []
        if missing_in_ref:
            parts.append(
                f"{len(missing_in_ref)} id(s) of {input_name} not in {ref.name} "
                f"(first: {', '.join(map(repr, missing_in_ref[:3]))})"
            )
        if missing_in_input:
            parts.append(
                f"{len(missing_in_input)} id(s) of {ref.name} not in {input_name} "
                f"(first: {', '.join(map(repr, missing_in_input[:3]))})"
            )
        raise InputError("; ".join(parts) + "; use --on-missing skip to score the common ids", field="id")
    return Joined(pairs, missing_in_ref, missing_in_input)


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
    already holds are passed over. Returns how many were.
    """
    pending: list[tuple[dict, Any]] = []
    done = writer.resumed_ids if resume else set()
    passed_over = 0

    def flush() -> None:
        if pending:
            for record in process(pending):
                writer.write(record)
            pending.clear()

    try:
        for lineno, record in reader:
            if done and record.get("id") in done:
                passed_over += 1
                continue
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
            if len(pending) >= block_size:
                flush()
        flush()
    except InputError:
        flush()
        raise
    return passed_over
