"""rg4 weights: token-level loss weights per sentence.

Library entry: `weigh_records(input, output, WeighSettings(...))` reads JSONL records,
writes them back with `sentence_weights` bound to the text weighed (records.provenance)
and returns a `StageSummary`. A record's `labels` are used only when they were computed
from that same text; otherwise the backend's own labeler decides (and the summary
counts them in `extra["stale_labels"]`). The per-text API is weights.backends
(`IGWeigher`, `RulesWeigher`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from rg4cli.errors import InputError
from rg4cli.records.annotate import StageSummary, annotate_records
from rg4cli.records.provenance import UnboundWarning, annotation, bind, status
from rg4cli.records.study import ChosenText, choose_text, resolve_text_field
from rg4cli.weights.backends import BACKENDS, IGWeigher, RulesWeigher, WeightSettings, check_labels

FIELD = "sentence_weights"
BLOCK_RECORDS = 32  # records attributed together: their IG rows share forward/backward chunks

__all__ = ["BACKENDS", "WeighSettings", "WeightSettings", "weigh_records"]


@dataclass
class WeighSettings:
    """What `rg4 weights` does: the backend, its labeler, the text, and the weighting knobs."""

    backend: str = "auto"  # ig, rules, or auto: ig when `labeler` is given, else rules
    labeler: str | None = None  # ig: an `rg4 train --task labeler` directory or the official chexbert.pth
    bert: str | None = None  # bert-base-uncased directory for an official chexbert.pth
    text: str = "auto"
    batch_size: int = 128  # interpolated sequences per IG forward pass
    device: str = "auto"
    on_error: str = "fail"
    resume: bool = False  # keep the records already in the output, pass over their ids
    weighting: WeightSettings = field(default_factory=WeightSettings)

    def resolved_backend(self) -> str:
        return ("ig" if self.labeler else "rules") if self.backend == "auto" else self.backend

    def check(self) -> WeighSettings:
        if self.backend not in (*BACKENDS, "auto"):
            raise InputError(f"--backend must be ig, rules or auto, got {self.backend!r}")
        if self.resolved_backend() == "ig" and not self.labeler:
            raise InputError(
                "--backend ig needs --labeler-model: a BERT labeler directory (train one with "
                "`rg4 train --task labeler -o labeler/`) or the official chexbert.pth with "
                "--labeler-bert DIR; or use --backend rules"
            )
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        resolve_text_field({}, self.text)  # --text is one of TEXT_FIELDS
        self.weighting.check()
        return self


def weigh_records(
    input: str | os.PathLike | None,
    output: str | os.PathLike | None,
    settings: WeighSettings,
    *,
    log: Callable[[str], None] | None = None,
) -> StageSummary:
    """Weigh every record of `input` into `output` (`sentence_weights` + `weights_meta`)."""
    settings.check()
    backend = settings.resolved_backend()
    if settings.backend == "auto" and backend == "rules" and log is not None:
        log("rg4 weights: no --labeler-model given: rules backend")
    if backend == "ig":
        from rg4cli.devices import resolve_device
        from rg4cli.model.classifiers import load_classifier

        classifier = load_classifier(settings.labeler, "labeler", bert=settings.bert)
        weigher = IGWeigher(
            classifier, settings.weighting, device=resolve_device(settings.device), batch_size=settings.batch_size
        )
        meta = {**settings.weighting.meta("ig"), "labeler": classifier.source}
    else:
        weigher = RulesWeigher(settings.weighting)
        meta = settings.weighting.meta("rules")
    unbound = UnboundWarning(log, "weights") if log is not None else None
    stale = 0

    def prepare(line: int, record: dict) -> tuple[ChosenText, dict | None]:
        nonlocal stale
        chosen = choose_text(record, settings.text, purpose="weight")
        # Labels of another text (the report changed since `rg4 label`) must not steer the weights.
        labels = annotation(record, "labels", chosen.text, on_unbound=unbound)
        if labels is None and status(record, "labels", chosen.text) == "stale":
            stale += 1
        if labels is not None:
            problem = check_labels(labels)
            if problem:
                raise InputError(problem, field="labels")
        return chosen, labels

    def annotate(block: list[tuple[dict, tuple[ChosenText, dict | None]]]) -> None:
        results = weigher.weigh([c.text for _, (c, _) in block], [labels for _, (_, labels) in block])
        for (record, (chosen, _)), sentence_weights in zip(block, results):
            bind(record, FIELD, sentence_weights, text_field=chosen.field, text=chosen.text)
            record["weights_meta"] = {**meta, "text": chosen.field}

    summary = annotate_records(
        input,
        output,
        prepare,
        annotate,
        on_error=settings.on_error,
        resume=settings.resume,
        block_size=BLOCK_RECORDS,
        log=log,
    )
    summary.backend = backend
    summary.extra["stale_labels"] = stale
    return summary
