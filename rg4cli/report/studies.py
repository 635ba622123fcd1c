"""The study browser's data: one compact dict per generated record, with only annotations of the text shown.

Each study carries the generated and the reference text as the page shows them, and beside
them only what was computed from exactly those strings (records.provenance): `hallucination`
sentences on the generated text, `sentence_weights` on the reference, labels of both. Labels
that are missing or belong to another text are computed here with the rules labeler, so a
label disagreement always compares the two texts on the page. Everything else is counted
into notes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rg4cli.records.provenance import annotation, status
from rg4cli.records.study import setting_of, text_of
from rg4cli.vocab import INPUT_SETTINGS, OBSERVATIONS

# One character per observation, in vocab.OBSERVATIONS order: positive, negative, uncertain, not mentioned.
_LABEL_CHARS = {1: "1", 0: "0", -1: "u", None: "."}


@dataclass
class StudyData:
    studies: list[dict] = field(default_factory=list)
    images: list[tuple[str, str, str]] = field(default_factory=list)  # (study id, field, path) to thumbnail
    counts: Counter = field(default_factory=Counter)  # what the notes report
    examples: dict[str, str] = field(default_factory=dict)  # first id of each count


def _count(data: StudyData, what: str, rid: str) -> None:
    data.counts[what] += 1
    data.examples.setdefault(what, rid)


def label_string(labels: Any) -> str | None:
    if not isinstance(labels, dict):
        return None
    return "".join(_LABEL_CHARS.get(labels.get(o), ".") for o in OBSERVATIONS)


def _positive(ch: str) -> bool:  # uncertain counts as positive, as the paper's CE does
    return ch in ("1", "u")


def mismatches(gen: str | None, ref: str | None) -> list[int]:
    """Observations (indexes) positive on one side only."""
    if gen is None or ref is None:
        return []
    return [i for i, (a, b) in enumerate(zip(gen, ref)) if _positive(a) != _positive(b)]


def _hallucination(rec: dict, text: str | None, data: StudyData, rid: str) -> dict | None:
    state = status(rec, "hallucination", text)
    if state == "stale":
        _count(data, "hallucination_stale", rid)
        return None
    h = annotation(rec, "hallucination", text)
    if not isinstance(h, dict):
        return None
    if state == "unbound":
        _count(data, "hallucination_unbound", rid)
    sentences = []
    for s in h.get("sentences") or []:
        if isinstance(s, dict) and isinstance(s.get("start"), int) and isinstance(s.get("end"), int):
            sentences.append([s["start"], s["end"], list(s.get("categories") or []), list(s.get("unsupported") or [])])
    return {"flag": bool(h.get("input_agnostic")), "unsup": list(h.get("unsupported") or []), "s": sentences}


def _weights(ref: dict, text: str | None, data: StudyData, rid: str) -> list | None:
    state = status(ref, "sentence_weights", text)
    if state == "stale":
        _count(data, "weights_stale", rid)
        return None
    w = annotation(ref, "sentence_weights", text)
    if not isinstance(w, list):
        return None
    out = []
    for s in w:
        if isinstance(s, dict) and isinstance(s.get("start"), int) and isinstance(s.get("end"), int):
            score = s.get("score")
            out.append([s["start"], s["end"], s.get("weight", 1), round(score, 3) if isinstance(score, float) else 0])
    return out


def _labels(record: dict, text: str | None, data: StudyData, rid: str, side: str) -> str | None:
    if text is None:
        return None
    state = status(record, "labels", text)
    if state == "stale":
        _count(data, f"labels_stale_{side}", rid)
    if state in ("match", "unbound"):
        return label_string(record.get("labels"))
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def collect_studies(
    records: list[tuple[int, dict]],
    refs: dict[str, dict] | None,
    *,
    text: str = "auto",
    ref_text: str = "auto",
    label: Callable[[list[str]], list[dict]] | None = None,
    source: str | None = None,
    ref_source: str | None = None,
) -> StudyData:
    """One browser entry per record, in input order; `label` labels texts whose labels are missing here."""
    data = StudyData()
    to_label: list[tuple[dict, str, str]] = []  # (study, key, text)
    for lineno, rec in records:
        rid = rec["id"]
        gen = text_of(rec, text, source=source, line=lineno)
        ref = refs.get(rid) if refs is not None else None
        if refs is not None and ref is None:
            _count(data, "no_reference", rid)
        ref_shown = text_of(ref, ref_text, source=ref_source) if ref is not None else None
        if gen is None:
            _count(data, "no_text", rid)
        setting = rec.get("setting") if rec.get("setting") in INPUT_SETTINGS else setting_of(rec)
        study: dict[str, Any] = {"id": rid, "setting": setting, "gen": gen or "", "ref": ref_shown}
        for key, name in (("view", "view"), ("ind", "indication"), ("hist", "history"), ("prior", "prior_report")):
            value = _str(rec.get(name)) or (_str(ref.get(name)) if ref is not None else None)
            if value is not None:
                study[key] = value
        for name in ("frontal", "lateral"):
            path = _str(rec.get(name)) or (_str(ref.get(name)) if ref is not None else None)
            if path is not None:
                data.images.append((rid, name, path))
        gen_info = rec.get("gen")
        if isinstance(gen_info, dict) and isinstance(gen_info.get("input_tokens"), int):
            study["tok"] = gen_info["input_tokens"]
        hall = _hallucination(rec, gen, data, rid)
        if hall is not None:
            study["h"] = hall
        if ref is not None:
            weights = _weights(ref, ref_shown, data, rid)
            if weights:
                study["w"] = weights
        for key, record, shown, side in (("lg", rec, gen, "gen"), ("lr", ref, ref_shown, "ref")):
            if record is None or shown is None:
                continue
            labels = _labels(record, shown, data, rid, side)
            if labels is None:
                to_label.append((study, key, shown))
            else:
                study[key] = labels
        data.studies.append(study)
    if to_label and label is not None:
        data.counts["labelled_here"] = len(to_label)
        for (entry, key, _), found in zip(to_label, label([t for _, _, t in to_label])):
            entry[key] = label_string(found)
    for study in data.studies:
        study["mm"] = mismatches(study.get("lg"), study.get("lr"))
    return data
