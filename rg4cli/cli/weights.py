"""`rg4 weights`: per-sentence token-level loss weights (TLW), by IG or rules."""

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
from rg4cli.weights import WeighSettings, WeightingOptions, weigh_records


@handle_errors
def weights(
    input: InputArg = "-",
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="ig: Integrated Gradients over a BERT labeler (the paper); rules: a sentence with a "
            "positive/uncertain rules-labeler mention gets --lam (offline, no model); auto: ig when --labeler-model "
            "is given, else rules.",
        ),
    ] = WeighSettings.backend,
    labeler_model: LabelerModelOpt = None,
    labeler_bert: LabelerBertOpt = None,
    steps: Annotated[
        int, typer.Option("--steps", help="IG integration steps (quadrature nodes).")
    ] = WeightingOptions.steps,
    method: Annotated[
        str, typer.Option("--method", help="IG quadrature: gausslegendre, trapezoid or riemann_middle.")
    ] = WeightingOptions.method,
    baseline: Annotated[
        str,
        typer.Option(
            "--baseline",
            help="IG baseline: pad ([PAD] embeddings, [CLS]/[SEP] kept) or zero (zero vectors, [CLS]/[SEP] kept).",
        ),
    ] = WeightingOptions.baseline,
    threshold: Annotated[
        float, typer.Option("--threshold", help="A sentence whose best smoothed token score exceeds this gets --lam.")
    ] = WeightingOptions.threshold,
    lam: Annotated[
        float, typer.Option("--lam", help="Weight of the emphasised sentences (others get 1).")
    ] = WeightingOptions.lam,
    sigma: Annotated[
        float, typer.Option("--sigma", help="Gaussian smoothing width in word pieces (0: off).")
    ] = WeightingOptions.sigma,
    normalize: Annotated[
        str,
        typer.Option(
            "--normalize",
            help="label: smooth each label's map and divide it by its max |value|, then max over "
            "labels; report: max over labels, smooth, divide by the report's max |value|.",
        ),
    ] = WeightingOptions.normalize,
    absolute: Annotated[
        bool, typer.Option("--abs/--signed", help="Use |attribution| instead of the signed attribution.")
    ] = WeightingOptions.absolute,
    text: TextOpt = WeighSettings.text,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Interpolated sequences per IG forward pass (memory knob).")
    ] = WeighSettings.batch_size,
    device: DeviceOpt = WeighSettings.device,
    output: OutputOpt = None,
    on_error: OnErrorOpt = WeighSettings.on_error,
    resume: ResumeOpt = WeighSettings.resume,
) -> None:
    """Token-level loss weights (TLW): which sentences of a report the generator's loss emphasises.

    Reads JSONL records (the text picked by --text: by default `report` if present,
    else the marked target text "findings: ... impression: ..." that `rg4 train`
    learns) and writes them with `sentence_weights` added: one
    {start, end, weight, score} per sentence, in character offsets of that text, so
    the weights do not depend on any tokenizer; `weights_meta` says how they were made,
    and `provenance` binds them to the text.

    IG backend (paper Alg. 1): labels come from the record's `labels` (e.g. `rg4
    label`) when they were computed from the text weighed (their `provenance`; labels
    of another text are ignored), or else from the labeler's own heads. For each positive or uncertain label
    among the first 13 observations, Integrated Gradients of that head's positive
    (resp. uncertain) logit with respect to the word-piece embeddings (baseline
    --baseline, --steps Gauss-Legendre nodes, summed over the embedding dimension,
    signed unless --abs); Gaussian smoothing over word pieces (--sigma); each
    label's map divided by its max |value| (--normalize), so its strongest region
    scores 1; max over labels; word pieces mapped to sentences by their character
    offsets (a sentence scores its best word piece). A sentence whose best
    score exceeds --threshold gets weight --lam, the others 1. Reports without a
    positive/uncertain label, and text past the labeler's 512 word pieces, get 1 with
    score null. The interpolated sequences of up to 32 reports go through the labeler
    in chunks of --batch-size: one forward pass per chunk (a report's labels share
    it) and one backward pass per label.

    Rules backend: a sentence gets --lam when the rules labeler finds a positive or
    uncertain mention there (of the record's positive/uncertain observations, when
    the record has `labels`); score 1.0 or 0.0.

    \b
    Example:
      rg4 label train.jsonl | rg4 weights --labeler-model labeler/ > weighted.jsonl
      rg4 weights train.jsonl --backend rules -o weighted.jsonl
    """
    settings = WeighSettings(
        backend=backend,
        labeler_model=labeler_model,
        labeler_bert=labeler_bert,
        text=text,
        batch_size=batch_size,
        device=device,
        on_error=on_error,
        resume=resume,
        weighting=WeightingOptions(
            threshold=threshold,
            lam=lam,
            sigma=sigma,
            steps=steps,
            method=method,
            baseline=baseline,
            normalize=normalize,
            absolute=absolute,
        ),
    )
    summary = weigh_records(input, output, settings, log=log)
    if summary.extra["stale_labels"]:
        log(
            f"rg4 weights: {summary.extra['stale_labels']} record(s) had `labels` of another text; the "
            f"{summary.backend} backend's own labels were used for them"
        )
    if summary.skip_line:
        log(summary.skip_line)
