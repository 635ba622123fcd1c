"""`rg4 hallucination`: input-agnostic content, judged against each study's inputs."""

from __future__ import annotations

from typing import Annotated

import typer

from rg4cli.cli.common import (
    ApiKeyEnvOpt,
    BaseUrlOpt,
    DeviceOpt,
    InputArg,
    JudgeBertOpt,
    JudgeModelOpt,
    ModelNameOpt,
    OnErrorOpt,
    OutputOpt,
    ResumeOpt,
    TextOpt,
    handle_errors,
    llm_client_options,
    log,
)
from rg4cli.judges import JudgeSettings, format_summary, judge_records
from rg4cli.records.streams import write_json


@handle_errors
def hallucination(
    input: InputArg = "-",
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="rules: phrase tables (offline default); discbert: BERT with four binary heads "
            "(needs --judge-model); openai: an LLM on an OpenAI-compatible endpoint (--base-url, --model-name); hf: a "
            "local causal LM (--judge-model DIR).",
        ),
    ] = JudgeSettings.backend,
    judge_model: JudgeModelOpt = None,
    judge_bert: JudgeBertOpt = None,
    base_url: BaseUrlOpt = None,
    model_name: ModelNameOpt = None,
    api_key_env: ApiKeyEnvOpt = "OPENAI_API_KEY",
    phrases: Annotated[
        str | None,
        typer.Option(
            "--phrases",
            help="Another phrase-table JSON for the rules backend (same layout as "
            "rg4cli/data/hallucination_phrases.json).",
            show_default=False,
        ),
    ] = JudgeSettings.phrases,
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold", help="DiscBERT: a head's probability at or above this means the content is present."
        ),
    ] = JudgeSettings.threshold,
    text: TextOpt = JudgeSettings.text,
    summary: Annotated[
        str | None,
        typer.Option(
            "--summary",
            help="Also write the summary (rates overall, per setting, per category; fractions "
            "0..1, null without reports) to this JSON file.",
            show_default=False,
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="On stderr, per report: the verdict and each flagged sentence with its categories and "
            "the words that matched.",
        ),
    ] = JudgeSettings.explain,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="DiscBERT texts per forward pass.")
    ] = JudgeSettings.batch_size,
    device: DeviceOpt = JudgeSettings.device,
    output: OutputOpt = None,
    on_error: OnErrorOpt = JudgeSettings.on_error,
    resume: ResumeOpt = JudgeSettings.resume,
) -> None:
    """Flag input-agnostic content in reports, judged against each study's inputs.

    Reads JSONL study records and the report text picked by --text (auto: `report` if
    present, else findings + impression); the inputs come from the same record: a
    `lateral` image path makes the setting m (else s), a `prior_report` makes it w
    (else n), and `view` (PA/AP) is the frontal projection. Writes the records with
    `hallucination` added: {pc, pp, view, comm (content of that category present),
    views (views the text names), unsupported (categories the inputs cannot support),
    input_agnostic (the verdict), setting, backend, sentences: [{start, end,
    categories, unsupported, phrases}] (flagged sentences, character offsets in the
    judged text)}, bound to the judged text (`provenance`). A summary goes to stderr as a table in percent (and to --summary
    FILE as JSON, in fractions): the share of input-agnostic reports (the paper's
    hall.) overall and per setting, and per category the share of reports with that
    content (present) and with it unsupported by the inputs.

    Categories (Nguyen et al. 2023): pc prior comparison ("compared to the prior",
    "unchanged", "again seen", "interval", "new", "stable"); pp prior procedure
    ("status post", "post-operative", "since the placement of", "after CABG",
    "sternotomy"); view ("PA and lateral views", "single portable AP view", "on the
    lateral view", "lateral view limited by"); comm communication ("discussed with
    Dr. ___", "notified", "paged", "by telephone at 10:15").

    Verdict: comm and pp are always input-agnostic; pc when no prior report was given
    (sn, mn); view when a view it names was not supplied: a lateral, "two views" or
    "PA and lateral" without a lateral image (sn, sw), a "single view" with one (mn,
    mw), oblique/decubitus/apical lordotic views (never inputs), PA when the study's
    view is AP and the other way round; frontal, portable, upright and supine
    statements are supported by the frontal image. "No prior studies" and "comparison:
    none" are not comparisons. DiscBERT's view head does not say which view: the rules'
    view phrases name it; view content nobody names counts as unsupported in sn and sw.

    \b
    Example:
      rg4 generate test.jsonl --model m/ | rg4 hallucination --summary hall.json > judged.jsonl
      rg4 hallucination reports.jsonl --explain -o /dev/null
      rg4 hallucination test.jsonl --backend discbert --judge-model discbert/ --text findings
    """
    settings = JudgeSettings(
        backend=backend,
        judge_model=judge_model,
        judge_bert=judge_bert,
        phrases=phrases,
        threshold=threshold,
        text=text,
        explain=explain,
        batch_size=batch_size,
        device=device,
        on_error=on_error,
        resume=resume,
        llm_options=llm_client_options(backend, base_url, model_name, api_key_env),
    )
    done = judge_records(input, output, settings, log=log)
    if done.skip_line:
        log(done.skip_line)
    if done.written:
        log(format_summary(done.extra["summary"]))
    if summary:
        write_json(summary, done.extra["summary"])
