"""Where an output really goes: the one output rule of every writer.

A regular file, a path not there yet, or a symbolic link to either is written to
`.partial` beside the link's real target and renamed onto it at the end (the link stays a
link, as `sort -o` and `>` write through it). Anything else (a character device, a FIFO,
a socket, `/proc/<pid>/fd/N` or `/dev/fd/N`, `/dev/stdout`) is written directly,
streaming, and never renamed, replaced or removed.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from rg4cli.errors import InputError

# Links to a process's descriptors: what they name is whatever the descriptor is (a pipe, a
# terminal, a file opened by the shell), never a file to replace.
_FD_LINK = re.compile(r"^/(proc/[^/]+|dev)/fd/\d+$")
_MAX_LINKS = 40


@dataclass(frozen=True)
class OutputTarget:
    """`real`: the file a writer of `given` writes; `direct`: written in place, streaming."""

    given: Path
    real: Path
    direct: bool


def resolve_output(path: str | os.PathLike) -> OutputTarget:
    given = Path(path)
    cur = Path(os.path.abspath(given))
    for _ in range(_MAX_LINKS):
        if _FD_LINK.match(str(cur)):
            return OutputTarget(given, cur, True)
        try:
            info = os.lstat(cur)
        except FileNotFoundError:
            return OutputTarget(given, cur, False)  # a new file (or a dangling link's target)
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror or exc}", source=str(given)) from None
        if stat.S_ISLNK(info.st_mode):
            cur = Path(os.path.abspath(cur.parent / os.readlink(cur)))
            continue
        if stat.S_ISDIR(info.st_mode):
            raise InputError("is a directory; -o needs a file name", source=str(given))
        return OutputTarget(given, cur, not stat.S_ISREG(info.st_mode))
    raise InputError("too many levels of symbolic links", source=str(given))
