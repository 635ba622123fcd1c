"""rg4 label: the 14 CheXpert observations of a report (rules and BERT classifier backends).

Library entry: `label_records(input, output, LabelSettings(...))` reads JSONL study
records, writes them back with the labels bound to the text they were computed from
(records.provenance), and returns a `StageSummary`. `make_labeler` (labelers.backends)
is the per-text API.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from rg4cli.errors import InputError
from rg4cli.labelers.backends import BACKENDS, make_labeler
from rg4cli.records.annotate import StageSummary, annotate_records
from rg4cli.records.provenance import bind
from rg4cli.records.study import ChosenText, choose_text, resolve_text_field

PROGRESS_EVERY = 10_000  # records between progress lines
FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
BLOCK_RECORDS = 64  # rules: records per block (a BERT labeler uses its batch size)

__all__ = ["BACKENDS", "LabelSettings", "label_records", "make_labeler"]


@dataclass
class LabelSettings:
    """What `rg4 label` does: which labeler, which text, where the labels go."""

    backend: str = "rules"
    labeler_model: str | None = None  # chexbert: the official chexbert.pth or an `rg4 train --task labeler` directory
    labeler_bert: str | None = None  # bert-base-uncased directory for an official chexbert.pth
    chexbert_text: str = "chexbert"  # model.chexbert_input.CHEXBERT_TEXT
    text: str = "auto"
    into: str = "labels"
    explain: bool = False
    batch_size: int = 32
    device: str = "auto"
    on_error: str = "fail"
    resume: bool = False  # keep the records already in the output, pass over their ids

    def check(self) -> LabelSettings:
        resolve_text_field({}, self.text)  # --text is one of TEXT_FIELDS
        if self.backend not in BACKENDS:
            raise InputError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if not FIELD_NAME_RE.match(self.into):
            raise InputError(f"--into must be a field name (letters, digits, _ . -), got {self.into!r}")
        if self.explain and self.backend != "rules":
            raise InputError("--explain needs --backend rules (a BERT labeler has no phrases to show)")
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        return self


def label_records(
    input: str | os.PathLike | None,
    output: str | os.PathLike | None,
    settings: LabelSettings,
    *,
    labeler=None,
    log: Callable[[str], None] | None = None,
) -> StageSummary:
    """Label every record of `input` (a JSONL path or `-`) into `output` (path, `-` or None: stdout).

    `labeler`: an object from `make_labeler` to use instead of building one from the
    settings. The labels go to `settings.into`, bound to the text read; with `explain`,
    `INTO_explain` holds the mentions behind them.
    """
    settings.check()
    if labeler is None:
        labeler = make_labeler(
            settings.backend,
            checkpoint=settings.labeler_model,
            bert=settings.labeler_bert,
            device=settings.device,
            batch_size=settings.batch_size,
            text_mode=settings.chexbert_text,
        )
    into, explain_field = settings.into, f"{settings.into}_explain"

    def annotate(block: list[tuple[dict, ChosenText]]) -> None:
        if settings.explain:
            for record, chosen in block:
                ex = labeler.explain(chosen.read)
                bind(record, into, ex["labels"], text_field=chosen.field, text=chosen.text)
                record[explain_field] = {k: v for k, v in ex.items() if k != "labels"}  # the labels go to `into`
        else:
            for (record, chosen), labels in zip(block, labeler.label([c.read for _, c in block])):
                bind(record, into, labels, text_field=chosen.field, text=chosen.text)
                record.pop(explain_field, None)  # an earlier run's explanation is of other labels

    def progress(before: int, after: int) -> None:
        if log is not None and before // PROGRESS_EVERY != after // PROGRESS_EVERY:
            log(f"rg4 label: {after} record(s) labeled")

    summary = annotate_records(
        input,
        output,
        lambda line, record: choose_text(record, settings.text, purpose="label"),
        annotate,
        on_error=settings.on_error,
        resume=settings.resume,
        log=log,
        on_progress=progress,
        block_size=settings.batch_size if labeler.backend == "chexbert" else BLOCK_RECORDS,
    )
    summary.backend = labeler.backend
    return summary
