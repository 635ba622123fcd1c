"""`rg4 label`: the 14 CheXpert observations of every report (rules or CheXbert)."""

from __future__ import annotations

import re
from typing import Annotated, Optional

import typer

from rg4cli.errors import InputError
from rg4cli.labelers.backends import BACKENDS, make_labeler
from rg4cli.records.study import TEXT_FIELDS
from rg4cli.records.streams import RecordReader, RecordWriter, map_in_blocks
from rg4cli.cli.common import DeviceOpt, InputArg, OnErrorOpt, OutputOpt, TextOpt, handle_errors, log

PROGRESS_EVERY = 10_000  # records between progress lines on stderr
_FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _fields_read(which: str, record: dict) -> tuple[str, ...]:
    """The record fields `--text` reads, for type checks and error messages."""
    if which == "auto":
        return ("report",) if isinstance(record.get("report"), str) and record["report"].strip() else (
            "findings", "impression")
    if which == "findings+impression":
        return ("findings", "impression")
    return (which,)


def _text(record: dict, which: str) -> tuple[str | None, str | None, str]:
    """(text, field at fault, problem): the text to label, or which field is wrong."""
    fields = _fields_read(which, record)
    for name in fields:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            return None, name, f"expected a string or null, got {type(value).__name__}"
    from rg4cli.records.study import text_of

    text = text_of(record, which)
    if text is None or not text.strip():
        where = "report, findings or impression" if which == "auto" else " and ".join(fields)
        return None, "/".join(fields) if which != "auto" else "report", f"no text to label (empty or missing {where})"
    return text, None, ""


@handle_errors
def label(
    input: InputArg = "-",
    backend: Annotated[str, typer.Option(
        "--backend", help="rules: CheXpert-style phrase rules (offline, fast, explainable); chexbert: the "
        "CheXbert model from --checkpoint.")] = "rules",
    checkpoint: Annotated[Optional[str], typer.Option(
        "--checkpoint", help="For --backend chexbert: the official chexbert.pth (then also --bert) or a directory "
        "written by `rg4 train --task labeler`.", show_default=False)] = None,
    bert: Annotated[Optional[str], typer.Option(
        "--bert", help="bert-base-uncased directory (config.json + vocab) for an official chexbert.pth.",
        show_default=False)] = None,
    text: TextOpt = "auto",
    into: Annotated[str, typer.Option(
        "--into", help="Name of the field the 14 labels are written to.")] = "labels",
    explain: Annotated[bool, typer.Option(
        "--explain", help="Rules backend: also write NAME_explain: {mentions: every mention with its observation, "
        "value, character span (start, end) in the labelled text, sentence span, phrase and the cue that decided "
        "it; other_findings: findings outside the 14 that leave No Finding blank; implied: labels implied by a "
        "phrase (CHF -> Cardiomegaly uncertain)}.")] = False,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", help="Reports per CheXbert forward pass (memory knob; rules ignore it).")] = 32,
    device: DeviceOpt = "auto",
    output: OutputOpt = None,
    on_error: OnErrorOpt = "fail",
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
    with --on-error skip it is left out and counted on stderr.

    \b
    Example:
      rg4 generate studies.jsonl --model m/ | rg4 label > labelled.jsonl
      rg4 label refs.jsonl --text findings --explain -o refs.labelled.jsonl
      rg4 label refs.jsonl --backend chexbert --checkpoint chexbert.pth --bert bert-base-uncased/ --device cuda
    """
    if text not in TEXT_FIELDS:
        raise InputError(f"--text must be one of {', '.join(TEXT_FIELDS)}, got {text!r}")
    if backend not in BACKENDS:
        raise InputError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not _FIELD_NAME_RE.match(into):
        raise InputError(f"--into must be a field name (letters, digits, _ . -), got {into!r}")
    if explain and backend != "rules":
        raise InputError("--explain needs --backend rules (a BERT labeler has no phrases to show)")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    labeler = make_labeler(backend, checkpoint=checkpoint, bert=bert, device=device, batch_size=batch_size)
    reader = RecordReader(input, on_error=on_error, log=log)
    explain_field = f"{into}_explain"

    def prepare(lineno: int, record: dict) -> str | None:
        body, bad_field, problem = _text(record, text)
        if body is None:
            reader.reject(lineno, bad_field, problem)
        return body

    def process(block: list[tuple[dict, str]]) -> list[dict]:
        if explain:
            for record, body in block:
                ex = labeler.explain(body)  # type: ignore[union-attr]
                record[into] = ex["labels"]
                record[explain_field] = {"mentions": ex["mentions"], "other_findings": ex["other_findings"],
                                         "implied": ex["implied"]}
        else:
            for (record, _), labels in zip(block, labeler.label([body for _, body in block])):
                record[into] = labels
        done = writer.count + len(block)
        if writer.count // PROGRESS_EVERY != done // PROGRESS_EVERY:
            log(f"rg4 label: {done} record(s) labelled")
        return [record for record, _ in block]

    with RecordWriter(output) as writer:
        map_in_blocks(reader, writer, prepare, process, block_size=batch_size if backend == "chexbert" else 64)
        count = writer.count
    log(f"rg4 label: labelled {count} record(s) with the {backend} backend")
    summary = reader.summary()
    if summary:
        log(summary)
