"""`rg4 score`: NLG + clinical efficacy + paired tests, one JSON summary on stdout."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from rg4cli.metrics.score import SUMMARY_KEYS_DOC, ScoreConfig, score_files
from rg4cli.records.streams import RecordWriter, dumps_json, write_json
from rg4cli.cli.common import DeviceOpt, InputArg, OnErrorOpt, OutputOpt, console, handle_errors, log

TEXT_HELP = "auto (report if present, else findings+impression), report, findings, impression, findings+impression."


@handle_errors
def score(
    ref: Annotated[str, typer.Option("--ref", help="References (JSONL, joined by id): generated-report records or "
                                     "plain study records.", show_default=False)],
    input: InputArg = "-",
    text: Annotated[str, typer.Option("--text", help="Hypothesis text: " + TEXT_HELP)] = "auto",
    ref_text: Annotated[str, typer.Option("--ref-text", help="Reference text: " + TEXT_HELP)] = "auto",
    tokenize: Annotated[str, typer.Option("--tokenize", help="Text preparation for NLG metrics: r2gen (R2Gen/R2GenGPT/"
                                          "LLM-RG4 cleaning, whitespace tokens), ptb (pycocoevalcap's PTB tokenizer, "
                                          "Java), none (raw text, whitespace tokens).")] = "r2gen",
    labeler: Annotated[str, typer.Option("--labeler", help="Labeler for records without labels: rules or "
                                         "chexbert.")] = "rules",
    checkpoint: Annotated[Optional[str], typer.Option("--labeler-model", "--checkpoint",
                                                      help="For --labeler chexbert: chexbert.pth (then also "
                                                      "--labeler-bert) or a directory from `rg4 train --task "
                                                      "labeler`.")] = None,
    bert: Annotated[Optional[str], typer.Option("--labeler-bert", "--bert", help="bert-base-uncased directory for "
                                                "the official chexbert.pth.")] = None,
    device: DeviceOpt = "auto",
    batch_size: Annotated[int, typer.Option("--batch-size", help="Labeler batch size.")] = 32,
    labels_field: Annotated[str, typer.Option("--labels-field", help="Record field holding precomputed labels "
                                              "(used on both sides when present).")] = "labels",
    relabel: Annotated[bool, typer.Option("--relabel", help="Ignore label fields; label every text with "
                                          "--labeler.")] = False,
    no_meteor: Annotated[bool, typer.Option("--no-meteor", help="Skip METEOR (no Java needed; meteor is "
                                            "null).")] = False,
    on_missing: Annotated[str, typer.Option("--on-missing", help="fail: ids missing on either side are an error "
                                            "(exit 2); skip: score the common ids and count the rest.")] = "fail",
    on_error: OnErrorOpt = "fail",
    against: Annotated[Optional[str], typer.Option("--against", help="Another system's hypotheses (same ids): "
                                                   "paired Wilcoxon tests per metric.")] = None,
    per_report: Annotated[Optional[str], typer.Option("--per-report", help="Write one JSONL line per id with its "
                                                      "scores.")] = None,
    output: OutputOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No table on stderr.")] = False,
) -> None:
    config = ScoreConfig(text=text, ref_text=ref_text, tokenize=tokenize, labeler=labeler, checkpoint=checkpoint,
                         bert=bert, device=device, batch_size=batch_size, labels_field=labels_field, relabel=relabel,
                         meteor=not no_meteor, on_missing=on_missing, on_error=on_error)
    result = score_files(None if input == "-" else input, ref, config, against=against, log=log)
    if per_report:
        with RecordWriter(per_report) as writer:
            for row in result.per_report:
                writer.write(row)
    if not quiet:
        print_tables(result.summary)
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
IDF comes from the evaluated pairs; one METEOR 1.5 JVM per run. The r2gen
cleaning is what those papers apply to references (and what their models learn
to write); applying it to text that is already cleaned changes only spacing
around ":" (ROUGE-L splits on single spaces). SPICE is not
offered (pycocoevalcap's SPICE downloads CoreNLP at run time). Clinical efficacy
uses the records' labels (--labels-field) where present, otherwise --labeler;
both uncertain conventions are always reported: unc_pos counts uncertain as
positive (LLM-RG4, the paper's CE = ce.micro_14_unc_pos.f1), unc_neg as negative
(R2Gen's compute_ce). Any 0/0 in precision, recall or F1 is 0 (scikit-learn's
default, as in both papers' code); a per-report F1 is 1 when neither report has a
positive observation. Hallucination rates appear when hypotheses carry
`hallucination` fields (rg4 hallucination).

\b
Summary keys (stable; a metric not computed is null):
{SUMMARY_KEYS_DOC}

\b
Example:
  rg4 generate test.jsonl --model m/ | rg4 label | rg4 hallucination \\
    | rg4 score --ref test.jsonl --per-report per_id.jsonl > scores.json
  rg4 score new.jsonl --ref test.jsonl --against baseline.jsonl | jq .against.tests.bleu_4
"""


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_tables(summary: dict) -> None:
    # Not a terminal (a log file, CI): render at full width instead of truncating numbers.
    out = console if console.is_terminal else Console(stderr=True, width=132, highlight=False, soft_wrap=False)
    table = Table(title="rg4 score", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("", "n", "B1", "B2", "B3", "B4", "MTR", "R-L", "CIDEr", "CE F1 14", "CE F1 5", "hall"):
        table.add_column(col, justify="left" if col == "" else "right", no_wrap=True)
    rows = [("overall", summary["overall"]), *summary["by_setting"].items()]
    if summary.get("against"):
        rows.append(("against", summary["against"]["overall"]))
    for name, b in rows:
        ce = b["ce"]
        f14 = (ce.get("micro_14_unc_pos") or {}).get("f1")
        f5 = (ce.get("micro_5_unc_pos") or {}).get("f1")
        table.add_row(name, str(b["n"]), *(_fmt(b[k]) for k in ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor",
                                                                  "rouge_l", "cider")),
                      _fmt(f14), _fmt(f5), _fmt((b["hall"] or {}).get("rate")))
    out.print(table)
    out.print("CE: micro F1 with uncertain counted positive (LLM-RG4); more variants in the JSON.", markup=False)
    if summary.get("against"):
        t = Table(title=f"paired Wilcoxon vs {summary['against']['file']} (n={summary['against']['n']})",
                  title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("metric", "input", "against", "diff", "p", "higher"):
            t.add_column(col, justify="left" if col in ("metric", "higher") else "right", no_wrap=True)
        for key, r in summary["against"]["tests"].items():
            p = r["p_value"]
            t.add_row(key, _fmt(r["mean_input"]), _fmt(r["mean_against"]), _fmt(r["mean_diff"], 4),
                      "-" if p is None else f"{p:.2g}", r["higher"])
        out.print(t)
