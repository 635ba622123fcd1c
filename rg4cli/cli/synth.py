"""`rg4 synth`: phantom studies in MIMIC-CXR-JPG or IU X-ray layout (core: rg4cli.synth)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from rg4cli.cli.common import SeedOpt, handle_errors, log
from rg4cli.synth import SynthSettings, synthesize


@handle_errors
def synth(
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Directory to write the tree into (created; must be empty unless --force).",
            show_default=False,
        ),
    ],
    subjects: Annotated[
        int, typer.Option("--subjects", help="Number of subjects; each has 1..--studies-per-subject studies over time.")
    ] = SynthSettings.subjects,
    studies_per_subject: Annotated[
        int, typer.Option("--studies-per-subject", help="Most studies one subject can have (1 means no prior studies).")
    ] = SynthSettings.studies_per_subject,
    image_size: Annotated[
        int, typer.Option("--image-size", help="Image side in pixels (square JPEGs, 32..1024).")
    ] = SynthSettings.image_size,
    image_format: Annotated[
        str,
        typer.Option(
            "--image-format",
            help="jpeg (MIMIC-CXR-JPG), png (8-bit), png16 "
            "(16-bit grayscale) or dicom (12-bit MONOCHROME2, with study UIDs "
            "and ViewPosition). Default: jpeg, png for --layout iu.",
            show_default=False,
        ),
    ] = SynthSettings.image_format,
    layout: Annotated[
        str,
        typer.Option(
            "--layout",
            help="mimic (MIMIC-CXR-JPG tree) or iu (IU X-ray: reports.jsonl, R2Gen annotation.json, images/).",
        ),
    ] = SynthSettings.layout,
    seed: SeedOpt = SynthSettings.seed,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a non-empty directory (files with the same names are overwritten, others are left alone).",
        ),
    ] = SynthSettings.force,
) -> None:
    """Write phantom studies in MIMIC-CXR-JPG layout, for demos and tests.

    Reads nothing. Writes under the -o directory: files/pNN/pSUBJECT/sSTUDY/DICOM.jpg (frontal PA/AP
    phantom and, for most studies, a lateral one), files/pNN/pSUBJECT/sSTUDY.txt (free-text
    report with MIMIC headers and ___ de-identification), mimic-cxr-2.0.0-metadata.csv.gz,
    mimic-cxr-2.0.0-split.csv.gz (by subject) and truth.jsonl (per study: split, labels of
    the 14 observations, findings/impression, input-agnostic categories and the sentences
    carrying them, the drawn findings). Subjects have several studies whose findings
    evolve; reports carry prior comparisons (~40% of studies without a prior, as in
    LLM-RG4's Table 1, ~85% of those with one), prior procedures (~15%), view
    statements and communications (~5% each). Same --seed, same bytes. Prints one summary
    line on stderr, nothing on stdout. --image-format png16 / dicom writes the same phantoms
    as 16-bit PNG or DICOM (for the image reader's paths); --layout iu writes an IU X-ray tree.

    \b
    Example:
      rg4 synth --subjects 20 --seed 1 -o phantom/
      rg4 build-data phantom/ -o data.jsonl && rg4 label data.jsonl | head
    """
    start = time.perf_counter()
    summary = synthesize(
        SynthSettings(
            output=output,
            subjects=subjects,
            studies_per_subject=studies_per_subject,
            image_size=image_size,
            image_format=image_format,
            layout=layout,
            seed=seed,
            force=force,
        )
    )
    elapsed = time.perf_counter() - start
    log(
        f"rg4 synth: {summary['subjects']} subjects, {summary['studies']} studies, {summary['images']} images "
        f"-> {output} ({elapsed:.1f} s)"
    )
