"""The pairs `rg4 score` scores: hypotheses joined with references by id, and one system's
texts, settings and hallucination fields (`System`), in pair order."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rg4cli.errors import InputError
from rg4cli.metrics import nlg
from rg4cli.records.provenance import status
from rg4cli.records.streams import RecordReader, RefIndex, join_by_id
from rg4cli.records.study import INPUT_SETTINGS, setting_of, text_of


class TextOptions(Protocol):
    """What reading pairs needs of `ScoreSettings`."""

    text: str
    ref_text: str
    on_error: str


INPUT_FIELDS: tuple[str, ...] = ("frontal", "lateral", "prior_report")


@dataclass
class Pair:
    id: str
    hyp: dict
    ref: dict
    hyp_line: int | None
    ref_line: int | None


@dataclass
class System:
    """One system's reports, prepared and scored, in pair order."""

    ids: list[str]
    settings: list[str | None]
    hyp_texts: list[str]
    ref_texts: list[str]
    hyp_labels: list[dict] = field(default_factory=list)
    ref_labels: list[dict] = field(default_factory=list)
    hallucination: list[dict | None] = field(default_factory=list)
    per_report: dict[str, list[float]] = field(default_factory=dict)
    empty: int = 0  # hypotheses scored as empty text
    prepared: tuple[list[str], list[str]] | None = None  # (hyps, refs) as the scorers see them
    per_observation: dict[str, dict] = field(default_factory=dict)
    meteor_job: nlg.MeteorStats | None = None  # METEOR aligning in its JVM while Python works
    sufficient: nlg.Sufficient | None = None  # per-report statistics for resampling (score_system)


# ---- reading ---------------------------------------------------------------------


def _numbered(reader: RecordReader, lines: dict[str, int]) -> Iterator[tuple[int, dict]]:
    for lineno, rec in reader:
        lines.setdefault(rec["id"], lineno)
        yield lineno, rec


def read_pairs(
    path: str | None,
    ref: RefIndex,
    *,
    on_missing: str,
    on_error: str = "fail",
    log: Callable[[str], None] | None = None,
) -> tuple[list[Pair], dict[str, int], str]:
    """Hypothesis records joined with references by id, in input order."""
    reader = RecordReader(path, on_error=on_error, log=log)
    lines: dict[str, int] = {}
    joined = join_by_id(_numbered(reader, lines), ref, input_name=reader.name, on_missing=on_missing)
    pairs = [Pair(h["id"], h, r, lines.get(h["id"]), ref.lines.get(h["id"])) for h, r in joined.pairs]
    skipped = {"not_in_ref": len(joined.missing_in_ref), "not_in_input": len(joined.missing_in_input)}
    if log is not None:
        if joined.missing_in_ref:
            log(
                f"skipped {len(joined.missing_in_ref)} id(s) of {reader.name} not in {ref.name} "
                f"(first: {', '.join(map(repr, joined.missing_in_ref[:3]))})"
            )
        if joined.missing_in_input:
            log(
                f"{len(joined.missing_in_input)} id(s) of {ref.name} not in {reader.name} were not scored "
                f"(first: {', '.join(map(repr, joined.missing_in_input[:3]))})"
            )
        if reader.summary():
            log(reader.summary())
    return pairs, skipped, reader.name


def setting_for(pair: Pair, source: str) -> str | None:
    """A `setting` field (hypothesis first), else derived from study inputs, else None."""
    for rec, line in ((pair.hyp, pair.hyp_line), (pair.ref, pair.ref_line)):
        stated = rec.get("setting")
        if stated is not None:
            if stated not in INPUT_SETTINGS:
                raise InputError(
                    f"expected one of {', '.join(INPUT_SETTINGS)}, got {stated!r}",
                    source=source,
                    line=line,
                    field="setting",
                )
            return stated
    for rec in (pair.hyp, pair.ref):
        if any(k in rec for k in INPUT_FIELDS):
            return setting_of(rec)
    return None


def _blank_text(record: dict, which: str) -> bool:
    """True when the field(s) `which` reads are present as strings, all blank (an empty report)."""
    names = {"auto": ("report", "findings", "impression"), "findings+impression": ("findings", "impression")}.get(
        which, (which,)
    )
    values = [record.get(n) for n in names if record.get(n) is not None]
    return bool(values) and all(isinstance(v, str) and not v.strip() for v in values)


def build_system(
    pairs: Sequence[Pair],
    config: TextOptions,
    *,
    input_name: str,
    ref_name: str,
    skipped: dict[str, int],
    log: Callable[[str], None] | None = None,
) -> System:
    """Texts, settings and hallucination fields of the pairs.

    A hypothesis whose text field is present but empty is scored as "" and counted
    (System.empty). A pair with no text field is an error (or, with on_error=skip,
    left out and counted in skipped["no_text"]). A `hallucination` field computed
    from another text is not used (counted in skipped["hallucination_stale"]).
    """
    sys_ = System([], [], [], [])
    skipped.setdefault("no_text", 0)
    skipped.setdefault("hallucination_stale", 0)
    for pair in pairs:
        missing = None
        try:  # a text field of the wrong type is skipped like a missing one with on_error=skip
            hyp_text = text_of(pair.hyp, config.text, source=input_name, line=pair.hyp_line)
            ref_text = text_of(pair.ref, config.ref_text, source=ref_name, line=pair.ref_line)
        except InputError as exc:
            hyp_text = ref_text = ""
            missing = exc
        if missing is None and hyp_text is None and _blank_text(pair.hyp, config.text):
            hyp_text = ""
            sys_.empty += 1
        if missing is not None:
            pass
        elif hyp_text is None:
            missing = InputError(
                f"no text to score (--text {config.text})",
                source=input_name,
                line=pair.hyp_line,
                field="report" if config.text == "auto" else config.text,
            )
        elif ref_text is None:
            missing = InputError(
                f"no reference text (--ref-text {config.ref_text})",
                source=ref_name,
                line=pair.ref_line,
                field="findings" if config.ref_text == "auto" else config.ref_text,
            )
        if missing is not None:
            if config.on_error == "fail":
                raise missing
            skipped["no_text"] += 1
            if log is not None and skipped["no_text"] <= 3:
                log(f"skipped: {missing}")
            continue
        hall = pair.hyp.get("hallucination")
        if hall is not None and not (isinstance(hall, dict) and "input_agnostic" in hall):
            raise InputError(
                "expected an object with input_agnostic (as rg4 hallucination writes it)",
                source=input_name,
                line=pair.hyp_line,
                field="hallucination",
            )
        if hall is not None and status(pair.hyp, "hallucination", hyp_text) == "stale":
            hall = None
            skipped["hallucination_stale"] += 1
        sys_.ids.append(pair.id)
        sys_.settings.append(setting_for(pair, input_name))
        sys_.hyp_texts.append(hyp_text)
        sys_.ref_texts.append(ref_text)
        sys_.hallucination.append(hall)
    if log is not None:
        if sys_.empty:
            log(
                f"{input_name}: {sys_.empty} empty hypothes{'i' if sys_.empty == 1 else 'e'}s scored as empty text "
                "(kept in n; summary: empty_hypotheses)"
            )
        if skipped["hallucination_stale"]:
            log(
                f"{input_name}: {skipped['hallucination_stale']} `hallucination` field(s) were computed from another "
                "text and are not used (run rg4 hallucination on these reports)"
            )
    return sys_
