"""What every command module shares: option types, stderr console, error handling.

Command modules stay thin: parse options, call a core function, write records.
Errors raised by the core (InputError, Rg4Error) become one line on stderr and the
exit status of README "Conventions every command keeps" (2 input/usage, 1 runtime); a closed stdout (`| head`)
ends the process quietly.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated, Callable, Optional, TypeVar

import typer
from rich.console import Console

from rg4cli.errors import InputError, Rg4Error

console = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable)

# ---- shared option types ------------------------------------------------------
InputArg = Annotated[
    str, typer.Argument(help="Input JSONL (.jsonl or .jsonl.gz); '-' or omitted reads stdin.", show_default=False)
]
OutputOpt = Annotated[
    Optional[str], typer.Option("--output", "-o", help="Write here instead of stdout ('.gz' compresses).")
]
OnErrorOpt = Annotated[
    str, typer.Option("--on-error", help="fail: stop at the first bad record (exit 2); skip: skip it and count it on stderr.")
]
ImageRootOpt = Annotated[
    Optional[Path], typer.Option("--image-root", help="Directory that relative image paths are resolved against.")
]
TextOpt = Annotated[
    str,
    typer.Option("--text", help="Text to read: auto (report if present, else findings+impression), report, "
                 "findings, impression, findings+impression."),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (results are deterministic given it).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Keep the records already in -o FILE and skip their ids.")]
# An OpenAI-compatible endpoint (build-data's openai generator and judge, hallucination --backend openai).
BaseUrlOpt = Annotated[Optional[str], typer.Option(
    "--base-url", help="openai: endpoint base URL, e.g. http://localhost:8000/v1.", show_default=False)]
ModelNameOpt = Annotated[Optional[str], typer.Option(
    "--model-name", help="openai: the model name the server serves.", show_default=False)]
ApiKeyEnvOpt = Annotated[str, typer.Option(
    "--api-key-env", help="openai: environment variable holding the API key (never printed; may be unset for "
    "local servers).")]


def llm_client_options(backend: str, base_url: str | None, model_name: str | None, api_key_env: str,
                       **more) -> dict | None:
    """The openai client's options for a judge or generator, None for other backends."""
    if backend != "openai":
        return None
    return {"base_url": base_url, "model_name": model_name, "api_key_env": api_key_env, **more}


def log(message: str) -> None:
    """One line of progress or accounting on stderr (never stdout: stdout is data)."""
    console.print(message, markup=False)


def fail_usage(message: str) -> None:
    raise InputError(message)


def handle_errors(fn: F) -> F:
    """Turn rg4 errors into one stderr line + exit status; end quietly on a closed pipe."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        name = fn.__name__.replace("_", "-").rstrip("-")
        try:
            return fn(*args, **kwargs)
        except Rg4Error as exc:
            console.print(f"rg4 {name}: error: {exc}", markup=False)
            raise typer.Exit(exc.exit_code)
        except BrokenPipeError:
            quiet_broken_pipe()
            raise typer.Exit(0)
        except KeyboardInterrupt:
            console.print(f"rg4 {name}: interrupted", markup=False)
            raise typer.Exit(130)

    return wrapper  # type: ignore[return-value]


def quiet_broken_pipe() -> None:
    # Python flushes stdout at exit and would print a second BrokenPipeError: point
    # stdout at /dev/null so the exit is silent (the idiom from the Python docs).
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def not_implemented(command: str) -> None:
    console.print(f"rg4 {command}: not implemented yet", markup=False)
    raise typer.Exit(2)
