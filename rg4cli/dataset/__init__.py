"""rg4 build-data: study records in the four settings, from one of several sources.

Library entry: `build_dataset(BuildSettings(...), log=...) -> summary dict` (what
`--stats-json` writes). `rg4 build-data` only turns its options into BuildSettings.

Sources (`BuildSettings.source_format`, `--from`):

- mimic-cxr: a MIMIC-CXR-JPG tree (dataset.mimic) -> judge -> rewrite -> re-judge
  (dataset.rewrite_loop) -> records (dataset.assembly).
- iu-xray: IU X-ray / Open-i reports, R2Gen's annotation.json when given (dataset.iu);
  the same rewrite loop (IU has no priors: sn and mn only).
- mimic-rg4: the authors' released MIMIC-RG4 annotation files (dataset.release): already
  rewritten, imported as they are; `new_scores` become `sentence_weights`.
- folder: a folder of images or a DICOM export (dataset.folder): records without a
  report, for `rg4 generate`.

Modules: mimic (MIMIC import), iu, release, folder (other sources), rewrite_loop (the
loop), rewriters (its backends), assembly (records, Table 1).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rg4cli.errors import InputError

SOURCES = ("mimic-cxr", "iu-xray", "mimic-rg4", "folder")
PROGRESS_EVERY_S = 30.0  # a progress line this often (LLM runs take hours)


@dataclass
class BuildSettings:
    """Everything `rg4 build-data` is told (docs/datasets.md "rg4 build-data: sources")."""

    source: Path
    source_format: str = "mimic-cxr"
    output: str | None = None
    rejects: Path | None = None
    resume: bool = False
    # the rewrite loop (mimic-cxr, iu-xray)
    generator: str = "rules"
    judge: str = "rules"
    judge_model: str | None = None
    judge_bert: str | None = None
    labeler: str = "rules"
    labeler_model: str | None = None
    labeler_bert: str | None = None
    rounds: int = 3
    label_guard: tuple[str, ...] = ("impression", "findings")
    drop_unresolved: bool = False
    no_rewrite: bool = False
    batch_size: int = 64
    device: str = "auto"
    # generator backends: openai (base_url, model, api_key_env, workers, timeout, max_retries,
    # backoff, ...) and hf (model_path, max_retries); system_prompt: the text replacing the built-in one
    openai: dict[str, Any] = field(default_factory=dict)
    hf: dict[str, Any] = field(default_factory=dict)
    system_prompt: str | None = None
    # what to read
    splits: tuple[str, ...] | None = None
    limit: int | None = None
    metadata: Path | None = None
    split_file: Path | None = None
    reports: Path | None = None
    annotation: Path | None = None  # iu-xray: R2Gen's annotation.json
    check_images: bool = True
    scores_tokenizer: str | None = None  # mimic-rg4: the tokenizer `new_scores` index (Vicuna's)
    lam: float | None = None  # mimic-rg4: weight of an emphasised sentence (default: rg4 train's λ)

    def validate(self) -> None:
        def one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
            if value not in allowed:
                raise InputError(f"--{name} must be one of {', '.join(allowed)}, got {value!r}")

        from rg4cli.dataset.rewrite_loop import GUARD_SECTIONS
        from rg4cli.dataset.rewriters import GENERATORS
        from rg4cli.judges.backends import BACKENDS

        one_of("from", self.source_format, SOURCES)
        one_of("judge", self.judge, BACKENDS)
        one_of("generator", self.generator, GENERATORS)

        bad = [s for s in self.label_guard if s not in GUARD_SECTIONS]
        if bad:
            raise InputError(f"--label-guard: unknown section(s) {', '.join(bad)} (impression, findings or none)")
        for name, value, low in (
            ("rounds", self.rounds, 0),
            ("batch-size", self.batch_size, 1),
            ("limit", self.limit, 0),
        ):
            if value is not None and value < low:
                raise InputError(f"--{name} must be >= {low}, got {value}")
        if self.resume and self.output in (None, "-"):
            raise InputError("--resume needs -o FILE (the records already there are kept and skipped)")
        if self.judge in ("discbert", "hf") and not self.judge_model:
            raise InputError(
                f"--judge {self.judge} needs --judge-model (a DiscBERT checkpoint or a causal LM "
                "directory); or use --judge rules"
            )


def parse_guard(text: str) -> tuple[str, ...]:
    """--label-guard: 'impression,findings', 'impression', 'findings' or 'none'."""
    return () if text.strip() == "none" else tuple(s.strip() for s in text.split(",") if s.strip())


def make_loop(s: BuildSettings):
    """Judge, rewriter and labeler guard wired as `s` says (judges through judges.backends.make_judge)."""
    from rg4cli.dataset.rewrite_loop import RewriteLoop
    from rg4cli.dataset.rewriters import make_rewriter
    from rg4cli.devices import resolve_device
    from rg4cli.judges.backends import make_judge

    def device() -> str:
        return str(resolve_device(s.device))

    llm_options = None
    if s.judge == "openai":  # the LLM judge speaks to the generator's endpoint (--base-url, --model-name)
        llm_options = {k: v for k, v in s.openai.items() if k != "model"}
        llm_options["model_name"] = s.openai.get("model")
    judge = (
        make_judge("rules")
        if s.judge == "rules"
        else make_judge(s.judge, model=s.judge_model, bert=s.judge_bert, device=device(), llm_options=llm_options)
    )
    rewriter = None
    if not s.no_rewrite:
        if s.generator == "rules":
            rewriter = make_rewriter("rules", finder=judge if s.judge == "rules" else make_judge("rules"))
        elif s.generator == "openai":
            options = {"base_url": "", "model": "", **s.openai}
            rewriter = make_rewriter("openai", system_prompt=s.system_prompt, **options)
        else:
            options = {"model_path": "", **s.hf}
            rewriter = make_rewriter("hf", device=s.device, system_prompt=s.system_prompt, **options)
    labeler = None
    if s.label_guard and rewriter is not None:
        from rg4cli.labelers.backends import make_labeler

        labeler = (
            make_labeler("rules")
            if s.labeler == "rules"
            else make_labeler(s.labeler, checkpoint=s.labeler_model, bert=s.labeler_bert, device=device())
        )
    return RewriteLoop(
        judge, rewriter, labeler, rounds=s.rounds, guard=s.label_guard, drop_unresolved=s.drop_unresolved
    )


def open_source(s: BuildSettings):
    """The importer for `s.source_format`: `.studies()` plus skip / note counters."""
    if s.source_format == "mimic-cxr":
        from rg4cli.dataset.mimic import MimicImport

        return MimicImport(
            s.source,
            metadata=s.metadata,
            split_file=s.split_file,
            reports=s.reports,
            check_images=s.check_images,
            splits=s.splits,
        )
    if s.source_format == "iu-xray":
        from rg4cli.dataset.iu import IUImport

        return IUImport(s.source, annotation=s.annotation, check_images=s.check_images, splits=s.splits)
    if s.source_format == "mimic-rg4":
        from rg4cli.dataset.release import ReleaseImport

        return ReleaseImport(s.source, scores_tokenizer=s.scores_tokenizer, lam=s.lam, splits=s.splits)
    from rg4cli.dataset.folder import FolderImport

    return FolderImport(s.source)


def _records(s: BuildSettings, source, loop, stats, done: set[str]) -> Iterator[dict]:
    """The records of one run, in output order (dropped ones too, with `dropped`)."""
    if loop is None:  # mimic-rg4, folder: records as the source gives them
        n = 0
        for rec in source.records():
            if s.limit is not None and n >= s.limit:
                return
            n += 1
            stats.studies += 1
            if rec["id"] not in done:
                stats.add(rec)
                yield rec
        return
    from rg4cli.dataset.assembly import build_records

    yield from build_records(
        source.studies(),
        loop,
        stats,
        generator=None if loop.rewriter is None else loop.rewriter.name,
        judge=s.judge,
        done=done,
        batch_studies=s.batch_size,
        limit=s.limit,
    )


def build_dataset(
    s: BuildSettings, *, log: Callable[[str], None] | None = None, on_summary: Callable[[dict], None] | None = None
) -> dict:
    """Write the dataset `s` describes; return the statistics (Table 1, counts).

    When the generator gave up on examples, `on_summary(statistics)` runs first (so they are
    reported) and then an Rg4Error says how many (exit status 1); the records written stay.
    """
    from rg4cli.dataset.assembly import BuildStats
    from rg4cli.records.streams import RecordWriter, resumed_records

    s.validate()
    say = log or (lambda _m: None)
    source = open_source(s)
    stats = BuildStats()
    done: set[str] = set()
    if s.resume:
        for path in (s.output, s.rejects):
            if path is not None:
                for rec in resumed_records(path):  # FILE.partial of a killed run, else FILE; a cut line is redone
                    done.add(rec["id"])
                    stats.add(rec, resumed=True)
        if done:
            say(f"rg4 build-data: resuming: {len(done)} (study, setting) pair(s) already done")
    loop = None if hasattr(source, "records") else make_loop(s)
    last_log = time.monotonic()
    # Context managers, so that an error or an interrupt never publishes a half-written output.
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(RecordWriter(s.output, append=s.resume))
        reject_writer = stack.enter_context(RecordWriter(s.rejects, append=s.resume)) if s.rejects else None
        for rec in _records(s, source, loop, stats, done):
            if time.monotonic() - last_log >= PROGRESS_EVERY_S:
                last_log = time.monotonic()
                say(
                    f"rg4 build-data: {stats.studies}/{source.n_studies} studies, "
                    f"{sum(stats.written.values())} written, {sum(stats.dropped.values())} dropped"
                )
            if rec.get("dropped"):
                if reject_writer is not None:
                    reject_writer.write(rec)
            else:
                writer.write(rec)
    rewriter = None if loop is None else loop.rewriter
    summary = stats.to_json(source, dict(getattr(rewriter, "stats", {}) or {}))
    if on_summary is not None:
        on_summary(summary)
    studies, examples = summary.get("studies"), summary["examples"]
    wrote = sum(examples["written"].values()) + sum(examples["dropped"].values())
    if studies is not None and not done and s.limit != 0 and not wrote:
        # Zero records from a tree is a wrong path or tree, not a dataset (exit 2).
        reasons = ", ".join(f"{k}: {v}" for k, v in studies["skipped"].items() if v) or "no usable study"
        raise InputError(f"no record written: every study was skipped ({reasons}); check the paths of the source")
    if rewriter is not None:
        from rg4cli.dataset.rewriters import unrewritten_error

        failure = unrewritten_error(rewriter)
        if failure is not None:
            raise failure
    return summary


def summary_line(summary: dict) -> str:
    """The one line `rg4 build-data` prints without --stats."""
    ex, skipped = summary["examples"], sum(summary["studies"]["skipped"].values())
    return (
        f"rg4 build-data: wrote {sum(ex['written'].values())} record(s) "
        f"({', '.join(f'{k} {v}' for k, v in ex['written'].items())}); dropped "
        f"{sum(ex['dropped'].values())}; skipped {skipped} stud{'y' if skipped == 1 else 'ies'}"
    )


__all__ = ["BuildSettings", "build_dataset", "make_loop", "open_source", "parse_guard", "summary_line", "SOURCES"]
