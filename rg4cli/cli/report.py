"""`rg4 report`: one self-contained HTML page of a run (rg4cli.report)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from rg4cli.cli.common import (
    AllowOutsideImageRootOpt,
    ImageRootOpt,
    InputArg,
    OutputOpt,
    TextOpt,
    handle_errors,
    log,
)
from rg4cli.report import ReportSettings, write_report


@handle_errors
def report(
    input: InputArg = "-",
    ref: Annotated[
        str | None,
        typer.Option("--ref", help="References (JSONL, joined by id), e.g. the test studies.", show_default=False),
    ] = None,
    score: Annotated[
        list[str] | None,
        typer.Option(
            "--score",
            help="A `rg4 score` summary, as PATH or NAME=PATH (repeat for several systems).",
            show_default=False,
        ),
    ] = None,
    train: Annotated[
        list[str] | None,
        typer.Option(
            "--train",
            help="A model directory written by `rg4 train`, or the summary it printed (repeat per stage).",
            show_default=False,
        ),
    ] = None,
    image_root: ImageRootOpt = None,
    allow_outside_image_root: AllowOutsideImageRootOpt = ReportSettings.allow_outside_image_root,
    text: TextOpt = ReportSettings.text,
    ref_text: Annotated[
        str, typer.Option("--ref-text", help="Reference text shown (the choices of --text).")
    ] = ReportSettings.ref_text,
    thumb_size: Annotated[
        int, typer.Option("--thumb-size", help="Thumbnail size in pixels (longest side).")
    ] = ReportSettings.thumb_size,
    thumb_budget_mb: Annotated[
        float,
        typer.Option(
            "--thumb-budget-mb", help="Most megabytes of thumbnails; over it they are made smaller (one note)."
        ),
    ] = ReportSettings.thumb_budget_mb,
    title: Annotated[str, typer.Option("--title", help="The page's title.")] = ReportSettings.title,
    output: OutputOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr (notes stay).")] = False,
) -> None:
    """Write one HTML page of a run: metrics, charts and a study browser, all inline.

    Reads generated records (a file or stdin; best after `rg4 label | rg4 hallucination`),
    their references (--ref; labels and `sentence_weights` there are shown when computed
    from the reference text), `rg4 score` summaries (--score, one per system: the metric
    table, per-observation CE, intervals and comparisons when the summary has them) and the
    model directories of `rg4 train` (--train: options, seed, digest, loss curves). The page
    opens from file:// with no network: styles, script, SVG charts, data and thumbnails
    (grayscale JPEG, --thumb-size) are inline. Annotations computed from another text are
    not shown; labels missing for a shown text are computed with the rules labeler.
    Problems that still leave a page (missing images, records without a reference, a score
    summary of other studies) are notes at its top and lines on stderr.

    \b
    Example:
      rg4 report gen.judged.jsonl --ref test.weights.jsonl --score gen=score.gen.json \\
        --train stage1 --train stage2 --image-root phantom -o report.html
    """
    settings = ReportSettings(
        input=None if input == "-" else input,
        output=output,
        ref=ref,
        scores=tuple(score or ()),
        train=tuple(train or ()),
        image_root=str(image_root) if image_root is not None else None,
        allow_outside_image_root=allow_outside_image_root,
        text=text,
        ref_text=ref_text,
        thumb_size=thumb_size,
        thumb_budget_mb=thumb_budget_mb,
        title=title,
    )
    result = write_report(settings, log=None if quiet else log)
    for note in result.notes:
        log(f"rg4 report: note: {note}")
    if result.html is not None:
        sys.stdout.write(result.html)
        sys.stdout.flush()
    elif not quiet:
        log(f"rg4 report: {result.studies} studies -> {result.path} ({result.bytes / 1e6:.1f} MB)")
