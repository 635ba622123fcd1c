"""What every command module shares: the stderr console, error handling, the option types (options.py).

Command modules stay thin: parse options, call a core function, write records.
Errors raised by the core (InputError, Rg4Error) become one line on stderr and the
exit status of docs/records.md "Conventions every command keeps" (2 input/usage, 1 runtime); a closed stdout (`| head`)
ends the process quietly.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console

# The shared option types live in rg4cli.cli.options; command modules import them from here too.
from rg4cli.cli.options import (  # noqa: F401 - re-exported: commands import their options from here
    AllowOutsideImageRootOpt,
    ApiKeyEnvOpt,
    BaseUrlOpt,
    DeviceOpt,
    ImageRootOpt,
    InputArg,
    JudgeBertOpt,
    JudgeModelOpt,
    LabelerBertOpt,
    LabelerModelOpt,
    ModelNameOpt,
    OnErrorOpt,
    OutputOpt,
    ResumeOpt,
    SeedOpt,
    TextOpt,
    llm_client_options,
)
from rg4cli.errors import InputError, Rg4Error

console = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable)


def log(message: str) -> None:
    """One line of progress or accounting on stderr (never stdout: stdout is data)."""
    console.print(message, markup=False)


def handle_errors(fn: F) -> F:
    """Turn rg4 errors into one stderr line + exit status; end quietly on a closed pipe."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        name = fn.__name__.replace("_", "-").rstrip("-")
        try:
            check_options(kwargs)
            with _sigterm_unwinds(name not in ("train", "launch")):
                return fn(*args, **kwargs)
        except Rg4Error as exc:
            console.print(f"rg4 {name}: error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code) from None
        except BrokenPipeError:
            quiet_broken_pipe()
            raise typer.Exit(0) from None
        except Terminated:
            console.print(f"rg4 {name}: terminated", markup=False)
            raise typer.Exit(143) from None
        except KeyboardInterrupt:
            console.print(f"rg4 {name}: interrupted", markup=False)
            raise typer.Exit(130) from None
        except OSError as exc:  # a full disk or a vanished file where no writer named it: still one line
            where = f"{exc.filename}: " if exc.filename else ""
            console.print(f"rg4 {name}: error: {where}{exc.strerror or exc}", markup=False)
            quiet_broken_pipe()
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]  # wraps() makes it look like fn; mypy cannot tell


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is so that writers end as on Ctrl-C (nothing half-written published)."""


@contextlib.contextmanager
def _sigterm_unwinds(enabled: bool):
    # train handles its own end (launched workers, checkpoints); elsewhere SIGTERM unwinds like SIGINT.
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# Parameters naming files a command reads and files it writes: an output never replaces an input.
INPUT_PARAMS = (
    "input",
    "train_file",
    "ref",
    "against",
    "val",
    "phrases",
    "system_prompt",
    "metadata",
    "split_file",
    "init",
    "model",
    "checkpoint",
    "judge_model",
    "labeler_model",
)
OUTPUT_PARAMS = ("output", "per_report", "summary", "stats_json", "rejects")
FILE_OUTPUT_PARAMS = ("per_report", "summary", "stats_json", "rejects")  # `output` is a directory for train


def check_options(options: dict) -> None:
    """Refuse what no command can use: a float option that is NaN or infinite, an output that is
    also an input, two outputs in one file."""
    import math

    from rg4cli.records.streams import refuse_input_as_output

    for name, value in options.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"must be a finite number, got {value}", field="--" + name.replace("_", "-"))
    inputs = [options[n] for n in INPUT_PARAMS if isinstance(options.get(n), (str, Path))]
    inputs += [p for n in INPUT_PARAMS if isinstance(options.get(n), list) for p in options[n]]  # repeatable
    outputs = [(n, options[n]) for n in OUTPUT_PARAMS if isinstance(options.get(n), (str, Path))]
    for name, path in outputs:
        refuse_input_as_output(path, inputs)
        if name in FILE_OUTPUT_PARAMS and str(path) != "-" and Path(path).is_dir():
            # Refused before the work, not after it.
            raise InputError("is a directory; expected a file name", source=str(path))
    seen: dict[Path, str] = {}
    for name, path in outputs:
        if str(path) == "-":
            continue
        key = Path(path).resolve()
        if key in seen:
            raise InputError(
                f"--{seen[key].replace('_', '-')} and --{name.replace('_', '-')} name the same file", source=str(path)
            )
        seen[key] = name


def quiet_broken_pipe() -> None:
    # Python flushes stdout at exit and would print a second BrokenPipeError: point
    # stdout at /dev/null so the exit is silent (the idiom from the Python docs).
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
