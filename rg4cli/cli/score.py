"""`rg4 score`: NLG + clinical efficacy + paired tests, one JSON summary on stdout."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from rg4cli.cli.common import DeviceOpt, InputArg, OnErrorOpt, OutputOpt, SeedOpt, console, handle_errors, log
from rg4cli.cli.options import ChexbertTextOpt
from rg4cli.metrics import SUMMARY_KEYS_DOC, ScoreSettings, score_files, summary_tables
from rg4cli.metrics.ce_variants import reference_table_text
from rg4cli.metrics.nlg import TOKENIZE_DOC
from rg4cli.records.streams import RecordWriter, dumps_json, write_json

TEXT_HELP = "auto (report if present, else findings+impression), report, findings, impression, findings+impression."


@handle_errors
def score(
    ref: Annotated[
        str,
        typer.Option(
            "--ref",
            help="References (JSONL, joined by id): generated-report records or plain study records.",
            show_default=False,
        ),
    ],
    input: InputArg = "-",
    text: Annotated[str, typer.Option("--text", help="Hypothesis text: " + TEXT_HELP)] = ScoreSettings.text,
    ref_text: Annotated[str, typer.Option("--ref-text", help="Reference text: " + TEXT_HELP)] = ScoreSettings.ref_text,
    tokenize: Annotated[
        str,
        typer.Option(
            "--tokenize",
            help="Text preparation for NLG metrics: r2gen (R2Gen/R2GenGPT/"
            "LLM-RG4 cleaning; cleaned text left as is), cvt2distilgpt2 (a space before "
            "every '.'), ptb (pycocoevalcap's PTB tokenizer, Java), none (the text as "
            "given). Which reproduces which paper: table below.",
        ),
    ] = ScoreSettings.tokenize,
    labeler: Annotated[
        str, typer.Option("--labeler", help="Labeler for records without labels: rules or chexbert.")
    ] = ScoreSettings.labeler,
    labeler_model: Annotated[
        str | None,
        typer.Option(
            "--labeler-model",
            "--checkpoint",
            help="For --labeler chexbert: chexbert.pth (then also "
            "--labeler-bert) or a directory from `rg4 train --task "
            "labeler`.",
        ),
    ] = ScoreSettings.labeler_model,
    labeler_bert: Annotated[
        str | None,
        typer.Option("--labeler-bert", "--bert", help="bert-base-uncased directory for the official chexbert.pth."),
    ] = ScoreSettings.labeler_bert,
    chexbert_text: ChexbertTextOpt = ScoreSettings.chexbert_text,
    device: DeviceOpt = ScoreSettings.device,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Labeler batch size.")] = ScoreSettings.batch_size,
    labels_field: Annotated[
        str,
        typer.Option(
            "--labels-field", help="Record field holding precomputed labels (used on both sides when present)."
        ),
    ] = ScoreSettings.labels_field,
    relabel: Annotated[
        bool, typer.Option("--relabel", help="Ignore label fields; label every text with --labeler.")
    ] = ScoreSettings.relabel,
    bertscore: Annotated[
        str | None,
        typer.Option(
            "--bertscore",
            help="BERTScore with this local Hugging Face model directory (e.g. roberta-large); never downloads.",
            show_default=False,
        ),
    ] = ScoreSettings.bertscore,
    bertscore_layers: Annotated[
        int | None,
        typer.Option(
            "--bertscore-layers",
            help="Layer whose embeddings BERTScore compares (default: bert-score's for the model).",
            show_default=False,
        ),
    ] = ScoreSettings.bertscore_layers,
    semb: Annotated[
        bool, typer.Option("--semb", help="SembScore: cosine of CheXbert embeddings (needs --labeler-model).")
    ] = ScoreSettings.semb,
    radgraph: Annotated[
        str | None,
        typer.Option(
            "--radgraph",
            help="RadGraph F1 from a JSONL of RadGraph annotations ({report, entities} per line) or a local "
            "model directory of the radgraph package (its model needs transformers < 5).",
            show_default=False,
        ),
    ] = ScoreSettings.radgraph,
    radgraph_lowercase: Annotated[
        str,
        typer.Option(
            "--radgraph-lowercase",
            help="release (radgraph 0.1.18: only complete's relation tokens lower-cased) or all.",
        ),
    ] = ScoreSettings.radgraph_lowercase,
    no_meteor: Annotated[
        bool, typer.Option("--no-meteor", help="Skip METEOR (no Java needed; meteor is null).")
    ] = False,
    on_missing: Annotated[
        str,
        typer.Option(
            "--on-missing",
            help="fail: ids missing on either side are an error "
            "(exit 2); skip: score the common ids and count the rest.",
        ),
    ] = ScoreSettings.on_missing,
    on_error: OnErrorOpt = ScoreSettings.on_error,
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against",
            help="Another system's hypotheses (same ids), repeatable: approximate randomization (and paired "
            "bootstrap with --bootstrap) for every metric, Holm-adjusted across systems; Wilcoxon on per-report "
            "scores.",
        ),
    ] = None,
    bootstrap: Annotated[
        int,
        typer.Option("--bootstrap", help="Bootstrap resamples for intervals of every number (0: off; e.g. 1000)."),
    ] = 0,
    ci: Annotated[float, typer.Option("--ci", help="Confidence level of the bootstrap intervals.")] = 0.95,
    trials: Annotated[
        int, typer.Option("--trials", help="Approximate randomization trials per --against (0: off).")
    ] = 10000,
    seed: SeedOpt = 12345,
    per_report: Annotated[
        str | None, typer.Option("--per-report", help="Write one JSONL line per id with its scores.")
    ] = None,
    output: OutputOpt = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress and no table on stderr (warnings stay).")
    ] = False,
) -> None:
    config = ScoreSettings(
        text=text,
        ref_text=ref_text,
        tokenize=tokenize,
        labeler=labeler,
        labeler_model=labeler_model,
        labeler_bert=labeler_bert,
        chexbert_text=chexbert_text,
        device=device,
        batch_size=batch_size,
        labels_field=labels_field,
        relabel=relabel,
        meteor=not no_meteor,
        bertscore=bertscore,
        bertscore_layers=bertscore_layers,
        semb=semb,
        radgraph=radgraph,
        radgraph_lowercase=radgraph_lowercase,
        on_missing=on_missing,
        on_error=on_error,
        yield_to_meteor=True,
        bootstrap=bootstrap,
        ci=ci,
        seed=seed,
        trials=trials,
    )
    result = score_files(
        None if input == "-" else input,
        ref,
        config,
        against=against,
        log=log,
        progress=None if quiet else lambda message: log(f"rg4 score: {message}"),
    )
    if per_report:
        with RecordWriter(per_report, resumable=False) as writer:
            for row in result.per_report:
                writer.write(row)
    if not quiet:
        # Not a terminal (a log file, CI): render at full width instead of truncating numbers.
        out = console if console.is_terminal else Console(stderr=True, width=132, highlight=False, soft_wrap=False)
        for item in summary_tables(result.summary):
            out.print(item, markup=False) if isinstance(item, str) else out.print(item)
    if output and output != "-":
        write_json(output, result.summary)
    else:
        sys.stdout.write(dumps_json(result.summary, indent=2) + "\n")
        sys.stdout.flush()


score.__doc__ = f"""Score generated reports: BLEU-1..4, METEOR, ROUGE-L, CIDEr, clinical efficacy, paired tests.

