"""The phantom studies as plain objects: a study's ids, acquisition, drawn findings and report
sentences (`StudySpec`, `Sentence`), and the report labels their sentences add up to."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from rg4cli.labelers.backends import finalize_labels
from rg4cli.synth.images import Anatomy, VisualFinding, render_frontal, render_lateral
from rg4cli.vocab import CATEGORIES, NEGATIVE, OBSERVATIONS, POSITIVE, UNCERTAIN

TRUTH_NAME = "truth.jsonl"


# ---- the plain objects ---------------------------------------------------------
@dataclass
class Sentence:
    """One report sentence: its text, the labels it states, its input-agnostic categories."""

    text: str
    labels: dict[str, int] = field(default_factory=dict)
    categories: tuple[str, ...] = ()

    def to_dict(self, section: str, start: int) -> dict:
        """`start`/`end`: character span in the section's text (truth `findings` or `impression`)."""
        return {
            "section": section,
            "start": start,
            "end": start + len(self.text),
            "text": self.text,
            "labels": dict(self.labels),
            "categories": list(self.categories),
        }


@dataclass
class StudySpec:
    """One phantom study: ids, acquisition, what is drawn and what the report says."""

    subject_id: str
    study_id: str
    subject_index: int
    study_index: int
    study_date: str  # YYYYMMDD
    study_time: str  # HHMMSS.fff
    view: str  # PA or AP
    lateral_view: str | None  # LATERAL, LL or None (no lateral image)
    frontal_dicom: str
    lateral_dicom: str | None
    image_size: int
    anatomy: Anatomy
    visual: list[VisualFinding]
    profile: str
    prior_study_id: str | None = None
    split: str = "train"
    examination: str = ""
    indication: str | None = None
    history: str | None = None
    technique: str = ""
    comparison: str = "None."
    findings_sentences: list[Sentence] | None = None  # None: impression-only report
    impression_sentences: list[Sentence] = field(default_factory=list)
    numbered_impression: bool = False
    seed: int = 0
    image_suffix: str = ".jpg"  # .png / .dcm when written as png, png16 or dicom

    # -- paths (relative to the tree root) --
    @property
    def study_dir(self) -> str:
        return f"files/p{self.subject_id[:2]}/p{self.subject_id}/s{self.study_id}"

    @property
    def frontal_path(self) -> str:
        return f"{self.study_dir}/{self.frontal_dicom}{self.image_suffix}"

    @property
    def lateral_path(self) -> str | None:
        return f"{self.study_dir}/{self.lateral_dicom}{self.image_suffix}" if self.lateral_dicom else None

    @property
    def report_path(self) -> str:
        return f"{self.study_dir}.txt"

    @property
    def has_lateral(self) -> bool:
        return self.lateral_dicom is not None

    # -- text --
    @property
    def findings(self) -> str | None:
        if self.findings_sentences is None:
            return None
        return " ".join(s.text for s in self.findings_sentences)

    @property
    def impression(self) -> str:
        return " ".join(s.text for s in self.impression_sentences)

    def sentences(self) -> list[tuple[str, Sentence]]:
        out = [("findings", s) for s in self.findings_sentences or []]
        return out + [("impression", s) for s in self.impression_sentences]

    @property
    def labels(self) -> dict[str, int | None]:
        return aggregate_labels(s.labels for _, s in self.sentences())

    @property
    def impression_labels(self) -> dict[str, int | None]:
        return aggregate_labels(s.labels for s in self.impression_sentences)

    @property
    def input_agnostic(self) -> dict[str, bool]:
        found = {c: False for c in CATEGORIES}
        for _, s in self.sentences():
            for c in s.categories:
                found[c] = True
        return found

    @property
    def input_agnostic_sentences(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {c: [] for c in CATEGORIES}
        for _, s in self.sentences():
            for c in s.categories:
                out[c].append(s.text)
        return out

    def _sentence_records(self) -> list[dict]:
        out, offset, current = [], 0, None
        for section, sent in self.sentences():
            if section != current:
                current, offset = section, 0
            out.append(sent.to_dict(section, offset))
            offset += len(sent.text) + 1  # sections join their sentences with one space
        return out

    def truth(self) -> dict:
        """The truth.jsonl record (also a valid rg4 study record: id, frontal, view, ...)."""
        return {
            "id": self.study_id,
            "study_id": self.study_id,
            "subject_id": self.subject_id,
            "split": self.split,
            "view": self.view,
            "frontal": self.frontal_path,
            "lateral": self.lateral_path,
            "has_lateral": self.has_lateral,
            "lateral_view": self.lateral_view,
            "report_path": self.report_path,
            "prior_study_id": self.prior_study_id,
            "study_date": self.study_date,
            "study_time": self.study_time,
            "indication": self.indication,
            "history": self.history,
            "findings": self.findings,
            "impression": self.impression,
            "labels": self.labels,
            "impression_labels": self.impression_labels,
            "input_agnostic": self.input_agnostic,
            "input_agnostic_sentences": self.input_agnostic_sentences,
            "sentences": self._sentence_records(),
            "visual": [fd.to_dict() for fd in self.visual],
            "profile": self.profile,
        }


# ---- labels ----------------------------------------------------------------------
def aggregate_labels(per_sentence: Iterable[dict[str, int]]) -> dict[str, int | None]:
    """Mention labels -> report labels (positive > uncertain > negative), No Finding derived."""
    rank = {POSITIVE: 3, UNCERTAIN: 2, NEGATIVE: 1}
    out: dict[str, int | None] = {name: None for name in OBSERVATIONS}
    for labels in per_sentence:
        for name, value in labels.items():
            if out[name] is None or rank[value] > rank[out[name]]:
                out[name] = value
    return dict(finalize_labels(out))  # No Finding by the rules labeler's CheXpert convention


def render_images(spec: StudySpec, unit: bool = False) -> dict[str, np.ndarray]:
    """dicom_id -> uint8 pixels for the study's images (floats in [0, 1] with `unit`)."""
    out = {}
    rng = np.random.default_rng([spec.seed, 4, spec.subject_index, spec.study_index])
    out[spec.frontal_dicom] = render_frontal(spec.visual, spec.image_size, spec.anatomy, rng, view=spec.view, unit=unit)
    if spec.lateral_dicom:
        out[spec.lateral_dicom] = render_lateral(spec.visual, spec.image_size, spec.anatomy, rng, unit=unit)
    return out


def dicom_tags(spec: StudySpec, dicom: str) -> dict:
    """What a PACS export carries per image: deterministic UIDs (same --seed, same bytes), view, patient, date."""
    from pydicom.uid import generate_uid

    view = spec.view if dicom == spec.frontal_dicom else spec.lateral_view
    return {
        "StudyInstanceUID": generate_uid(entropy_srcs=["rg4-synth-study", spec.study_id]),
        "SOPInstanceUID": generate_uid(entropy_srcs=["rg4-synth-image", dicom]),
        "SeriesInstanceUID": generate_uid(entropy_srcs=["rg4-synth-series", dicom]),
        "ViewPosition": view,
        "PatientID": spec.subject_id,
        "StudyDate": spec.study_date,
        "AccessionNumber": spec.study_id[-8:],
    }
