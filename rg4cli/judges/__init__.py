"""rg4 hallucination: input-agnostic content judged against a study's inputs.

Library entry: `judge_records(input, output, JudgeSettings(...))` reads JSONL study
records, writes them back with `hallucination` bound to the text judged
(records.provenance) and returns a `StageSummary` whose `extra["summary"]` holds the
rates (`summarize`). `make_judge` (judges.backends) is the per-text API.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from rg4cli.errors import InputError
from rg4cli.judges.backends import BACKENDS, format_summary, make_judge, summarize
from rg4cli.records.annotate import StageSummary, annotate_records
from rg4cli.records.provenance import bind
from rg4cli.records.study import ChosenText, Study, choose_text, resolve_text_field
from rg4cli.vocab import CATEGORIES

FIELD = "hallucination"
BLOCK_RECORDS = 64  # rules: records per block (DiscBERT batches a block's reports and sentences in one pass)

__all__ = ["BACKENDS", "JudgeSettings", "judge_records", "make_judge", "summarize", "format_summary", "explain_text"]


@dataclass
class JudgeSettings:
    """What `rg4 hallucination` does: which judge, which text."""

    backend: str = "rules"
    judge_model: str | None = None  # discbert: an `rg4 train --task discbert` directory or the official checkpoint
    judge_bert: str | None = None  # bert-base-uncased directory for the official DiscBERT checkpoint
    phrases: str | None = None  # another phrase-table JSON for the rules judge
    threshold: float = 0.5
    text: str = "auto"
    explain: bool = False  # log each report's verdict and flagged sentences
    batch_size: int = 32
    device: str = "auto"
    on_error: str = "fail"
    resume: bool = False  # keep the records already in the output, pass over their ids
    llm_options: dict | None = None  # openai: base_url, model_name, api_key_env, ... (rg4cli.judges.llm)

    def check(self) -> JudgeSettings:
        if self.backend not in BACKENDS:
            raise InputError(f"--backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.backend == "rules" and self.judge_model:
            raise InputError("--judge-model is for --backend discbert or hf; the rules backend takes no model")
        if self.backend in ("discbert", "hf") and not self.judge_model:
            raise InputError(
                f"--backend {self.backend} needs --judge-model (a DiscBERT checkpoint or a causal LM directory)"
            )
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        if not 0.0 <= self.threshold <= 1.0:
            raise InputError(f"--threshold is a probability, between 0 and 1; got {self.threshold}")
        resolve_text_field({}, self.text)  # --text is one of TEXT_FIELDS
        return self


def judge_records(
    input: str | os.PathLike | None,
    output: str | os.PathLike | None,
    settings: JudgeSettings,
    *,
    judge=None,
    log: Callable[[str], None] | None = None,
) -> StageSummary:
    """Judge every record of `input` into `output`; the summary's `extra["summary"]` is `summarize`'s dict.

    `judge`: an object from `make_judge` to use instead of building one from the settings.
    """
    settings.check()
    if judge is None:
        judge = make_judge(
            settings.backend,
            settings.judge_model,
            device=settings.device,
            batch_size=settings.batch_size,
            bert=settings.judge_bert,
            threshold=settings.threshold,
            phrases=settings.phrases,
            llm_options=settings.llm_options,
        )
    # The summary needs each report's flags only, and they take few distinct values: counted by
    # value, memory stays flat whatever the number of records.
    judged: Counter[str] = Counter()

    def prepare(line: int, record: dict) -> tuple[ChosenText, Study]:
        study = Study.from_record(record)
        return choose_text(record, settings.text, purpose="judge"), study

    def annotate(block: list[tuple[dict, tuple[ChosenText, Study]]]) -> None:
        results = judge.judge(
            [c.read for _, (c, _) in block], [s.setting for _, (_, s) in block], [s.view for _, (_, s) in block]
        )
        for (record, (chosen, study)), result in zip(block, results):
            bind(record, FIELD, result, text_field=chosen.field, text=chosen.text)
            # The summary needs the flags only: keep memory flat on long inputs.
            flags = {k: v for k, v in result.items() if k not in ("sentences", "scores")}
            judged[json.dumps(flags, sort_keys=True)] += 1
            if settings.explain and log is not None:
                log(explain_text(study.id, chosen.read, result))

    block = settings.batch_size if settings.backend == "discbert" else BLOCK_RECORDS
    summary = annotate_records(
        input, output, prepare, annotate, on_error=settings.on_error, resume=settings.resume, block_size=block, log=log
    )
    summary.backend = settings.backend
    summary.extra["summary"] = summarize(json.loads(k) for k, n in judged.items() for _ in range(n))
    return summary


def explain_text(rid, body: str, result: dict) -> str:
    """What matched, for a person: verdict line, then one line per flagged sentence."""
    found = [c for c in CATEGORIES if result[c]]
    head = (
        f"{rid} [{result['setting']}] "
        + ("INPUT-AGNOSTIC: " + ", ".join(result["unsupported"]) if result["input_agnostic"] else "ok")
        + (f" (found: {', '.join(found)})" if found else "")
    )
    lines = [head]
    for s in result["sentences"]:
        cats = ",".join(c + ("!" if c in s["unsupported"] else "") for c in s["categories"])
        words = ("  <- " + "; ".join(repr(p) for p in s["phrases"])) if s["phrases"] else ""
        lines.append(f"  [{cats}] {body[s['start'] : s['end']]!r}{words}")
    return "\n".join(lines)
