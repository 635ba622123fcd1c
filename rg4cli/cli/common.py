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
from typing import Annotated, Any, Callable, Optional, TypeVar

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
    Optional[Path], typer.Option("--image-root", help="Directory that relative image paths are resolved against; "
                                 "images must lie inside it (see --allow-outside-image-root).")
]
AllowOutsideImageRootOpt = Annotated[
    bool, typer.Option("--allow-outside-image-root", help="Let image paths leave --image-root (absolute paths, "
                       "'..', symlinks); off by default so a record cannot make rg4 read other files.")
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


def _classifier_options(role: str, model_help: str, official: str) -> tuple[Any, Any]:
    """--ROLE-model PATH and --ROLE-bert DIR: a BERT classifier and the BERT its official checkpoint needs."""
    model = Annotated[Optional[str], typer.Option(f"--{role}-model", help=model_help, show_default=False)]
    bert = Annotated[Optional[str], typer.Option(
        f"--{role}-bert", help=f"bert-base-uncased directory (config.json + vocab) for {official}.", show_default=False)]
    return model, bert


# The BERT classifiers, spelled one way in every command: --labeler-model/--labeler-bert
# for the CheXbert-shaped labeler, --judge-model/--judge-bert for DiscBERT.
LabelerModelOpt, LabelerBertOpt = _classifier_options(
    "labeler", "BERT labeler: the official chexbert.pth (then also --labeler-bert) or a directory written by "
    "`rg4 train --task labeler`.", "an official chexbert.pth")
JudgeModelOpt, JudgeBertOpt = _classifier_options(
    "judge", "DiscBERT: a directory written by `rg4 train --task discbert`, or the official Lightning checkpoint "
    "(then also --judge-bert).", "the official DiscBERT checkpoint")
# Spellings of earlier releases, still accepted and hidden from --help (one hidden option
# each: typer cannot hide one name of an option); `alias` folds them into the new one.
OldCheckpointOpt = Annotated[Optional[str], typer.Option("--checkpoint", hidden=True)]
OldModelOpt = Annotated[Optional[str], typer.Option("--model", hidden=True)]
OldLabelerOpt = Annotated[Optional[str], typer.Option("--labeler", hidden=True)]
OldBertOpt = Annotated[Optional[str], typer.Option("--bert", hidden=True)]


def alias(value: str | None, old_value: str | None, name: str, old_name: str) -> str | None:
    """The option's value, given under its name or under the old spelling (not both, unless equal)."""
    if value is not None and old_value is not None and value != old_value:
        raise InputError(f"{old_name} is the old spelling of {name}: give one of them")
    if old_value is not None and value is None:
        log(f"rg4: note: {old_name} is now spelled {name} (the old spelling still works, for a while)")
    return value if value is not None else old_value


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
        except OSError as exc:   # a full disk or a vanished file where no writer named it: still one line
            where = f"{exc.filename}: " if exc.filename else ""
            console.print(f"rg4 {name}: error: {where}{exc.strerror or exc}", markup=False)
            quiet_broken_pipe()
            raise typer.Exit(1)

    return wrapper  # type: ignore[return-value]


# Parameters naming files a command reads and files it writes: an output never replaces an input.
INPUT_PARAMS = ("input", "train_file", "ref", "against", "val", "phrases", "system_prompt", "metadata", "split_file",
                "init", "model", "checkpoint", "judge_model", "labeler_model")
OUTPUT_PARAMS = ("output", "per_report", "summary", "stats_json", "rejects")


def check_options(options: dict) -> None:
    """Refuse what no command can use: a float option that is NaN or infinite, an output that is
    also an input, two outputs in one file."""
    import math

    from rg4cli.records.streams import refuse_input_as_output

    for name, value in options.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"must be a finite number, got {value}", field="--" + name.replace("_", "-"))
    inputs = [options[n] for n in INPUT_PARAMS if isinstance(options.get(n), (str, Path))]
    outputs = [(n, options[n]) for n in OUTPUT_PARAMS if isinstance(options.get(n), (str, Path))]
    for name, path in outputs:
        refuse_input_as_output(path, inputs)
    seen: dict[Path, str] = {}
    for name, path in outputs:
        if str(path) == "-":
            continue
        key = Path(path).resolve()
        if key in seen:
            raise InputError(f"--{seen[key].replace('_', '-')} and --{name.replace('_', '-')} name the same file",
                             source=str(path))
        seen[key] = name


def quiet_broken_pipe() -> None:
    # Python flushes stdout at exit and would print a second BrokenPipeError: point
    # stdout at /dev/null so the exit is silent (the idiom from the Python docs).
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass

