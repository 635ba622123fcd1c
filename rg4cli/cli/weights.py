"""`rg4 weights`: per-sentence token-level loss weights (TLW), by IG or rules."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rg4cli.errors import InputError
from rg4cli.records.study import text_of
from rg4cli.records.streams import RecordReader, RecordWriter, map_in_blocks
from rg4cli.cli.common import DeviceOpt, InputArg, OnErrorOpt, OutputOpt, TextOpt, handle_errors, log

# Records attributed together: their IG rows share forward/backward chunks.
BLOCK_RECORDS = 32


@handle_errors
def weights(
    input: InputArg = "-",
    backend: Annotated[str, typer.Option(
        "--backend", help="ig: Integrated Gradients over a BERT labeler (the paper); rules: a sentence with a "
        "positive/uncertain rules-labeler mention gets --lam (offline, no model); auto: ig when --labeler is "
        "given, else rules.")] = "auto",
    labeler: Annotated[Optional[str], typer.Option(
        "--labeler", help="BERT labeler for --backend ig: a directory from `rg4 train --task labeler`, or the "
        "official chexbert.pth (then also --bert).", show_default=False)] = None,
    bert: Annotated[Optional[str], typer.Option(
        "--bert", help="bert-base-uncased directory (config + vocab) for an official chexbert.pth.",
        show_default=False)] = None,
    steps: Annotated[int, typer.Option("--steps", help="IG integration steps (quadrature nodes).")] = 50,
    method: Annotated[str, typer.Option(
        "--method", help="IG quadrature: gausslegendre, trapezoid or riemann_middle.")] = "gausslegendre",
    baseline: Annotated[str, typer.Option(
        "--baseline", help="IG baseline: pad ([PAD] embeddings, [CLS]/[SEP] kept) or zero (zero vectors, "
        "[CLS]/[SEP] kept).")] = "pad",
    threshold: Annotated[float, typer.Option(
        "--threshold", help="A sentence whose best smoothed token score exceeds this gets --lam.")] = 0.4,
    lam: Annotated[float, typer.Option("--lam", help="Weight of the emphasised sentences (others get 1).")] = 1.75,
    sigma: Annotated[float, typer.Option(
        "--sigma", help="Gaussian smoothing width in word pieces (0: off).")] = 1.0,
    normalize: Annotated[str, typer.Option(
        "--normalize", help="label: smooth each label's map and divide it by its max |value|, then max over "
        "labels; report: max over labels, smooth, divide by the report's max |value|.")] = "label",
    absolute: Annotated[bool, typer.Option(
        "--abs/--signed", help="Use |attribution| instead of the signed attribution.")] = False,
    text: TextOpt = "auto",
    batch_size: Annotated[int, typer.Option(
        "--batch-size", help="Interpolated sequences per IG forward pass (memory knob).")] = 128,
    device: DeviceOpt = "auto",
    output: OutputOpt = None,
    on_error: OnErrorOpt = "fail",
) -> None:
    """Token-level loss weights (TLW): which sentences of a report the generator's loss emphasises.

    Reads JSONL records (the text picked by --text: by default `report` if present,
    else the marked target text "findings: ... impression: ..." that `rg4 train`
    learns) and writes them with `sentence_weights` added: one
    {start, end, weight, score} per sentence, in character offsets of that text, so
    the weights do not depend on any tokenizer; `weights_meta` says how they were made.

    IG backend (paper Alg. 1): labels come from the record's `labels` (e.g. `rg4
    label`) or else from the labeler's own heads. For each positive or uncertain label
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
      rg4 label train.jsonl | rg4 weights --labeler labeler/ > weighted.jsonl
      rg4 weights train.jsonl --backend rules -o weighted.jsonl
    """
    # torch and transformers load only when the command runs, not for every `rg4` call.
    from rg4cli.weights.backends import BACKENDS, IGWeigher, RulesWeigher, WeightSettings, check_labels

    if backend not in (*BACKENDS, "auto"):
        raise InputError(f"--backend must be ig, rules or auto, got {backend!r}")
    if backend == "auto":
        backend = "ig" if labeler else "rules"
        if not labeler:
            log("rg4 weights: no --labeler given: rules backend")
    if backend == "ig" and not labeler:
        raise InputError("--backend ig needs --labeler: a BERT labeler directory (train one with "
                         "`rg4 train --task labeler -o labeler/`) or the official chexbert.pth with --bert DIR; "
                         "or use --backend rules")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    settings = WeightSettings(threshold=threshold, lam=lam, sigma=sigma, steps=steps, method=method,
                              baseline=baseline, normalize=normalize, absolute=absolute).check()
    text_of({}, text)  # validates --text before any work
    reader = RecordReader(input, on_error=on_error, log=log)
    if backend == "ig":
        from rg4cli.model.classifiers import load_classifier
        from rg4cli.devices import resolve_device

        clf = load_classifier(labeler, "labeler", bert=bert)
        weigher = IGWeigher(clf, settings, device=resolve_device(device), batch_size=batch_size)
        meta = {**settings.meta("ig"), "labeler": clf.source}
    else:
        weigher = RulesWeigher(settings)
        meta = settings.meta("rules")

    def prepare(lineno: int, record: dict) -> tuple[str, dict | None] | None:
        body = text_of(record, text)
        if body is None:
            wanted = "report, findings or impression" if text == "auto" else text
            reader.reject(lineno, None, f"no {wanted} text to weight (--text {text})")
            return None
        labels = record.get("labels")
        if labels is not None:
            problem = check_labels(labels)
            if problem:
                reader.reject(lineno, "labels", problem)
                return None
        return body, labels

    def process(block: list[tuple[dict, tuple[str, dict | None]]]) -> list[dict]:
        results = weigher.weigh([t for _, (t, _) in block], [lab for _, (_, lab) in block])
        for (record, _), sentence_weights in zip(block, results):
            record["sentence_weights"] = sentence_weights
            record["weights_meta"] = {**meta, "text": _text_field(record, text)}
        return [record for record, _ in block]

    with RecordWriter(output) as writer:
        map_in_blocks(reader, writer, prepare, process, block_size=BLOCK_RECORDS)
    if reader.summary():
        log(reader.summary())


def _text_field(record: dict, which: str) -> str:
    """The field --text resolved to for this record (auto: report or findings+impression)."""
    if which != "auto":
        return which
    report = record.get("report")
    return "report" if isinstance(report, str) and report.strip() else "findings+impression"
