"""The `rg4` entry point: registers one Typer command per module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from rg4cli import __version__
from rg4cli.cli import build_data, generate, hallucination, label, report, score, synth, train, weights

app = typer.Typer(
    name="rg4",
    help="LLM-RG4 chest X-ray report generation as composable JSON Lines commands.\n\n"
    "Every command reads a file or stdin and writes JSONL (or one JSON summary) to stdout; "
    "progress and tables go to stderr.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

# Pipeline order, which is also the order `rg4 --help` lists them in.
COMMANDS: dict[str, Callable[..., Any]] = {
    "synth": synth.synth,
    "build-data": build_data.build_data,
    "label": label.label,
    "hallucination": hallucination.hallucination,
    "weights": weights.weights,
    "train": train.train,
    "generate": generate.generate,
    "score": score.score,
    "report": report.report,
}
for _name, _fn in COMMANDS.items():
    app.command(_name)(_fn)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rg4 {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = None,
) -> None:
    """LLM-RG4 chest X-ray report generation as composable JSON Lines commands."""


def main() -> None:
    app(prog_name="rg4")
