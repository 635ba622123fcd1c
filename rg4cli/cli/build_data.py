"""`rg4 build-data`: options -> rg4cli.dataset.BuildSettings -> build_dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rg4cli.cli.common import DeviceOpt, LabelerBertOpt, LabelerModelOpt, OutputOpt, ResumeOpt, handle_errors, log
from rg4cli.dataset import SOURCES, BuildSettings, build_dataset, parse_guard, summary_line
from rg4cli.dataset.assembly import format_table1
from rg4cli.errors import InputError
from rg4cli.records.streams import write_json

Opt = typer.Option
Str = str | None
OptPath = Path | None


@handle_errors
def build_data(
    source: Annotated[
        Path,
        typer.Argument(
            help="What to read (--from): a MIMIC-CXR-JPG directory (metadata and split CSV(.gz), files/pNN/pSUBJECT/"
            "sSTUDY/*.jpg, report .txt files), an IU X-ray directory or reports file, a MIMIC-RG4 annotation JSON "
            "(or a directory of them), or a folder of images / DICOM files.",
            metavar="SOURCE",
            show_default=False,
        ),
    ],
    output: OutputOpt = BuildSettings.output,
    source_format: Annotated[
        str, Opt("--from", help=f"Source kind: {', '.join(SOURCES)}.")
    ] = BuildSettings.source_format,
    generator: Annotated[
        str,
        Opt(
            "--generator",
            help="Rewriter: rules (offline), openai (an OpenAI-compatible "
            "endpoint, --base-url) or hf (a local causal LM, --model).",
        ),
    ] = BuildSettings.generator,
    judge: Annotated[
        str,
        Opt(
            "--judge",
            help="Judge of input-agnostic content: rules, discbert (needs "
            "--judge-model), openai (an LLM at --base-url/--model-name, as the paper's judge) "
            "or hf (a local causal LM: --judge-model DIR).",
        ),
    ] = BuildSettings.judge,
    judge_model: Annotated[
        Str,
        Opt(
            "--judge-model",
            help="DiscBERT: a directory from `rg4 train --task discbert`, "
            "or the official checkpoint (then also --judge-bert).",
        ),
    ] = BuildSettings.judge_model,
    judge_bert: Annotated[
        Str, Opt("--judge-bert", help="bert-base-uncased directory for an official DiscBERT checkpoint.")
    ] = BuildSettings.judge_bert,
    labeler: Annotated[
        str, Opt("--labeler", help="Labeler of the label guard: rules, or chexbert (needs --labeler-model).")
    ] = BuildSettings.labeler,
    labeler_model: LabelerModelOpt = BuildSettings.labeler_model,
    labeler_bert: LabelerBertOpt = BuildSettings.labeler_bert,
    rounds: Annotated[
        int, Opt("--rounds", help="Judge -> rewrite -> re-judge rounds at most (paper: 3).")
    ] = BuildSettings.rounds,
    label_guard: Annotated[
        str,
        Opt(
            "--label-guard",
            help="Sections whose labels must not change (else the example "
            "is dropped): impression,findings, impression, findings or none.",
        ),
    ] = ",".join(BuildSettings.label_guard) or "none",
    drop_unresolved: Annotated[
        bool,
        Opt(
            "--drop-unresolved",
            help="Drop examples still flagged after the last round (default: keep them, rewrite.resolved false).",
        ),
    ] = BuildSettings.drop_unresolved,
    no_rewrite: Annotated[
        bool, Opt("--no-rewrite", help="Judge only: write the raw targets.")
    ] = BuildSettings.no_rewrite,
    rejects: Annotated[
        OptPath,
        Opt(
            "--rejects",
            help="Also write dropped examples here (with `dropped`); with --resume their ids are not redone.",
        ),
    ] = BuildSettings.rejects,
    resume: ResumeOpt = BuildSettings.resume,
    stats: Annotated[bool, Opt("--stats", help="Print the paper's Table 1 and the counts to stderr.")] = False,
    stats_json: Annotated[OptPath, Opt("--stats-json", help="Write the statistics as JSON here.")] = None,
    splits: Annotated[
        Str, Opt("--splits", help="Only these splits, comma-separated (train,validate,test).")
    ] = BuildSettings.splits,
    limit: Annotated[int | None, Opt("--limit", help="Only the first N usable studies.")] = BuildSettings.limit,
    metadata: Annotated[
        OptPath, Opt("--metadata", help="mimic-cxr: metadata CSV(.gz) (default: in SOURCE).")
    ] = BuildSettings.metadata,
    split_file: Annotated[
        OptPath, Opt("--split-file", help="mimic-cxr: split CSV(.gz) (default: in SOURCE).")
    ] = BuildSettings.split_file,
    reports: Annotated[
        OptPath,
        Opt(
            "--reports", help="mimic-cxr: a directory holding files/pNN/... or mimic-cxr-reports.zip (default: SOURCE)."
        ),
    ] = BuildSettings.reports,
    annotation: Annotated[
        OptPath,
        Opt(
            "--annotation",
            help="iu-xray: R2Gen's annotation.json (splits, image "
            "paths; default: SOURCE/annotation.json when present).",
        ),
    ] = BuildSettings.annotation,
    scores_tokenizer: Annotated[
        Str,
        Opt(
            "--scores-tokenizer",
            help="mimic-rg4: the tokenizer directory the released new_scores index (Vicuna-7B v1.5's).",
        ),
    ] = BuildSettings.scores_tokenizer,
    check_images: Annotated[
        bool,
        Opt(
            "--check-images/--no-check-images",
            help="Pass over images whose file is missing (default) or trust the listing.",
        ),
    ] = BuildSettings.check_images,
    batch_size: Annotated[
        int,
        Opt("--batch-size", help="Studies per judge/rewrite batch (the openai generator runs a batch concurrently)."),
    ] = BuildSettings.batch_size,
    base_url: Annotated[
        Str, Opt("--base-url", help="openai: endpoint base URL, e.g. http://localhost:8000/v1.")
    ] = None,
    model_name: Annotated[Str, Opt("--model-name", help="openai: the model name the server serves.")] = None,
    api_key_env: Annotated[
        str,
        Opt(
            "--api-key-env",
            help="openai: environment variable holding the API key (never printed; may be unset for local servers).",
        ),
    ] = "OPENAI_API_KEY",
    workers: Annotated[int, Opt("--workers", help="openai: concurrent requests.")] = 8,
    timeout: Annotated[float, Opt("--timeout", help="openai: seconds per request.")] = 120.0,
    max_retries: Annotated[int, Opt("--max-retries", help="openai/hf: retries per rewrite.")] = 5,
    backoff: Annotated[float, Opt("--backoff", help="openai: first retry delay (s), doubled each retry.")] = 1.0,
    model: Annotated[Str, Opt("--model", help="hf: local causal LM directory.")] = None,
    system_prompt: Annotated[
        OptPath, Opt("--system-prompt", help="openai/hf: a text file replacing the built-in system prompt.")
    ] = BuildSettings.system_prompt,
    device: DeviceOpt = BuildSettings.device,
) -> None:
    """Build study records in the four settings (sn, sw, mn, mw) from a dataset.

    --from mimic-cxr (default): per study the frontal image (PA over AP), a lateral if
    any, the subject's previous report (`prior_report`) and the report's sections; one
    record per setting the inputs allow, the target cleaned for the setting's inputs by
    judge -> rewrite -> re-judge (at most --rounds), dropped when the labels change.
    --from iu-xray: IU X-ray reports (sn/mn, no priors), the same cleaning.
    --from mimic-rg4: the released MIMIC-RG4 annotations, as released; new_scores become
    sentence_weights (needs --scores-tokenizer). --from folder: images or a DICOM export,
    one record per study without a report (for rg4 generate). More: docs/datasets.md.

    \b
    Example:
      rg4 synth --subjects 50 --seed 1 -o phantom/
      rg4 build-data phantom/ -o rg4.jsonl --stats
      rg4 build-data iu/ --from iu-xray -o iu.jsonl
      rg4 build-data mimic-cxr-jpg/ --generator openai --base-url http://localhost:8000/v1 \\
          --model-name meta-llama/Meta-Llama-3-70B-Instruct -o rg4.jsonl --resume --stats
    """
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    prompt_text = None
    if system_prompt is not None:
        if not system_prompt.is_file():
            raise InputError(f"--system-prompt: no such file: {system_prompt}")
        prompt_text = system_prompt.read_text(encoding="utf-8").strip() or None
    settings = BuildSettings(
        source=source,
        source_format=source_format,
        output=output,
        rejects=rejects,
        resume=resume,
        generator=generator,
        judge=judge,
        judge_model=judge_model,
        judge_bert=judge_bert,
        labeler=labeler,
        labeler_model=labeler_model,
        labeler_bert=labeler_bert,
        rounds=rounds,
        label_guard=parse_guard(label_guard),
        drop_unresolved=drop_unresolved,
        no_rewrite=no_rewrite,
        batch_size=batch_size,
        device=device,
        system_prompt=prompt_text,
        openai={
            "base_url": base_url or "",
            "model": model_name or "",
            "api_key_env": api_key_env,
            "workers": workers,
            "timeout": timeout,
            "max_retries": max_retries,
            "backoff": backoff,
        },
        hf={"model_path": model or "", "max_retries": max_retries},
        splits=tuple(s.strip() for s in splits.split(",")) if splits else None,
        limit=limit,
        metadata=metadata,
        split_file=split_file,
        reports=reports,
        annotation=annotation,
        check_images=check_images,
        scores_tokenizer=scores_tokenizer,
    )

    def report(summary: dict) -> None:
        if stats_json is not None:
            write_json(stats_json, summary)
        log(format_table1(summary) if stats else summary_line(summary))

    build_dataset(settings, log=log, on_summary=report)
