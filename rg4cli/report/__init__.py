"""`rg4 report`: one self-contained HTML page of a run, for looking at rather than reading.

Reads what the pipeline writes (generated records with their `labels` and `hallucination`,
the references with theirs and their `sentence_weights`, `rg4 score` summaries, the model
directories of `rg4 train`) and writes one HTML file whose styles, scripts, charts, data and
image thumbnails are all inline, so it opens from `file://` with no network.

An annotation is shown only on the text it was computed from (records.provenance); labels
missing or bound to another text are computed here with the rules labeler, so a label
disagreement always compares the two texts on the page. Problems a reader should know
about (missing images, records without a reference, a score summary of other studies,
stale annotations) become notes at the top of the page; input that cannot make a page
at all is an InputError (one line, exit 2).

    from rg4cli.report import ReportSettings, write_report
    write_report(ReportSettings(input="gen.judged.jsonl", ref="test.jsonl", output="report.html"))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rg4cli.errors import InputError

# A thumbnail's longest side in pixels (the default 96: benchmarks/bench_report.py).
THUMB_SIZES = range(32, 513)


@dataclass
class ReportSettings:
    input: str | None  # generated records (JSONL); None reads stdin
    output: str | None = None  # None: the caller takes ReportResult.html (the CLI writes it to stdout)
    ref: str | None = None  # references (JSONL, joined by id)
    scores: tuple[str, ...] = ()  # `rg4 score` summaries: PATH or NAME=PATH
    train: tuple[str, ...] = ()  # model directories of `rg4 train` (or their printed summaries)
    image_root: str | None = None
    allow_outside_image_root: bool = False
    text: str = "auto"  # the generated text shown (records.study.text_of)
    ref_text: str = "auto"
    thumb_size: int = 96
    thumb_budget_mb: float = 24.0  # thumbnails over this are made smaller (the page then stays <= ~30 MB)
    title: str = "rg4 report"
    notes: list[str] = field(default_factory=list)  # notes from the caller, shown first

    def check(self) -> ReportSettings:
        from rg4cli.records.study import TEXT_FIELDS

        if self.thumb_size not in THUMB_SIZES:
            raise InputError(
                f"must be {THUMB_SIZES.start}..{THUMB_SIZES.stop - 1} pixels, got {self.thumb_size}",
                field="--thumb-size",
            )
        if not self.thumb_budget_mb > 0:
            raise InputError(
                f"must be a positive number of megabytes, got {self.thumb_budget_mb}", field="--thumb-budget-mb"
            )
        for name, value in (("--text", self.text), ("--ref-text", self.ref_text)):
            if value not in TEXT_FIELDS:
                raise InputError(f"must be one of {', '.join(TEXT_FIELDS)}, got {value!r}", field=name)
        return self


@dataclass
class ReportResult:
    path: Path | None
    html: str | None  # the page, when no output file was named
    studies: int
    notes: list[str]
    bytes: int


def write_report(settings: ReportSettings, *, log: Callable[[str], None] | None = None) -> ReportResult:
    """Read the run's files and write the page to `settings.output`."""
    from rg4cli.records.streams import refuse_input_as_output
    from rg4cli.report.build import build_page

    settings.check()
    out = Path(settings.output) if settings.output not in (None, "-") else None
    if out is not None:
        refuse_input_as_output(out, [settings.input, settings.ref, *settings.scores])
        if out.is_dir():
            raise InputError("is a directory; expected a file name", source=str(out))
    html, studies, notes = build_page(settings, log=log)
    data = html.encode("utf-8")
    if out is None:
        return ReportResult(None, html, studies, notes, len(data))
    _write_atomically(out, data)
    return ReportResult(out, None, studies, notes, len(data))


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` in one step, so a crash never leaves half a page (a FIFO or device is written directly)."""
    import os

    if path.exists() and not path.is_file():
        path.write_bytes(data)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
