"""Read foreign `.pth` / `.pkl` checkpoints without running anything they hold.

A `.pth` file is a pickle: loading it with plain `torch.load` runs whatever the file
asks for. rg4 reads every checkpoint a user hands over through torch's own restricted
unpickler (`torch.load(weights_only=True)`): tensors, storages, dtypes, numbers,
strings, lists, tuples, dicts and OrderedDicts, nothing else.

The released LLM-RG4 and DiscBERT checkpoints hold one thing more: the Lightning
module's hyperparameters (`self.hparams`) under `config`, an `AttributeDict`, a dict
subclass with attribute access. `load_checkpoint` admits exactly that class, under
every module path Lightning has given it, as a stand-in that builds a plain `dict`
(the pickle fills it item by item, as any dict). The Lightning class itself is never
imported and nothing else is admitted: any other global (a function, a class with a
`__reduce__` payload) is refused with one line before it could be called.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from rg4cli.errors import InputError

# Where Lightning has defined AttributeDict: lightning 2.0 (the released code's pin,
# `import lightning.pytorch as pl`), lightning >= 2.1 (moved to fabric), the standalone
# pytorch_lightning / lightning_fabric packages.
ATTRIBUTE_DICT_PATHS = (
    "lightning.pytorch.utilities.parsing.AttributeDict",
    "lightning.fabric.utilities.data.AttributeDict",
    "pytorch_lightning.utilities.parsing.AttributeDict",
    "lightning_fabric.utilities.data.AttributeDict",
)


class LightningHyperparameters:
    """Stand-in for Lightning's AttributeDict: unpickling it yields a plain, empty dict
    (torch's restricted unpickler then sets its items as for any dict)."""

    # mypy wants __new__ to return an instance of its class; returning a dict is the point.
    def __new__(cls, *args: Any, **kwargs: Any) -> dict:  # type: ignore[misc]  # a dict stand-in: __new__ returns a plain dict on purpose
        return {}


# Typed as callables for torch: mypy does not take a class whose __new__ returns a dict for one.
_ADMITTED: list[Any] = [(LightningHyperparameters, path) for path in ATTRIBUTE_DICT_PATHS]
_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+)")
_REFUSED_RE = re.compile(r"(?:Can only [^\n]*|Trying to call reduce for [^\n]*|Unsupported class [^\n]*)")


def refusal_reason(exc: BaseException) -> str | None:
    """What the restricted unpickler refused, in a few words, or None when the file was
    simply not a pickle it could read (torch's message spans many lines)."""
    text = str(exc)
    m = _GLOBAL_RE.search(text)
    if m:
        return f"it asks to load {m.group(1)}"
    m = _REFUSED_RE.search(text)
    return m.group(0)[:200] if m else None


def load_checkpoint(path: str | os.PathLike, *, what: str = "checkpoint") -> Any:
    """`torch.load` restricted to tensors, containers and Lightning's hyperparameter dict.

    Raises InputError (one line, naming the file) for a missing file, a file that is not
    a torch checkpoint, or one that asks for anything else; nothing in it has run then.
    """
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{p} is a directory; give the {what} file")
    if not p.is_file():
        raise InputError(f"no such {what}: {p}")
    try:
        with torch.serialization.safe_globals(_ADMITTED):
            return torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every failure is one line for the user
        reason = refusal_reason(exc)
        if reason is not None:
            raise InputError(
                f"{what} {p} refused: {reason}; rg4 loads only tensors, containers and Lightning's "
                "hyperparameter dict from a .pth file, and ran nothing from it"
            ) from None
        raise InputError(
            f"cannot read {what} {p}: not a torch checkpoint, or a damaged one ({exc.__class__.__name__})"
        ) from None
