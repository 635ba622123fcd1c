"""Writing a model directory so that a full disk or an interrupt leaves nothing half-written.

The files are written into a hidden directory inside the target and moved into place (a
rename each, which needs no space) once all of them are written; on any failure the hidden
directory is removed and a full disk is one line.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from rg4cli.errors import Rg4Error


def save_into(final: str | os.PathLike, write: Callable[[Path], None], what: str = "model") -> Path:
    """Call `write(tmp_dir)`, then move what it wrote into `final` (replacing entries of the same name)."""
    from safetensors import SafetensorError

    final = Path(final)
    try:
        final.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise Rg4Error(f"{final}: cannot write the {what}: {exc.strerror or exc}") from None
    tmp = final / f".rg4-saving-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        write(tmp)
        for entry in sorted(tmp.iterdir()):
            target = final / entry.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(entry, target)
    except (OSError, SafetensorError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc).splitlines()[0][:200]
        raise Rg4Error(f"{final}: cannot write the {what}: {reason}; nothing half-written was left") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final
