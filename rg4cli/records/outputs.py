"""The one JSON Lines writer of rg4, `.partial` files and writer locks.

Writing: stdout streams, one flush per record. `-o FILE` is written to `FILE.partial`
beside the real file (one flush per record) and renamed to FILE when the run succeeds; an
error, an interrupt or a kill leaves FILE as it was and the records in `FILE.partial` for
`--resume` (records.targets: devices, pipes and links to them are written directly). With
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
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from rg4cli.errors import InputError, Rg4Error
from rg4cli.records.jsonl import _LIVE_READERS, display_name, dumps_json
from rg4cli.records.resume import complete_ids, complete_lines, drop_cut_line, is_gzip, partial_path
from rg4cli.records.targets import resolve_output


def same_file(a: str | os.PathLike | None, b: str | os.PathLike | None) -> bool:
    """Whether two paths name one existing file (links and spellings resolved)."""
    if a in (None, "-") or b in (None, "-"):
        return False
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def refuse_input_as_output(output: str | os.PathLike | None, inputs: Iterable[Any] = ()) -> None:
    """InputError when `output` is one of `inputs` (`-`: this process's stdin) or a file a live RecordReader reads."""
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
    reads_stdin = any(p in (None, "-") for p in inputs) or any(r.path in (None, "-") for r in list(_LIVE_READERS))
    if reads_stdin and _is_stdin(output):
        raise InputError(
            "is this command's standard input; an output never replaces an input: write to another file",
            source=str(output),
        )


def _is_stdin(path: str | os.PathLike) -> bool:
    try:
        here, there = os.fstat(sys.stdin.fileno()), os.stat(path)
    except (OSError, ValueError, AttributeError):  # no stdin descriptor (a test runner's buffer), no file
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


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

    `path` None or `-` is stdout. A regular FILE (or a link to one) is written to
    FILE.partial beside the real file and renamed onto it at close (a `.gz` FILE is
    compressed from the plain `.partial` then); a device, FIFO or descriptor link is
    written directly (records.targets). Leaving a `with` block by an exception or an
    interrupt never publishes: the `.partial` stays for `--resume` when `resumable`, else
    it is removed. `append=True` (resume) continues the complete records already there
    (FILE.partial of a killed run, else FILE), whose ids `resumed_ids` holds. `inputs`:
    files this writer must not replace (besides those a live RecordReader reads).
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        append: bool = False,
        inputs: Iterable[Any] = (),
        resumable: bool = True,
    ):
        self.path = None if path in (None, "-") else Path(path)
        self.count = 0
        self.resumed_ids: set = set()
        self.kept: Path | None = None  # the .partial an aborted writer left for --resume
        self._resumable = resumable
        self._failed = False
        self._closed = False
        self._lock: _Lock | None = None
        self._data: Path | None = None
        self._real: Path | None = None
        self._gzip = False
        if self.path is None:
            if append:
                raise InputError("--resume needs -o FILE (the records already there are kept and skipped)")
            self._fh: IO[str] = sys.stdout
            self._own = False
            return
        refuse_input_as_output(self.path, inputs)
        target = resolve_output(self.path)
        self._own = True
        self._real = target.real
        self._gzip = target.real.suffix == ".gz"
        if target.direct:
            if append:
                raise InputError(
                    "--resume needs -o to be a regular file (this is a device, pipe or descriptor, written directly)",
                    source=str(self.path),
                )
            try:
                self._fh = (
                    gzip.open(target.real, "wt", encoding="utf-8")
                    if self._gzip
                    else open(target.real, "w", encoding="utf-8")
                )
            except OSError as exc:
                raise _write_error(self.path, exc) from None
            return
        try:
            target.real.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise InputError(f"cannot write: {target.real.parent} is not a directory", source=str(self.path)) from None
        except OSError as exc:
            raise _write_error(self.path, exc) from None
        self._lock = _Lock(partial_path(target.real), self.path)
        self._data = self._lock.path
        try:
            if append:
                self._start_resume()
            else:
                self._lock.truncate()
            self._fh = open(self._data, "a", encoding="utf-8")
        except BaseException as exc:
            self._lock.release(remove=self._lock.size() == 0)
            self._lock = None
            if isinstance(exc, OSError):
                raise _write_error(self.path, exc) from None
            raise

    def _start_resume(self) -> None:
        """Make FILE.partial hold, as plain text, the complete records to continue."""
        assert self._lock is not None and self._real is not None
        partial = self._lock.path
        if self._lock.size() > 0 and not is_gzip(partial):
            drop_cut_line(partial)  # a killed run's records, plain: cut in place
        else:
            source = partial if self._lock.size() > 0 else self._real
            if source.is_file():
                # Through a temporary file: the .partial's inode carries the lock, so it is rewritten in place.
                tmp = partial.with_name(partial.name + ".tmp")
                try:
                    with open(tmp, "w", encoding="utf-8") as out:
                        for _, text, _record in complete_lines(source):
                            out.write(text)
                    with open(tmp, "rb") as src, open(partial, "r+b") as dst:
                        dst.truncate(0)
                        shutil.copyfileobj(src, dst, 1 << 20)
                finally:
                    _unlink(tmp)
        self.resumed_ids = complete_ids(partial)

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
            self._fh.write(line)  # not line + "\n": a copy of a very long line
            self._fh.write("\n")
            self._fh.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            self._failed = True
            if not self._own:
                _silence_stdout()
                raise Rg4Error(f"<stdout>: cannot write: {exc.strerror or exc}") from None
            kept = ""
            if self._lock is not None and self._resumable and self.count + len(self.resumed_ids):
                kept = f" ({self.count + len(self.resumed_ids)} record(s) before it are in {self._data}; --resume continues them)"
            raise _write_error(self.path, exc, kept) from None
        self.count += 1

    def close(self) -> None:
        """Publish: the output is complete."""
        if self._closed:
            return
        if self._failed:
            self.abort()
            return
        self._closed = True
        if not self._own:
            self._fh.flush()
            return
        if self._lock is None:  # written directly
            try:
                self._fh.close()
            except OSError as exc:
                raise _write_error(self.path, exc) from None
            return
        assert self._data is not None and self._real is not None
        tmp = self._real.with_name(f".{self._real.name}.{os.getpid()}.tmp")
        try:
            self._fh.close()
            if self._gzip:
                _compress(self._data, tmp)
                os.replace(tmp, self._real)
            else:
                _fsync(self._data)
                os.replace(self._data, self._real)
        except BaseException as exc:
            _unlink(tmp)
            self._closed = False
            self.abort()
            if isinstance(exc, OSError):
                raise _write_error(self.path, exc) from None
            raise
        self._lock.release(remove=True)
        self._lock = None

    def abort(self) -> None:
        """End without publishing: FILE stays as it was; FILE.partial stays for --resume (when the
        command has it and it holds records) or goes."""
        if self._closed:
            return
        self._closed = True
        if not self._own:
            try:
                self._fh.flush()
            except (OSError, ValueError):
                pass
            return
        try:
            self._fh.close()
        except (OSError, ValueError):
            pass
        if self._lock is not None:
            keep = self._resumable and (self.count > 0 or bool(self.resumed_ids))
            self.kept = self._lock.path if keep else None
            self._lock.release(remove=not keep)
            self._lock = None

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
            return
        self.abort()
        if self.kept is not None and isinstance(exc, Rg4Error) and not self._failed:
            _add_note(
                exc,
                f"{self.count + len(self.resumed_ids)} record(s) written are in {self.kept}; rerun with --resume to continue",
            )


def _add_note(exc: Rg4Error, note: str) -> None:
    """Append to the one line an error prints."""
    if isinstance(exc, InputError):
        exc.problem = f"{exc.problem} ({note})"
        exc.args = (str(exc),)
    else:
        exc.args = (f"{exc} ({note})",)


def _compress(source: Path, dest: Path) -> None:
    """gzip `source` into `dest`: the same bytes for the same content (no time stamp, no name)."""
    with open(source, "rb") as src, open(dest, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            shutil.copyfileobj(src, gz, 1 << 20)
        raw.flush()
        os.fsync(raw.fileno())


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


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
    refuse_input_as_output(path, inputs)
    text = dumps_json(obj, indent=2) + "\n"
    target = resolve_output(path)
    p = target.real
    if target.direct:  # /dev/stdout, a pipe: written in place
        try:
            with open(p, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise _write_error(path, exc) from None
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
