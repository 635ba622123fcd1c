"""`rg4 label`: the 14 CheXpert observations of every report (rules or CheXbert)."""

from __future__ import annotations

from typing import Annotated

import typer

from rg4cli.cli.common import (
    DeviceOpt,
    InputArg,
    LabelerBertOpt,
    LabelerModelOpt,
    OnErrorOpt,
    OutputOpt,
    ResumeOpt,
    TextOpt,
    handle_errors,
    log,
)
from rg4cli.cli.options import ChexbertTextOpt
from rg4cli.labelers import LabelSettings, label_records


@handle_errors
def label(
    input: InputArg = "-",
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="rules: CheXpert-style phrase rules (offline, fast, explainable); chexbert: the "
            "CheXbert model from --labeler-model.",
        ),
    ] = LabelSettings.backend,
    labeler_model: LabelerModelOpt = None,
    labeler_bert: LabelerBertOpt = None,
    chexbert_text: ChexbertTextOpt = LabelSettings.chexbert_text,
    text: TextOpt = LabelSettings.text,
    into: Annotated[
        str, typer.Option("--into", help="Name of the field the 14 labels are written to.")
    ] = LabelSettings.into,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Rules backend: also write NAME_explain: {mentions: every mention with its observation, "
            "value, character span (start, end) in the labelled text, sentence span, phrase and the cue that decided "
            "it; other_findings: findings outside the 14 that leave No Finding blank; no_finding_blockers: phrases "
            "that leave it blank even when denied ('no rib fracture'); implied: labels implied by a "
            "phrase (CHF -> Cardiomegaly uncertain)}.",
        ),
    ] = LabelSettings.explain,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Reports per CheXbert forward pass (memory knob; rules ignore it).")
    ] = LabelSettings.batch_size,
    device: DeviceOpt = LabelSettings.device,
    output: OutputOpt = None,
    on_error: OnErrorOpt = LabelSettings.on_error,
    resume: ResumeOpt = LabelSettings.resume,
) -> None:
    """Label the 14 CheXpert observations of every report.

    Reads JSONL records and writes them back with a `labels` field (or --into NAME):
    {observation: 1 positive, 0 negative, -1 uncertain, null not mentioned} for the
    14 CheXpert observations in CheXbert's order. No Finding is 1 or null (CheXpert:
    1 when none of the other 13 but Support Devices is positive or uncertain and no
    other finding such as emphysema or scoliosis is reported). Rules follow CheXpert:
    "stable heart size" is uncertain, "no new consolidation" uncertain, "stable
    cardiomegaly" positive, "resolved effusion" negative, "X versus Y" both uncertain.

    The text is chosen by --text: by default `report` when present, else findings +
    impression. A record with no text to read is an error naming the field (exit 2);
    with --on-error skip it is left out and counted on stderr. The labels are bound to
    the text they were computed from (a `provenance` entry: docs/records.md, "Annotations are bound to their text").

    \b
    Example:
      rg4 generate studies.jsonl --model m/ | rg4 label > labelled.jsonl
      rg4 label refs.jsonl --text findings --explain -o refs.labelled.jsonl
      rg4 label refs.jsonl --backend chexbert --labeler-model chexbert.pth --labeler-bert bert/
    """
    settings = LabelSettings(
        backend=backend,
        labeler_model=labeler_model,
        labeler_bert=labeler_bert,
        text=text,
        into=into,
        explain=explain,
        batch_size=batch_size,
        chexbert_text=chexbert_text,
        device=device,
        on_error=on_error,
        resume=resume,
    )
    summary = label_records(input, output, settings, log=log)
    log(f"rg4 label: labeled {summary.written} record(s) with the {summary.backend} backend")
    if summary.skip_line:
        log(summary.skip_line)
