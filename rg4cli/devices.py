"""`--device` for every command: one resolution of auto/cpu/cuda[:N]/mps."""

from __future__ import annotations

from rg4cli.errors import InputError


def resolve_device(name: str | None = "auto"):
    """'auto' (or empty) → cuda when available, else mps, else cpu; others are checked.

    Returns a torch.device. torch is imported here, not at module level, so commands
    that never touch a model start fast.
    """
    import torch

    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_ok else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(f"--device must be auto, cpu, cuda, cuda:N or mps, got {name!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {name}: no CUDA device is available here (use cpu or auto)")
    if dev.type == "mps" and not mps_ok:
        raise InputError(f"--device {name}: MPS is not available here (use cpu or auto)")
    return dev
