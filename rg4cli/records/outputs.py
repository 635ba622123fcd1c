"""The one JSON Lines writer of rg4, `.partial` files and writer locks.

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

import errno
import fcntl
import gzip
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from rg4cli.errors import InputError, Rg4Error
from rg4cli.records.jsonl import _LIVE_READERS, display_name, dumps_json
from rg4cli.records.resume import complete_ids, partial_path


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
