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

from rg4cli.errors import InputError
from rg4cli.records.annotate import StageSummary, annotate_records
from rg4cli.records.provenance import UnboundWarning, annotation, bind, status
from rg4cli.records.study import ChosenText, choose_text
from rg4cli.weights.settings import BACKENDS, WeighSettings, WeightingOptions

FIELD = "sentence_weights"
BLOCK_RECORDS = 32  # records attributed together: their IG rows share forward/backward chunks

__all__ = ["BACKENDS", "WeighSettings", "WeightingOptions", "weigh_records"]


def weigh_records(
    input: str | os.PathLike | None,
    output: str | os.PathLike | None,
    settings: WeighSettings,
    *,
    log: Callable[[str], None] | None = None,
) -> StageSummary:
    """Weigh every record of `input` into `output` (`sentence_weights` + `weights_meta`)."""
    # torch and transformers load here, not when the CLI reads the defaults above
    from rg4cli.weights.backends import IGWeigher, RulesWeigher, check_labels

    settings.check()
    backend = settings.resolved_backend()
    if settings.backend == "auto" and backend == "rules" and log is not None:
        log("rg4 weights: no --labeler-model given: rules backend")
    if backend == "ig":
        from rg4cli.devices import resolve_device
        from rg4cli.model.classifiers import load_classifier

        classifier = load_classifier(settings.labeler_model, "labeler", bert=settings.labeler_bert)
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
