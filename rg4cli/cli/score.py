"""`rg4 score`: NLG + clinical efficacy + paired tests, one JSON summary on stdout."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

from rg4cli.cli.common import DeviceOpt, InputArg, OnErrorOpt, OutputOpt, console, handle_errors, log
from rg4cli.metrics import SUMMARY_KEYS_DOC, ScoreSettings, score_files, summary_tables
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
    text: Annotated[str, typer.Option("--text", help="Hypothesis text: " + TEXT_HELP)] = "auto",
    ref_text: Annotated[str, typer.Option("--ref-text", help="Reference text: " + TEXT_HELP)] = "auto",
    tokenize: Annotated[
        str,
        typer.Option(
            "--tokenize",
            help="Text preparation for NLG metrics: r2gen (R2Gen/R2GenGPT/"
            "LLM-RG4 cleaning; cleaned text left as is), cvt2distilgpt2 (a space before "
            "every '.'), ptb (pycocoevalcap's PTB tokenizer, Java), none (the text as "
            "given). Which reproduces which paper: table below.",
        ),
    ] = "r2gen",
    labeler: Annotated[
        str, typer.Option("--labeler", help="Labeler for records without labels: rules or chexbert.")
    ] = "rules",
    checkpoint: Annotated[
        str | None,
        typer.Option(
            "--labeler-model",
            "--checkpoint",
            help="For --labeler chexbert: chexbert.pth (then also "
            "--labeler-bert) or a directory from `rg4 train --task "
            "labeler`.",
        ),
    ] = None,
    bert: Annotated[
        str | None,
        typer.Option("--labeler-bert", "--bert", help="bert-base-uncased directory for the official chexbert.pth."),
    ] = None,
    device: DeviceOpt = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Labeler batch size.")] = 32,
    labels_field: Annotated[
        str,
        typer.Option(
            "--labels-field", help="Record field holding precomputed labels (used on both sides when present)."
        ),
    ] = "labels",
    relabel: Annotated[
        bool, typer.Option("--relabel", help="Ignore label fields; label every text with --labeler.")
    ] = False,
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
    ] = "fail",
    on_error: OnErrorOpt = "fail",
    against: Annotated[
        str | None,
        typer.Option("--against", help="Another system's hypotheses (same ids): paired Wilcoxon tests per metric."),
    ] = None,
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
        checkpoint=checkpoint,
        bert=bert,
        device=device,
        batch_size=batch_size,
        labels_field=labels_field,
        relabel=relabel,
        meteor=not no_meteor,
        on_missing=on_missing,
        on_error=on_error,
        yield_to_meteor=True,
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
rouge_l, cider, ce_f1_{{14,5}}_{{unc_pos,unc_neg}}, input_agnostic).

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

\b
Summary keys (stable; a metric not computed is null):
{SUMMARY_KEYS_DOC}

\b
Example:
  rg4 generate test.jsonl --model m/ | rg4 label | rg4 hallucination \\
    | rg4 score --ref test.jsonl --per-report per_id.jsonl > scores.json
  rg4 score new.jsonl --ref test.jsonl --against baseline.jsonl | jq .against.tests.bleu_4
"""
