"""`rg4 build-data`: a MIMIC-CXR-JPG tree -> the four-scenario MIMIC-RG4 dataset."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from rg4cli.build.assembly import BuildStats, build_records, format_table1
from rg4cli.errors import InputError
from rg4cli.build.mimic import MimicImport
from rg4cli.build.rewriters import GENERATORS, make_rewriter
from rg4cli.build.rewrite_loop import GUARD_SECTIONS, RewriteLoop
from rg4cli.records.streams import RecordWriter, resumed_records, write_json
from rg4cli.cli.common import DeviceOpt, OutputOpt, ResumeOpt, handle_errors, log

JUDGES = ("rules", "discbert")
PROGRESS_EVERY_S = 30.0  # a progress line on stderr this often (LLM runs take hours)


@handle_errors
def build_data(
    mimic_root: Annotated[Path, typer.Argument(
        help="MIMIC-CXR-JPG directory: metadata and split CSV(.gz), files/pNN/pSUBJECT/sSTUDY/*.jpg and the "
        "report files files/pNN/pSUBJECT/sSTUDY.txt (or see --reports).", show_default=False)],
    output: OutputOpt = None,
    generator: Annotated[str, typer.Option(
        "--generator", help="Rewriter: rules (deterministic, offline), openai (an OpenAI-compatible chat "
        "endpoint, see --base-url) or hf (a local causal LM, see --model).")] = "rules",
    judge: Annotated[str, typer.Option(
        "--judge", help="Judge of input-agnostic content: rules or discbert (needs --judge-model).")] = "rules",
    judge_model: Annotated[Optional[str], typer.Option(
        "--judge-model", help="DiscBERT for --judge discbert: a directory from `rg4 train --task discbert`, or "
        "the official checkpoint (then also --judge-bert).", show_default=False)] = None,
    judge_bert: Annotated[Optional[str], typer.Option(
        "--judge-bert", help="bert-base-uncased directory (config + vocab) for an official DiscBERT checkpoint.",
        show_default=False)] = None,
    labeler: Annotated[str, typer.Option(
        "--labeler", help="Labeler of the label guard: rules, or chexbert (the paper; needs --labeler-model).")
    ] = "rules",
    labeler_model: Annotated[Optional[str], typer.Option(
        "--labeler-model", help="chexbert.pth (then also --labeler-bert) or a directory from `rg4 train --task "
        "labeler`.", show_default=False)] = None,
    labeler_bert: Annotated[Optional[str], typer.Option(
        "--labeler-bert", help="bert-base-uncased directory for the official chexbert.pth.",
        show_default=False)] = None,
    rounds: Annotated[int, typer.Option(
        "--rounds", help="Judge -> rewrite -> re-judge rounds at most (paper: 3).")] = 3,
    label_guard: Annotated[str, typer.Option(
        "--label-guard", help="Sections whose labels must not change (else the example is dropped): "
        "impression,findings, impression (the paper), findings, or none.")] = "impression,findings",
    drop_unresolved: Annotated[bool, typer.Option(
        "--drop-unresolved", help="Drop examples still flagged after the last round (default: keep them, "
        "rewrite.resolved false, as the paper's dataset does).")] = False,
    no_rewrite: Annotated[bool, typer.Option(
        "--no-rewrite", help="Judge only: write the raw targets (for a model trained on raw reports).")] = False,
    rejects: Annotated[Optional[Path], typer.Option(
        "--rejects", help="Also write dropped examples here (with `dropped` reason); with --resume their ids "
        "are not redone.", show_default=False)] = None,
    resume: ResumeOpt = False,
    stats: Annotated[bool, typer.Option(
        "--stats", help="Print the paper's Table 1 for input and output, and the drop counts, to stderr.")] = False,
    stats_json: Annotated[Optional[Path], typer.Option(
        "--stats-json", help="Write the statistics as JSON here.", show_default=False)] = None,
    splits: Annotated[Optional[str], typer.Option(
        "--splits", help="Only these splits, comma-separated (e.g. train,validate,test).",
        show_default=False)] = None,
    limit: Annotated[Optional[int], typer.Option(
        "--limit", help="Only the first N usable studies (in output order).", show_default=False)] = None,
    metadata: Annotated[Optional[Path], typer.Option(
        "--metadata", help="Metadata CSV(.gz) (default: the one in MIMIC_ROOT).", show_default=False)] = None,
    split_file: Annotated[Optional[Path], typer.Option(
        "--split-file", help="Split CSV(.gz) (default: the one in MIMIC_ROOT).", show_default=False)] = None,
    reports: Annotated[Optional[Path], typer.Option(
        "--reports", help="Where the report .txt files are: a directory holding files/pNN/... or "
        "mimic-cxr-reports.zip (default: MIMIC_ROOT).", show_default=False)] = None,
    check_images: Annotated[bool, typer.Option(
        "--check-images/--no-check-images", help="Pass over images whose .jpg is missing (default) or trust "
        "the metadata.")] = True,
    batch: Annotated[int, typer.Option(
        "--batch", help="Studies per judge/rewrite batch (the openai generator runs a batch concurrently).")] = 64,
    base_url: Annotated[Optional[str], typer.Option(
        "--base-url", help="openai: endpoint base URL, e.g. http://localhost:8000/v1.", show_default=False)] = None,
    model_name: Annotated[Optional[str], typer.Option(
        "--model-name", help="openai: the model name the server serves.", show_default=False)] = None,
    api_key_env: Annotated[str, typer.Option(
        "--api-key-env", help="openai: environment variable holding the API key (never printed; may be unset "
        "for local servers).")] = "OPENAI_API_KEY",
    workers: Annotated[int, typer.Option("--workers", help="openai: concurrent requests.")] = 8,
    timeout: Annotated[float, typer.Option("--timeout", help="openai: seconds per request.")] = 120.0,
    max_retries: Annotated[int, typer.Option(
        "--max-retries", help="openai/hf: retries per rewrite (429/5xx/timeout/malformed reply).")] = 5,
    backoff: Annotated[float, typer.Option(
        "--backoff", help="openai: first retry delay in seconds, doubled each retry.")] = 1.0,
    model: Annotated[Optional[str], typer.Option(
        "--model", help="hf: local causal LM directory.", show_default=False)] = None,
    system_prompt: Annotated[Optional[Path], typer.Option(
        "--system-prompt", help="openai/hf: a text file replacing the built-in system prompt (the instructions; "
        "the user message with the report, earlier attempts and the judge's findings is built as usual).",
        show_default=False)] = None,
    device: DeviceOpt = "auto",
) -> None:
    """Build the four-scenario MIMIC-RG4 dataset from a MIMIC-CXR-JPG tree.

    Reads MIMIC_ROOT: the metadata CSV (ViewPosition, StudyDate, StudyTime), the split
    CSV and the free-text reports. Per study: the frontal image (PA over AP; the
    largest, then lowest dicom_id), a lateral (LATERAL, else LL) if any, the subject's
    previous study by StudyDate/StudyTime (its findings + impression become
    `prior_report`), and the report's sections. Studies without a frontal image or
    without findings and impression are skipped and counted.

    Writes one JSONL study record per (study, setting) its inputs allow (sn always; mn
    with a lateral; sw with a prior report; mw with both): id "s<study>_<setting>",
    study_id, subject_id, split, setting, frontal/lateral (paths relative to
    MIMIC_ROOT, so `--image-root MIMIC_ROOT` serves every later command), view,
    prior_report, indication, history, findings and impression (the cleaned target),
    raw_findings and raw_impression (the original), and `rewrite` (rounds, the judge's
    verdict per round, generator, changed, resolved).

    The target is cleaned for the setting's inputs (paper): the judge flags prior
    comparison, prior procedure, view and communication content the inputs cannot
    support; the generator rewrites; the judge checks again; at most --rounds rounds,
    each prompt carrying the earlier attempts and the judge's findings. If the labels
    of the impression (and findings, --label-guard) change, the example is dropped
    (counted; --rejects keeps them). Order: subject, then study date, then sn, sw, mn, mw.

    \b
    Example:
      rg4 synth --subjects 50 --seed 1 -o phantom/
      rg4 build-data phantom/ -o rg4.jsonl --stats
      rg4 build-data mimic-cxr-jpg/ --generator openai --base-url http://localhost:8000/v1 \\
          --model-name meta-llama/Meta-Llama-3-70B-Instruct -o rg4.jsonl --resume --stats
    """
    if judge not in JUDGES:
        raise InputError(f"--judge must be one of {', '.join(JUDGES)}, got {judge!r}")
    if generator not in GENERATORS:
        raise InputError(f"--generator must be one of {', '.join(GENERATORS)}, got {generator!r}")
    if rounds < 0:
        raise InputError(f"--rounds must be >= 0, got {rounds}")
    if batch < 1:
        raise InputError(f"--batch must be >= 1, got {batch}")
    if limit is not None and limit < 0:
        raise InputError(f"--limit must be >= 0, got {limit}")
    guard = () if label_guard.strip() == "none" else tuple(s.strip() for s in label_guard.split(",") if s.strip())
    bad = [s for s in guard if s not in GUARD_SECTIONS]
    if bad:
        raise InputError(f"--label-guard: unknown section(s) {', '.join(bad)} (impression, findings or none)")
    if resume and output in (None, "-"):
        raise InputError("--resume needs -o FILE (the records already there are kept and skipped)")
    if judge == "discbert" and not judge_model:
        raise InputError("--judge discbert needs --judge-model (a DiscBERT checkpoint); or use --judge rules")

    imported = MimicImport(mimic_root, metadata=metadata, split_file=split_file, reports=reports,
                           check_images=check_images,
                           splits=tuple(s.strip() for s in splits.split(",")) if splits else None)

    from rg4cli.judges.backends import make_judge

    if judge == "rules":
        the_judge = make_judge("rules")
    else:
        the_judge = make_judge("discbert", model=judge_model, bert=judge_bert, device=_device(device))
    prompt_text = None
    if system_prompt is not None:
        if not system_prompt.is_file():
            raise InputError(f"--system-prompt: no such file: {system_prompt}")
        prompt_text = system_prompt.read_text(encoding="utf-8").strip() or None
    rewriter = None
    if not no_rewrite:
        if generator == "rules":
            finder = the_judge if judge == "rules" else make_judge("rules")
            rewriter = make_rewriter("rules", finder=finder)
        elif generator == "openai":
            rewriter = make_rewriter("openai", base_url=base_url or "", model=model_name or "",
                                     api_key_env=api_key_env, workers=workers, timeout=timeout,
                                     max_retries=max_retries, backoff=backoff, system_prompt=prompt_text)
        else:
            rewriter = make_rewriter("hf", model_path=model or "", device=device, max_retries=max_retries,
                                     system_prompt=prompt_text)
    the_labeler = None
    if guard and rewriter is not None:
        from rg4cli.labelers.backends import make_labeler

        if labeler == "rules":
            the_labeler = make_labeler("rules")
        else:
            the_labeler = make_labeler(labeler, checkpoint=labeler_model, bert=labeler_bert, device=_device(device))
    loop = RewriteLoop(the_judge, rewriter, the_labeler, rounds=rounds, guard=guard,
                       drop_unresolved=drop_unresolved)

    counts = BuildStats()
    done: set[str] = set()
    if resume:
        for path in (output, rejects):
            if path is not None:
                for rec in resumed_records(path):
                    done.add(rec["id"])
                    counts.add(rec, resumed=True)
        if done:
            log(f"rg4 build-data: resuming: {len(done)} (study, setting) pair(s) already done")

    writer = RecordWriter(output, append=resume)
    reject_writer = RecordWriter(rejects, append=resume) if rejects is not None else None
    gen_name = None if rewriter is None else rewriter.name
    last_log = time.monotonic()
    try:
        for rec in build_records(imported.studies(), loop, counts, generator=gen_name, judge=judge, done=done,
                                 batch_studies=batch, limit=limit):
            if time.monotonic() - last_log >= PROGRESS_EVERY_S:
                last_log = time.monotonic()
                log(f"rg4 build-data: {counts.studies}/{imported.n_studies} studies, "
                    f"{sum(counts.written.values())} written, {sum(counts.dropped.values())} dropped")
            if rec.get("dropped"):
                if reject_writer is not None:
                    reject_writer.write(rec)
            else:
                writer.write(rec)
    finally:
        writer.close()
        if reject_writer is not None:
            reject_writer.close()

    summary = counts.to_json(imported, dict(getattr(rewriter, "stats", {}) or {}))
    if stats_json is not None:
        write_json(stats_json, summary)
    if stats:
        log(format_table1(summary))
    else:
        ex = summary["examples"]
        log(f"rg4 build-data: wrote {sum(ex['written'].values())} record(s) "
            f"({', '.join(f'{k} {v}' for k, v in ex['written'].items())}); dropped "
            f"{sum(ex['dropped'].values())}; skipped {sum(summary['studies']['skipped'].values())} "
            f"stud{'y' if sum(summary['studies']['skipped'].values()) == 1 else 'ies'}")


def _device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
