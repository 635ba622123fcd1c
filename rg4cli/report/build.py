"""From the run's files to the page: read, check that they belong together, collect notes, render."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from rg4cli import __version__
from rg4cli.report import THUMB_SIZES, page
from rg4cli.report.figures import loss_charts, score_charts, token_chart
from rg4cli.report.inputs import ScoreInput, read_score, read_train
from rg4cli.report.studies import StudyData, collect_studies
from rg4cli.report.tables import blocks, comparison_table, metric_table, observation_table, run_section
from rg4cli.report.thumbs import Thumbnails

if TYPE_CHECKING:
    from rg4cli.report import ReportSettings

_COUNT_NOTES = {
    "no_reference": "{n} record(s) have no reference in {ref} (first: {ex}): shown without one, no label comparison",
    "no_text": "{n} record(s) have no generated text (first: {ex})",
    "hallucination_stale": "{n} record(s) carry a `hallucination` computed from another text (first: {ex}); "
    "not shown: run `rg4 hallucination` on the generated records again",
    "hallucination_unbound": "{n} record(s) carry a `hallucination` without provenance (first: {ex}); "
    "shown as if computed from the text shown",
    "weights_stale": "{n} reference(s) carry `sentence_weights` of another text (first: {ex}); not shown",
    "labels_stale_gen": "{n} generated record(s) carry labels of another text (first: {ex}); labelled here instead",
    "labels_stale_ref": "{n} reference(s) carry labels of another text (first: {ex}); labelled here instead",
    "labelled_here": "{n} text(s) had no labels of their own text and were labelled here with the rules labeler",
}


def _score_notes(score: ScoreInput, setting_counts: Counter, joined: int | None) -> list[str]:
    """A summary of other studies than the records shown: n per setting disagrees with the records."""
    if joined is None:
        return []
    theirs = {label: block.get("n") for label, _, block in blocks(score.summary) if label != "all"}
    ours = {k: v for k, v in setting_counts.items()}
    if score.summary.get("n") == joined and all(ours.get(k) == v for k, v in theirs.items()):
        return []
    return [
        f"{score.path}: scores {score.summary.get('n')} pair(s) ({_per(theirs)}), but the records shown have "
        f"{joined} with a reference ({_per(ours)}): its numbers describe other studies or another subset"
    ]


def _thumbnails(data: StudyData, thumbs: Thumbnails) -> Thumbnails:
    """Encode every study's images into `thumbs`; a study keeps the keys, or which images are missing."""
    by_id = {s["id"]: s for s in data.studies}
    for study in data.studies:
        for name in ("f", "l", "missing"):
            study.pop(name, None)
    for rid, name, path in data.images:
        key = thumbs.key(path)
        if key is not None:
            by_id[rid][name[0]] = key
        else:
            by_id[rid].setdefault("missing", []).append(name)
    return thumbs


def _per(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def build_page(settings: ReportSettings, *, log: Callable[[str], None] | None = None) -> tuple[str, int, list[str]]:
    """The page's HTML, the number of studies in it, and its notes."""
    from rg4cli.images import ImageRoot
    from rg4cli.labelers.backends import make_labeler
    from rg4cli.records.streams import RecordReader, display_name, index_by_id

    say = log or (lambda _m: None)
    notes = list(settings.notes)
    scores = [read_score(s) for s in settings.scores]
    trains = []
    for spec in settings.train:
        train, train_notes = read_train(spec)
        trains.append(train)
        notes.extend(train_notes)

    reader = RecordReader(settings.input, on_error="fail")
    records = list(reader)
    refs = index_by_id(settings.ref).by_id if settings.ref else None
    if settings.ref is None:
        notes.append("no --ref given: the browser shows the generated reports alone, with no label comparison")
    say(f"rg4 report: {len(records)} record(s) from {reader.name}")
    data = collect_studies(
        records,
        refs,
        text=settings.text,
        ref_text=settings.ref_text,
        label=lambda texts: make_labeler("rules").label(texts),  # built only when a text needs it
        source=reader.name,
        ref_source=display_name(settings.ref) if settings.ref else None,
    )
    for what, template in _COUNT_NOTES.items():
        if data.counts.get(what):
            notes.append(
                template.format(
                    n=data.counts[what], ex=repr(data.examples.get(what, "")), ref=display_name(settings.ref)
                )
            )

    root = ImageRoot.of(settings.image_root, settings.allow_outside_image_root)
    thumbs = _thumbnails(data, Thumbnails(root, settings.thumb_size))
    budget = settings.thumb_budget_mb * 1e6
    if thumbs.bytes > budget and settings.thumb_size > THUMB_SIZES.start:
        # JPEG bytes grow with the pixel count: shrink the side by the square root of the overshoot.
        size = max(THUMB_SIZES.start, int(settings.thumb_size * (budget / thumbs.bytes) ** 0.5 * 0.95))
        notes.append(
            f"thumbnails of {settings.thumb_size} px would take {thumbs.bytes / 1e6:.3g} MB, over "
            f"--thumb-budget-mb {settings.thumb_budget_mb:g}: made at {size} px instead"
        )
        thumbs = _thumbnails(data, Thumbnails(root, size))
    if thumbs.problems:
        notes.append(f"{len(thumbs.problems)} image(s) could not be read (first: {thumbs.problems[0]})")
    say(f"rg4 report: {len(thumbs.uris)} thumbnail(s)")

    with_ref = Counter(s["setting"] for s in data.studies if s.get("ref") is not None)
    for score in scores:
        notes.extend(_score_notes(score, with_ref, sum(with_ref.values()) if refs is not None else None))

    sections = {
        "run": run_section(
            __version__,
            [("generated records", reader.name), ("references", display_name(settings.ref) if settings.ref else None)],
            trains,
            scores,
        ),
        "metrics": (metric_table(scores) + observation_table(scores)) if scores else "",
        "comparisons": comparison_table(scores) or "",
        "charts": [*score_charts(scores), *loss_charts(trains)] + [c for c in [token_chart(data.studies, trains)] if c],
    }
    html = page.render(settings.title, notes, sections, data.studies, thumbs.uris)
    return html, len(data.studies), notes
