"""`rg4 hallucination`: input-agnostic content, judged against each study's inputs."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from rg4cli.errors import InputError
from rg4cli.judges.backends import BACKENDS, CATEGORIES, format_summary, make_judge, summarize
from rg4cli.records.study import Study, text_of
from rg4cli.records.streams import RecordReader, RecordWriter, map_in_blocks, write_json
from rg4cli.cli.common import (ApiKeyEnvOpt, BaseUrlOpt, DeviceOpt, InputArg, ModelNameOpt, OnErrorOpt, OutputOpt,
                               TextOpt, handle_errors, llm_client_options as _llm, log)

# Records judged together (DiscBERT batches their reports and sentences in one pass).
BLOCK_RECORDS = 64


@handle_errors
def hallucination(
    input: InputArg = "-",
    backend: Annotated[str, typer.Option(
        "--backend", help="rules: phrase tables (offline default); discbert: BERT with four binary heads "
        "(needs --model); openai: an LLM on an OpenAI-compatible endpoint (--base-url, --model-name); hf: a "
        "local causal LM (--model DIR).")] = "rules",
    model: Annotated[Optional[str], typer.Option(
        "--model", help="DiscBERT for --backend discbert: a directory from `rg4 train --task discbert`, or the "
        "official Lightning checkpoint (then also --bert); hf: the causal LM directory.", show_default=False)] = None,
    base_url: BaseUrlOpt = None,
    model_name: ModelNameOpt = None,
    api_key_env: ApiKeyEnvOpt = "OPENAI_API_KEY",
    bert: Annotated[Optional[str], typer.Option(
        "--bert", help="bert-base-uncased directory (config + vocab) for the official DiscBERT checkpoint.",
        show_default=False)] = None,
    phrases: Annotated[Optional[str], typer.Option(
        "--phrases", help="Another phrase-table JSON for the rules backend (same layout as "
        "rg4cli/data/hallucination_phrases.json).", show_default=False)] = None,
    threshold: Annotated[float, typer.Option(
        "--threshold", help="DiscBERT: a head's probability at or above this means the content is present.")] = 0.5,
    text: TextOpt = "auto",
    summary: Annotated[Optional[str], typer.Option(
        "--summary", help="Also write the summary (rates overall, per setting, per category; fractions "
        "0..1, null without reports) to this JSON file.",
        show_default=False)] = None,
    explain: Annotated[bool, typer.Option(
        "--explain", help="On stderr, per report: the verdict and each flagged sentence with its categories and "
        "the words that matched.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", help="DiscBERT texts per forward pass.")] = 32,
    device: DeviceOpt = "auto",
    output: OutputOpt = None,
    on_error: OnErrorOpt = "fail",
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
    judged text)}. A summary goes to stderr as a table in percent (and to --summary
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
      rg4 hallucination test.jsonl --backend discbert --model discbert/ --text findings+impression
    """
    if backend not in BACKENDS:
        raise InputError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "rules" and model:
        raise InputError("--model is for --backend discbert; the rules backend takes no model")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    text_of({}, text)  # validates --text before any work
    judge = make_judge(backend, model, device=device, batch_size=batch_size, bert=bert, threshold=threshold,
                       phrases=phrases, llm_options=_llm(backend, base_url, model_name, api_key_env))
    reader = RecordReader(input, on_error=on_error, log=log)
    judged: list[dict] = []

    def prepare(lineno: int, record: dict) -> tuple[str, str, str | None] | None:
        try:
            study = Study.from_record(record, source=reader.name, line=lineno)
        except InputError as exc:
            reader.reject(lineno, exc.field, exc.problem)
            return None
        body = text_of(record, text)
        if body is None:
            wanted = "report, findings or impression" if text == "auto" else text
            reader.reject(lineno, None if text == "auto" else text, f"no {wanted} text to judge (--text {text})")
            return None
        return body, study.setting, study.view

    def process(block: list[tuple[dict, tuple[str, str, str | None]]]) -> list[dict]:
        results = judge.judge([b for _, (b, _, _) in block], [s for _, (_, s, _) in block],
                              [v for _, (_, _, v) in block])
        for (record, (body, _, _)), result in zip(block, results):
            record["hallucination"] = result
            # The summary needs the flags only: keep memory flat on long inputs.
            judged.append({k: v for k, v in result.items() if k not in ("sentences", "scores")})
            if explain:
                log(explain_text(record.get("id"), body, result))
        return [record for record, _ in block]

    with RecordWriter(output) as writer:
        map_in_blocks(reader, writer, prepare, process,
                      block_size=batch_size if backend == "discbert" else BLOCK_RECORDS)
    if reader.summary():
        log(reader.summary())
    result = summarize(judged)
    if judged:
        log(format_summary(result))
    if summary:
        write_json(summary, result)


def explain_text(rid, body: str, result: dict) -> str:
    """What matched, for a person: verdict line, then one line per flagged sentence."""
    found = [c for c in CATEGORIES if result[c]]
    head = (f"{rid} [{result['setting']}] " + ("INPUT-AGNOSTIC: " + ", ".join(result["unsupported"])
                                                if result["input_agnostic"] else "ok")
            + (f" (found: {', '.join(found)})" if found else ""))
    lines = [head]
    for s in result["sentences"]:
        cats = ",".join(c + ("!" if c in s["unsupported"] else "") for c in s["categories"])
        words = ("  <- " + "; ".join(repr(p) for p in s["phrases"])) if s["phrases"] else ""
        lines.append(f"  [{cats}] {body[s['start']:s['end']]!r}{words}")
    return "\n".join(lines)