Reads hypotheses (JSONL, a file or stdin) and references (--ref), joins them by id
and writes ONE JSON object to stdout (or -o FILE); a table goes to stderr and
--per-report FILE gets one JSONL line per id (id, setting, bleu_1..bleu_4, meteor,
rouge_l, cider, ce_f1_{{14,5}}_{{unc_pos,unc_neg}}, ce_exact_5_unc_pos, input_agnostic).

NLG metrics are pycocoevalcap's scorers called directly on prepared text, as
R2Gen, R2GenGPT and the LLM-RG4 code do (--tokenize r2gen, the default); CIDEr's
IDF comes from the evaluated pairs; one METEOR 1.5 JVM per run, aligning while
the other metrics and the labeler run. The r2gen cleaning is what those papers
apply to raw references; text already in its cleaned form (lowercase, none of the
characters it deletes, every "." a token of its own) is left as it is, so the
cleaning is idempotent and pre-tokenised files score as their authors scored
them. SPICE is not offered (pycocoevalcap's SPICE downloads CoreNLP at run time).

\b
{TOKENIZE_DOC}

An empty generated report (the text field present but blank) is scored as empty
text, kept in n and counted (empty_hypotheses, and one line on stderr). Progress
(labelling, each metric) goes to stderr; -q silences it and the table.

Clinical efficacy uses the records' labels (--labels-field) where they were
computed from the very text scored (their provenance), otherwise --labeler;
both uncertain conventions are always reported: unc_pos counts uncertain as
positive (LLM-RG4, the paper's CE = ce.micro_14_unc_pos.f1), unc_neg as negative
(R2Gen's compute_ce). Any 0/0 in precision, recall or F1 is 0 (scikit-learn's
default, as in both papers' code); a per-report F1 is 1 when neither report has a
positive observation. Hallucination rates appear when hypotheses carry
`hallucination` fields computed from the text scored (rg4 hallucination after
rg4 generate); fields of another text are left out and counted
(skipped.hallucination_stale).

Intervals and paired tests (docs/uncertainty.md): --bootstrap N gives every number a
percentile interval and standard error ("uncertainty"); each --against (repeatable)
gets approximate randomization (--trials), with --bootstrap a paired bootstrap, and
Holm-adjusted p-values across the systems ("comparisons"). Every resample and trial
recomputes each metric's corpus definition from per-report statistics (no re-scoring);
--seed fixes them. The Wilcoxon test (on per-report scores) stays under "against".

To reproduce the CE of a published pipeline, read this key (labels from the
same labeler on both sides: --labeler chexbert, --chexbert-text llm-rg4 for
LLM-RG4's own wrapper; R2Gen labelled with the CheXpert rules labeler):

\b
{reference_table_text()}

\b
Summary keys (stable; a metric not computed is null):
{SUMMARY_KEYS_DOC}

\b
Example:
  rg4 generate test.jsonl --model m/ | rg4 label | rg4 hallucination \\
    | rg4 score --ref test.jsonl --per-report per_id.jsonl > scores.json
  rg4 score new.jsonl --ref test.jsonl --against baseline.jsonl | jq .against.tests.bleu_4
  rg4 score new.jsonl --ref test.jsonl --bootstrap 1000 --against baseline.jsonl \\
    | jq '.comparisons[0].metrics["overall.bleu_4"]'
"""
