"""Phantom studies in MIMIC-CXR-JPG's layout: subjects, evolving findings, reports, truth.

`generate_studies` makes the studies as plain objects (no files); `write_mimic_tree`
writes them where MIMIC-CXR-JPG (with the MIMIC-CXR reports unpacked beside it) keeps
its files:

    ROOT/files/pNN/pSUBJECT/sSTUDY/DICOM_ID.jpg   frontal (PA/AP) and, for most, a lateral
    ROOT/files/pNN/pSUBJECT/sSTUDY.txt            free-text report, MIMIC headers, `___` de-id
    ROOT/mimic-cxr-2.0.0-metadata.csv.gz          one row per image (MIMIC's columns)
    ROOT/mimic-cxr-2.0.0-split.csv.gz             train/validate/test, split by subject
    ROOT/truth.jsonl                              one line per study: what is really there

How the studies are made:
- Each subject has a profile (healthy, cardiac, ICU, pneumonia, oncology, trauma), one
  body habitus for all its studies, and 1..N studies at increasing dates. Findings
  evolve from study to study: chronic ones (cardiomegaly, nodules, pacemaker) persist,
  acute ones come, grow, shrink and go. Lines and tubes make a study a portable AP
  one, which rarely has a lateral image.
- The report says exactly what the images show: each drawn finding gets a positive (or,
  when drawn faint, an uncertain) sentence; some absent observations get negative
  sentences. Phrasings vary (several templates per observation and polarity).
- Input-agnostic content is placed at the rates of raw MIMIC-CXR (LLM-RG4 Table 1,
  which counts reports of "single view, no longitudinal" studies, i.e. studies with no
  earlier study in the dataset): prior comparison in 40% of the studies without a prior
  (Table 1: 39.9%; the radiologist compared with an outside exam the dataset lacks) and
  in 85% of those with one (true to it; the paper finds input-agnostic content in 88.5% of
  MIMIC-CXR's sn test references), prior procedure 15% (subjects with a surgical
  history), view statements and communications 5% each. These counts are exact
  (rounded), not sampled, so small sets hit the rates too.
- Every input-agnostic sentence is its own sentence and never the only mention of a
  finding: deleting it leaves the 14 labels unchanged. Comparison sentences name only
  findings that are positive in the same report, or none ("This is unchanged ...").
- Truth labels are the per-sentence labels of the templates, aggregated CheXpert-style
  over findings + impression (positive > uncertain > negative), with No Finding
  derived by `labeling.finalize_labels` when that module is present.

Deterministic given the seed: every random draw comes from generators seeded by
(seed, subject, study), JPEGs use fixed settings, the gzip headers carry no time.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from rg4cli.synth.images import (
    DEVICE_KINDS,
    IMAGE_SUFFIX,
    Anatomy,
    VisualFinding,
    render_frontal,
    render_lateral,
    save_image,
)
from rg4cli.vocab import CATEGORIES, NEGATIVE, NO_FINDING, OBSERVATIONS, POSITIVE, SUPPORT_DEVICES, UNCERTAIN

# Share of studies whose findings+impression carry each category (LLM-RG4 Table 1, raw
# MIMIC-CXR). Table 1 counts studies without a prior in the dataset ("single view, no
# longitudinal"), and 39.9% of their reports still compare with an earlier (outside) exam:
# "pc" is that share of the studies without a prior. A radiologist with the prior at hand
# compares nearly always: PC_RATE_WITH_PRIOR, so that all studies read as sn carry
# input-agnostic content about as often as the paper measures for MIMIC-CXR's reports
# (88.5% of the sn test references; here about 77%, with 40% PC where there is no prior).
# With 60% (about 63% of all studies), the demo's raw-report model wrote it in 31-36% of
# its sn reports (seed 1), at the edge of what the demo claims.
CATEGORY_RATES = {"pc": 0.40, "pp": 0.15, "view": 0.05, "comm": 0.05}
PC_RATE_WITH_PRIOR = 0.85
METADATA_NAME = "mimic-cxr-2.0.0-metadata.csv.gz"
SPLIT_NAME = "mimic-cxr-2.0.0-split.csv.gz"
TRUTH_NAME = "truth.jsonl"
METADATA_COLUMNS = (
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "Rows",
    "Columns",
    "StudyDate",
    "StudyTime",
    "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
)
SPLIT_COLUMNS = ("dicom_id", "study_id", "subject_id", "split")
JPEG_QUALITY = 90


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

    def report_text(self) -> str:
        return render_report(self)

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
def _finalize(labels: dict[str, int | None]) -> dict[str, int | None]:
    """No Finding (and any implied labels) by the labeler's convention when available."""
    try:
        from rg4cli.labelers.backends import finalize_labels  # the one place the convention lives
    except ImportError:
        finalize_labels = None
    if finalize_labels is not None:
        return dict(finalize_labels(dict(labels)))
    # CheXpert: No Finding is positive when no observation other than Support Devices
    # is positive or uncertain; otherwise it is left blank.
    out = dict(labels)
    findings = [v for k, v in out.items() if k not in (NO_FINDING, SUPPORT_DEVICES)]
    out[NO_FINDING] = POSITIVE if all(v not in (POSITIVE, UNCERTAIN) for v in findings) else None
    return out


def aggregate_labels(per_sentence: Iterable[dict[str, int]]) -> dict[str, int | None]:
    """Mention labels -> report labels (positive > uncertain > negative), No Finding derived."""
    rank = {POSITIVE: 3, UNCERTAIN: 2, NEGATIVE: 1}
    out: dict[str, int | None] = {name: None for name in OBSERVATIONS}
    for labels in per_sentence:
        for name, value in labels.items():
            if out[name] is None or rank[value] > rank[out[name]]:
                out[name] = value
    return _finalize(out)


# ---- subjects and their timelines -----------------------------------------------
PROFILES = ("healthy", "cardiac", "icu", "pneumonia", "oncology", "trauma")
PROFILE_WEIGHTS = (0.38, 0.18, 0.14, 0.12, 0.10, 0.08)
# kind -> (chance of appearing in a study when absent, chance of persisting when present)
ONSET_PERSIST = {
    "cardiomegaly": (0.06, 0.95),
    "mediastinal_widening": (0.015, 0.9),
    "effusion": (0.08, 0.6),
    "pneumothorax": (0.03, 0.45),
    "consolidation": (0.05, 0.45),
    "opacity": (0.05, 0.35),
    "edema": (0.04, 0.4),
    "atelectasis": (0.07, 0.4),
    "lesion": (0.025, 0.95),
    "pleural_thickening": (0.01, 1.0),
    "fracture": (0.02, 0.9),
    "ett": (0.02, 0.5),
    "ng_tube": (0.02, 0.5),
    "central_line": (0.03, 0.6),
    "pacemaker": (0.01, 1.0),
}
PROFILE_BOOST = {
    "healthy": {k: 0.35 for k in ONSET_PERSIST},
    "cardiac": {"cardiomegaly": 6.0, "effusion": 3.0, "edema": 5.0, "pacemaker": 6.0, "atelectasis": 1.5},
    "icu": {
        "ett": 14.0,
        "ng_tube": 12.0,
        "central_line": 8.0,
        "atelectasis": 2.5,
        "effusion": 2.0,
        "edema": 2.0,
        "consolidation": 1.5,
        "opacity": 1.5,
    },
    "pneumonia": {"consolidation": 7.0, "opacity": 4.0, "effusion": 1.5, "atelectasis": 1.5},
    "oncology": {"lesion": 14.0, "effusion": 2.0, "mediastinal_widening": 4.0, "pleural_thickening": 5.0},
    "trauma": {"fracture": 25.0, "pneumothorax": 10.0, "atelectasis": 1.5, "consolidation": 1.5},
}
# Kinds whose mention may be hedged (drawn faint, reported as possible).
HEDGEABLE = frozenset(
    {"effusion", "pneumothorax", "consolidation", "opacity", "edema", "atelectasis", "lesion", "fracture"}
)
SIDED = {
    "effusion": (0.42, 0.30, 0.28),
    "pneumothorax": (0.5, 0.5, 0.0),
    "consolidation": (0.48, 0.42, 0.10),
    "opacity": (0.45, 0.45, 0.10),
    "atelectasis": (0.3, 0.25, 0.45),
    "lesion": (0.5, 0.5, 0.0),
    "pleural_thickening": (0.5, 0.5, 0.0),
    "fracture": (0.5, 0.5, 0.0),
    "central_line": (0.8, 0.2, 0.0),
}
ZONED = {"consolidation": (0.25, 0.25, 0.5), "opacity": (0.3, 0.3, 0.4), "lesion": (0.5, 0.3, 0.2)}
# Surgical histories a prior-procedure sentence can mention: no device word ("wires",
# "clips", "valve") and nothing the labeler counts as another finding ("lobectomy",
# "resection" block No Finding), so the sentence changes no label.
PROCEDURES = {
    "cardiac": ("coronary artery bypass grafting", "cardiac surgery", "coronary artery bypass surgery"),
    "oncology": ("esophagectomy", "chemoradiation", "Whipple procedure"),
    "other": ("cholecystectomy", "esophagectomy", "cardiac surgery", "coronary artery bypass grafting"),
}


def _pick(rng: np.random.Generator, options: Sequence, p: Sequence[float] | None = None):
    if p is not None:
        p = np.asarray(p, dtype=float)
        p = p / p.sum()
    return options[int(rng.choice(len(options), p=p))]


def _new_finding(kind: str, rng: np.random.Generator, profile: str, state: dict) -> VisualFinding:
    side = None
    if kind in SIDED:
        side = _pick(rng, ("right", "left", "bilateral"), SIDED[kind])
    if kind == "edema":
        side = "bilateral"
    zone = _pick(rng, ("upper", "mid", "lower"), ZONED[kind]) if kind in ZONED else None
    level = int(_pick(rng, (1, 2, 3), (0.5, 0.35, 0.15)))
    if kind == "lesion":
        level = int(_pick(rng, (1, 2, 3), (0.5, 0.3, 0.2)))
    uncertain = kind in HEDGEABLE and rng.random() < 0.15
    if uncertain:
        level = 1
    fd = VisualFinding(
        kind=kind,
        side=side,
        level=level,
        zone=zone,
        uncertain=uncertain,
        dx=float(rng.uniform(-0.03, 0.03)),
        dy=float(rng.uniform(-0.025, 0.025)),
        rib=int(rng.integers(2, 8)) if kind == "fracture" else 0,
    )
    if kind in ("consolidation", "opacity"):
        fd.pneumonia = _pick(
            rng, ("positive", "uncertain", None), (0.45, 0.4, 0.15) if profile == "pneumonia" else (0.15, 0.35, 0.5)
        )
        if kind == "opacity" and fd.pneumonia == "positive":
            fd.pneumonia = "uncertain"
    return fd


def _evolve(
    state: dict[str, VisualFinding], rng: np.random.Generator, profile: str, first: bool
) -> dict[str, VisualFinding]:
    """The next study's findings from the previous study's (dict kind -> finding)."""
    boost = PROFILE_BOOST[profile]
    out: dict[str, VisualFinding] = {}
    for kind, (onset, persist) in ONSET_PERSIST.items():
        prev = state.get(kind)
        if prev is not None and rng.random() < persist:
            fd = dataclasses.replace(prev)
            if fd.uncertain and rng.random() < 0.5:
                fd.uncertain = False
            if (
                not fd.uncertain
                and kind not in DEVICE_KINDS
                and kind not in ("lesion", "fracture", "pleural_thickening")
            ):
                r = rng.random()
                if r < 0.2:
                    fd.level = min(3, fd.level + 1)
                elif r < 0.4:
                    fd.level = max(1, fd.level - 1)
            out[kind] = fd
            continue
        p = onset * boost.get(kind, 1.0) * (1.6 if first else 1.0)
        if prev is None and rng.random() < min(p, 0.9):
            out[kind] = _new_finding(kind, rng, profile, out)
    # Tubes come together; a pneumothorax of some size gets a chest tube.
    if "ett" in out and "ng_tube" not in out and rng.random() < 0.6:
        out["ng_tube"] = _new_finding("ng_tube", rng, profile, out)
    ptx = out.get("pneumothorax")
    prev_tube = state.get("chest_tube")
    if ptx is not None and not ptx.uncertain and (prev_tube is not None or (ptx.level >= 2 and rng.random() < 0.6)):
        out["chest_tube"] = VisualFinding(kind="chest_tube", side=ptx.side)
    elif ptx is None and prev_tube is not None and rng.random() < 0.3:
        out["chest_tube"] = VisualFinding(kind="chest_tube", side=prev_tube.side)
    return out


# ---- wording ----------------------------------------------------------------------
LEVEL_SIZE = {1: "small", 2: "moderate", 3: "large"}
LEVEL_SEVERITY = {1: "mild", 2: "moderate", 3: "severe"}
LEVEL_ADVERB = {1: "mildly", 2: "moderately", 3: "severely"}
LESION_SIZE = {1: ("8 mm", "9 mm", "1.1 cm"), 2: ("1.6 cm", "1.8 cm", "2.2 cm"), 3: ("3.4 cm", "4.0 cm", "4.5 cm")}
LOBE = {
    ("right", "upper"): "right upper lobe",
    ("right", "mid"): "right middle lobe",
    ("right", "lower"): "right lower lobe",
    ("left", "upper"): "left upper lobe",
    ("left", "mid"): "lingula",
    ("left", "lower"): "left lower lobe",
    ("bilateral", "upper"): "bilateral upper lobes",
    ("bilateral", "mid"): "bilateral mid lungs",
    ("bilateral", "lower"): "bilateral lower lobes",
}
LUNG_REGION = {
    ("right", "upper"): "right upper lung",
    ("right", "mid"): "right mid lung",
    ("right", "lower"): "right lung base",
    ("left", "upper"): "left upper lung",
    ("left", "mid"): "left mid lung",
    ("left", "lower"): "left lung base",
    ("bilateral", "upper"): "upper lungs bilaterally",
    ("bilateral", "mid"): "mid lungs bilaterally",
    ("bilateral", "lower"): "lung bases bilaterally",
}
ORDINAL = {2: "4th", 3: "5th", 4: "6th", 5: "7th", 6: "8th", 7: "9th", 1: "3rd", 0: "3rd", 8: "10th"}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _where(fd: VisualFinding, rng: np.random.Generator) -> str:
    key = (fd.side or "right", fd.zone or "lower")
    return LOBE[key] if rng.random() < 0.6 else LUNG_REGION[key]


class _Writer:
    """Sentences for one study; every template states its labels explicitly."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def choose(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    # -- per finding: (findings sentence, impression sentence), both with labels --
    def positive(self, fd: VisualFinding) -> tuple[Sentence, Sentence]:
        k, obs, c = fd.kind, fd.observation, self.choose
        val = UNCERTAIN if fd.uncertain else POSITIVE
        lab = {obs: val}
        side = fd.side or ""
        if k == "cardiomegaly":
            adv, sev = LEVEL_ADVERB[fd.level], LEVEL_SEVERITY[fd.level]
            if fd.level == 3 and self.rng.random() < 0.5:
                sev, adv = "marked", "markedly"
            f = c(
                (
                    f"The heart is {adv} enlarged.",
                    f"There is {sev} cardiomegaly.",
                    f"{_cap(sev)} cardiomegaly is present.",
                    f"The heart size is {adv} enlarged.",
                )
            )
            i = c((f"{_cap(sev)} cardiomegaly.", f"{_cap(adv)} enlarged heart."))
        elif k == "mediastinal_widening":
            f = c(
                (
                    "The mediastinum is widened.",
                    "There is widening of the mediastinum.",
                    "Mediastinal widening is noted.",
                )
            )
            i = c(("Widened mediastinum.", "Mediastinal widening."))
        elif k == "effusion":
            size = LEVEL_SIZE[fd.level]
            if fd.uncertain:
                f = c(
                    (
                        f"Possible small {self._sided(side)} pleural effusion.",
                        f"Questionable small {self._sided(side)} pleural effusion.",
                        f"Probable small {self._sided(side)} pleural effusion.",
                        f"A small {self._sided(side)} pleural effusion cannot be excluded.",
                        f"A small {self._sided(side)} pleural effusion may be present.",
                    )
                )
                i = c(
                    (
                        f"Possible small {self._sided(side)} pleural effusion.",
                        f"Small {self._sided(side)} pleural effusion cannot be excluded.",
                    )
                )
            elif side == "bilateral":
                f = c(
                    (
                        f"There are {size} bilateral pleural effusions.",
                        f"{_cap(size)} bilateral pleural effusions are present.",
                        f"{_cap(size)} bilateral pleural effusions are seen.",
                    )
                )
                i = f"{_cap(size)} bilateral pleural effusions."
            else:
                f = c(
                    (
                        f"There is a {size} {side} pleural effusion.",
                        f"A {size} {side} pleural effusion is present.",
                        f"{_cap(size)} {side} pleural effusion is seen.",
                        f"A {size} {side} pleural effusion is noted.",
                    )
                )
                i = c((f"{_cap(size)} {side} pleural effusion.", f"{_cap(size)} {side}-sided pleural effusion."))
        elif k == "pneumothorax":
            size = LEVEL_SIZE[fd.level]
            if fd.uncertain:
                f = c(
                    (
                        f"Possible tiny {side} apical pneumothorax.",
                        f"A small {side} apical pneumothorax cannot be excluded.",
                        f"A small {side} apical pneumothorax may be present.",
                    )
                )
                i = c((f"Possible small {side} pneumothorax.", f"Small {side} apical pneumothorax cannot be excluded."))
            else:
                f = c(
                    (
                        f"There is a {size} {side} pneumothorax.",
                        f"A {size} {side} pneumothorax is present.",
                        f"{_cap(size)} {side} apical pneumothorax is seen.",
                    )
                )
                i = c((f"{_cap(size)} {side} pneumothorax.", f"{_cap(size)} {side}-sided pneumothorax."))
        elif k == "consolidation":
            where = _where(fd, self.rng)
            if fd.uncertain:
                f = c(
                    (
                        f"Possible early consolidation in the {where}.",
                        f"Consolidation in the {where} cannot be excluded.",
                        f"Subtle consolidation may be present in the {where}.",
                    )
                )
                i = c((f"Possible consolidation in the {where}.", f"Consolidation in the {where} cannot be excluded."))
            else:
                f = c(
                    (
                        f"There is consolidation in the {where}.",
                        f"Focal consolidation is seen in the {where}.",
                        f"Dense consolidation is present in the {where}.",
                    )
                )
                i = c(
                    (
                        f"Consolidation in the {where}.",
                        f"{_cap(where)} consolidation."
                        if "lobe" in where or "lingula" in where
                        else f"Consolidation in the {where}.",
                    )
                )
        elif k == "opacity":
            where = _where(fd, self.rng)
            if fd.uncertain:
                f = c(
                    (
                        f"There is a possible faint opacity in the {where}.",
                        f"A subtle opacity in the {where} cannot be excluded.",
                    )
                )
                i = f"Possible faint opacity in the {where}."
            else:
                f = c(
                    (
                        f"There is a patchy opacity in the {where}.",
                        f"A hazy opacity is seen in the {where}.",
                        f"Patchy opacity is present in the {where}.",
                    )
                )
                i = c((f"Patchy opacity in the {where}.", f"Hazy opacity in the {where}."))
        elif k == "edema":
            sev = LEVEL_SEVERITY[fd.level]
            if fd.uncertain:
                f = c(
                    (
                        "Possible mild pulmonary edema.",
                        "Mild pulmonary edema cannot be excluded.",
                        "Findings may reflect mild pulmonary edema.",
                        "Mild pulmonary edema may be present.",
                    )
                )
                i = c(("Possible mild pulmonary edema.", "Mild pulmonary edema cannot be excluded."))
            else:
                f = c(
                    (
                        f"There is {sev} pulmonary edema.",
                        f"{_cap(sev)} pulmonary edema is present.",
                        f"{_cap(sev)} interstitial pulmonary edema is seen.",
                        f"Findings are consistent with {sev} pulmonary edema.",
                    )
                )
                i = f"{_cap(sev)} pulmonary edema."
        elif k == "atelectasis":
            where = {"bilateral": "bibasilar", "right": "right basilar", "left": "left basilar"}[side or "right"]
            base = {"bilateral": "both lung bases", "right": "the right lung base", "left": "the left lung base"}[
                side or "right"
            ]
            deg = {1: "minimal", 2: "mild", 3: "moderate"}[fd.level]
            if fd.uncertain:
                f = c((f"Possible {where} atelectasis.", f"Atelectasis at {base} cannot be excluded."))
                i = f"Possible {where} atelectasis."
            else:
                f = c(
                    (
                        f"There is {deg} {where} atelectasis.",
                        f"Plate-like atelectasis is seen at {base}.",
                        f"{_cap(deg)} {where} atelectasis is present.",
                        f"Linear atelectasis is noted at {base}.",
                    )
                )
                i = c((f"{_cap(deg)} {where} atelectasis.", f"{_cap(where)} atelectasis."))
        elif k == "lesion":
            where = _where(fd, self.rng)
            # The size is the nodule's own (fixed by its position), so it reads the same in
            # findings and impression and from study to study.
            size = LESION_SIZE[fd.level][int(round(abs(fd.dx) * 1000)) % 3]
            noun = "mass" if fd.level == 3 else "nodule"
            if fd.uncertain:
                f = c(
                    (
                        f"A possible nodule projects over the {where}.",
                        f"There is a questionable {size} nodule in the {where}.",
                    )
                )
                i = f"Possible nodule in the {where}."
            else:
                f = c(
                    (
                        f"There is a {size} {noun} in the {where}.",
                        f"A {size} {noun} is seen in the {where}.",
                        f"A {size} {noun} projects over the {where}.",
                    )
                )
                i = c((f"{_cap(size)} {noun} in the {where}.", f"{_cap(noun)} in the {where}, measuring {size}."))
        elif k == "pleural_thickening":
            f = c((f"There is {side} apical pleural thickening.", f"{_cap(side)} apical pleural thickening is noted."))
            i = f"{_cap(side)} apical pleural thickening."
        elif k == "fracture":
            rib = ORDINAL[fd.rib]
            if fd.uncertain:
                f = c(
                    (
                        f"Possible nondisplaced fracture of the {side} {rib} rib.",
                        f"A {side} {rib} rib fracture cannot be excluded.",
                    )
                )
                i = f"Possible {side} {rib} rib fracture."
            else:
                f = c(
                    (
                        f"There is a fracture of the {side} {rib} posterior rib.",
                        f"A {side} {rib} rib fracture is seen.",
                        f"A mildly displaced fracture of the {side} {rib} rib is present.",
                    )
                )
                i = c((f"{_cap(side)} {rib} rib fracture.", f"Fracture of the {side} {rib} rib."))
        elif k == "ett":
            cm = f"{4.5 - fd.dy * 40:.1f}".rstrip("0").rstrip(".")
            f = c(
                (
                    f"An endotracheal tube is in place, terminating {cm} cm above the carina.",
                    f"The endotracheal tube tip is {cm} cm above the carina.",
                    "An endotracheal tube terminates in the mid trachea.",
                )
            )
            i = c(("Endotracheal tube in standard position.", "Endotracheal tube in appropriate position."))
        elif k == "ng_tube":
            f = c(
                (
                    "A nasogastric tube courses below the diaphragm into the stomach.",
                    "An enteric tube is seen with its tip in the stomach.",
                    "A nasogastric tube terminates in the stomach.",
                )
            )
            i = c(("Nasogastric tube in the stomach.", "Enteric tube in appropriate position."))
        elif k == "central_line":
            name = "right internal jugular" if side != "left" else "left subclavian"
            f = c(
                (
                    f"A {name} central venous catheter terminates in the SVC.",
                    f"A {name} central line is in place with its tip in the mid SVC.",
                )
            )
            i = c((f"{_cap(name)} central line tip in the SVC.", f"{_cap(name)} catheter in appropriate position."))
        elif k == "pacemaker":
            f = c(
                (
                    "A left-sided pacemaker is present with leads in the right atrium and right ventricle.",
                    "Left chest wall pacemaker with leads terminating in the right ventricle.",
                )
            )
            i = "Pacemaker leads in standard position."
        elif k == "chest_tube":
            f = c((f"A {side} chest tube is in place.", f"A {side}-sided chest tube terminates near the apex."))
            i = f"{_cap(side)} chest tube in place."
        else:  # pragma: no cover - every kind has its templates
            raise ValueError(k)
        return Sentence(f, dict(lab)), Sentence(i, dict(lab))

    def _sided(self, side: str) -> str:
        return "bilateral" if side == "bilateral" else side

    def pneumonia(self, fd: VisualFinding) -> Sentence | None:
        p = fd.pneumonia
        if p == "positive":
            where = LOBE[(fd.side or "right", fd.zone or "lower")]
            return Sentence(
                self.choose((f"Findings are consistent with {where} pneumonia.", f"{_cap(where)} pneumonia.")),
                {"Pneumonia": POSITIVE},
            )
        if p == "uncertain":
            return Sentence(
                self.choose(
                    (
                        "This is concerning for pneumonia.",
                        "Pneumonia cannot be excluded.",
                        "This may represent pneumonia.",
                        "Early pneumonia is possible.",
                    )
                ),
                {"Pneumonia": UNCERTAIN},
            )
        return None

    # -- negatives --
    NEG_NOUN = {
        "Pleural Effusion": "pleural effusion",
        "Pneumothorax": "pneumothorax",
        "Consolidation": "focal consolidation",
        "Edema": "pulmonary edema",
    }

    def negatives(self, absent: list[str]) -> list[Sentence]:
        """Negative sentences for some absent observations (a list sentence for the common trio)."""
        c, rng = self.choose, self.rng
        out: list[Sentence] = []
        common = [o for o in ("Consolidation", "Pleural Effusion", "Pneumothorax", "Edema") if o in absent]
        mention = [
            o
            for o in common
            if rng.random() < {"Consolidation": 0.75, "Pleural Effusion": 0.85, "Pneumothorax": 0.8, "Edema": 0.35}[o]
        ]
        rng.shuffle(mention)
        if len(mention) >= 2 and rng.random() < 0.7:
            nouns = [self.NEG_NOUN[o] for o in mention]
            if len(nouns) == 2:
                lst = f"{nouns[0]} or {nouns[1]}"
            else:
                lst = ", ".join(nouns[:-1]) + c((", or ", " or ")) + nouns[-1]
            text = c((f"No {lst}.", f"There is no {lst}.", f"No {lst} is seen.", f"No evidence of {lst}."))
            out.append(Sentence(text, {o: NEGATIVE for o in mention}))
        else:
            for o in mention:
                out.append(Sentence(c(self.NEG_SINGLE[o]), {o: NEGATIVE}))
        # "No focal opacity" / "no pneumonia" only when nothing opacifies the lungs.
        clear = all(o in absent for o in ("Consolidation", "Lung Opacity", "Edema", "Atelectasis", "Lung Lesion"))
        for o, p in (("Lung Opacity", 0.15), ("Lung Lesion", 0.08), ("Atelectasis", 0.04), ("Pneumonia", 0.06)):
            if o in absent and rng.random() < p and (clear or o == "Lung Lesion"):
                out.append(Sentence(c(self.NEG_SINGLE[o]), {o: NEGATIVE}))
        return out

    NEG_SINGLE = {
        "Pleural Effusion": ("No pleural effusion.", "There is no pleural effusion.", "No pleural effusion is seen."),
        "Pneumothorax": (
            "No pneumothorax.",
            "There is no pneumothorax.",
            "No pneumothorax is seen.",
            "No pneumothorax is identified.",
            "There is no evidence of pneumothorax.",
        ),
        "Consolidation": (
            "No focal consolidation.",
            "There is no focal consolidation.",
            "No focal consolidation is seen.",
        ),
        "Edema": ("No pulmonary edema.", "There is no pulmonary edema.", "No evidence of pulmonary edema."),
        "Lung Opacity": ("No focal opacity.", "There is no focal opacity."),
        "Lung Lesion": ("No pulmonary nodules or masses.", "No suspicious pulmonary nodule is seen."),
        "Atelectasis": ("No atelectasis.", "There is no atelectasis."),
        "Pneumonia": ("No evidence of pneumonia.", "There is no evidence of pneumonia."),
        "Cardiomegaly": (
            "Heart size is normal.",
            "The heart is normal in size.",
            "No cardiomegaly.",
            "Heart size is within normal limits.",
            "The heart is not enlarged.",
            "Normal heart size.",
        ),
        "Enlarged Cardiomediastinum": (
            "The mediastinal contours are normal.",
            "Mediastinal contours are within normal limits.",
            "The mediastinum is not widened.",
            "Normal mediastinal contours.",
        ),
        # Denied without the word "fracture": the labeler (as CheXbert) reads "no displaced rib fracture" as
        # uncertain and leaves No Finding blank in a report that discusses fractures.
        "Fracture": (
            "No acute bony abnormality is seen.",
            "No acute bony abnormality is identified.",
            "No acute bony abnormality.",
        ),
    }

    def negative(self, obs: str) -> Sentence:
        return Sentence(self.choose(self.NEG_SINGLE[obs]), {obs: NEGATIVE})

    # -- input-agnostic --
    def comparison(self, fd: VisualFinding, prev: VisualFinding | None) -> Sentence:
        """A prior-comparison sentence about one positive finding, true to the prior study."""
        c = self.choose
        named = self.rng.random() < 0.5
        noun = _short_noun(fd)
        if prev is None:
            txt = (
                c((f"The {noun} is new since the prior study.", f"The {noun} is new compared to the prior radiograph."))
                if named
                else c(("This is new since the prior study.", "This is new compared to the prior exam."))
            )
        elif fd.level > prev.level:
            txt = (
                c(
                    (
                        f"The {noun} has increased compared to the prior study.",
                        f"Compared to the prior study, the {noun} has increased.",
                        f"Compared with the radiograph from ___, the {noun} has slightly increased.",
                    )
                )
                if named
                else c(
                    ("This has increased since the prior radiograph.", "This has worsened compared to the prior study.")
                )
            )
        elif fd.level < prev.level:
            txt = (
                c(
                    (
                        f"The {noun} has decreased compared to the prior study.",
                        f"Compared to the prior study, the {noun} has decreased.",
                    )
                )
                if named
                else c(
                    ("This has decreased since the prior radiograph.", "This has improved compared to the prior study.")
                )
            )
        else:
            txt = (
                c(
                    (
                        f"The {noun} is unchanged compared to the prior study.",
                        f"The {noun} is again seen, unchanged.",
                        f"Compared to the prior exam, the {noun} is stable.",
                    )
                )
                if named
                else c(
                    (
                        "This is unchanged from the prior study.",
                        "This is stable compared to the prior radiograph.",
                        "This is unchanged since ___.",
                    )
                )
            )
        labels = {fd.observation: POSITIVE} if named else {}
        return Sentence(txt, labels, ("pc",))

    def comparison_generic(self, changed: bool, improved: bool) -> Sentence:
        c = self.choose
        if not changed:
            txt = c(
                (
                    "No significant interval change compared to the prior study.",
                    "Compared to the prior radiograph of ___, there is no significant interval change.",
                    "The appearance is unchanged compared to the prior exam.",
                )
            )
        elif improved:
            txt = c(
                (
                    "There has been interval improvement compared to the prior study.",
                    "Compared to the prior exam, there has been interval improvement.",
                )
            )
        else:
            txt = c(
                (
                    "There has been interval change compared to the prior study.",
                    "Compared to the prior radiograph, there has been interval change.",
                )
            )
        return Sentence(txt, {}, ("pc",))

    def procedure(self, proc: str) -> Sentence:
        c = self.choose
        txt = c(
            (
                f"The patient is status post {proc}.",
                f"Status post {proc}.",
                f"The patient is now status post {proc}.",
                f"Patient is status post {proc} on ___.",
            )
        )
        return Sentence(txt, {}, ("pp",))

    def view_statement(self, view: str, lateral: bool) -> Sentence:
        c = self.choose
        if view == "PA" and lateral:
            txt = c(
                (
                    "PA and lateral views of the chest were obtained.",
                    "PA and lateral views of the chest are provided.",
                    "Frontal and lateral views of the chest were obtained.",
                )
            )
        elif view == "PA":
            txt = c(("A single PA view of the chest was obtained.", "Single frontal view of the chest was provided."))
        elif lateral:
            txt = c(
                (
                    "AP and lateral views of the chest were obtained.",
                    "Frontal and lateral views of the chest were obtained.",
                )
            )
        else:
            txt = c(
                (
                    "Single portable AP view of the chest.",
                    "Portable AP view of the chest was obtained.",
                    "A single portable semi-upright AP view of the chest was obtained.",
                )
            )
        return Sentence(txt, {}, ("view",))

    def communication(self) -> Sentence:
        c, rng = self.choose, self.rng
        hh, mm = int(rng.integers(7, 19)), int(rng.integers(0, 60))
        t = f"{hh}:{mm:02d}"
        txt = c(
            (
                f"Findings were discussed with Dr. ___ by telephone at {t} on ___.",
                f"These findings were communicated to Dr. ___ via telephone at {t}.",
                f"The above findings were telephoned to the referring physician, Dr. ___, at {t}.",
                "Dr. ___ was paged with these results at ___ on ___.",
            )
        )
        return Sentence(txt, {}, ("comm",))


def _short_noun(fd: VisualFinding) -> str:
    side = fd.side or ""
    return {
        "cardiomegaly": "cardiomegaly",
        "mediastinal_widening": "mediastinal widening",
        "effusion": "bilateral pleural effusions" if side == "bilateral" else f"{side} pleural effusion",
        "pneumothorax": f"{side} pneumothorax",
        "consolidation": "consolidation",
        "opacity": "opacity",
        "edema": "pulmonary edema",
        "atelectasis": "atelectasis",
        "lesion": "nodule" if fd.level < 3 else "mass",
        "pleural_thickening": "pleural thickening",
        "fracture": "rib fracture",
    }.get(fd.kind, fd.kind)


# Report order of findings: devices, lungs, pleura, heart and mediastinum, bones.
KIND_ORDER = (
    "ett",
    "ng_tube",
    "central_line",
    "pacemaker",
    "chest_tube",
    "consolidation",
    "opacity",
    "edema",
    "atelectasis",
    "lesion",
    "effusion",
    "pneumothorax",
    "pleural_thickening",
    "cardiomegaly",
    "mediastinal_widening",
    "fracture",
)
IMPRESSION_ORDER = (
    "pneumothorax",
    "consolidation",
    "opacity",
    "edema",
    "effusion",
    "cardiomegaly",
    "lesion",
    "mediastinal_widening",
    "fracture",
    "atelectasis",
    "pleural_thickening",
    "ett",
    "ng_tube",
    "central_line",
    "chest_tube",
    "pacemaker",
)
NORMAL_IMPRESSIONS = (
    "No acute cardiopulmonary process.",
    "No acute cardiopulmonary abnormality.",
    "No acute intrathoracic process.",
    "No evidence of acute cardiopulmonary disease.",
)
PARENCHYMAL = ("consolidation", "opacity", "edema", "atelectasis", "lesion", "pneumothorax")


def _build_report(
    spec: StudySpec, prior: StudySpec | None, cats: set[str], procedure: str | None, rng: np.random.Generator
) -> None:
    w = _Writer(rng)
    findings_by_kind = {fd.kind: fd for fd in spec.visual}
    prior_by_kind = {fd.kind: fd for fd in prior.visual} if prior is not None else {}
    present_obs = {fd.observation for fd in spec.visual}
    if any(fd.pneumonia for fd in spec.visual):
        present_obs.add("Pneumonia")
    absent = [o for o in OBSERVATIONS[:12] if o not in present_obs]

    findings: list[Sentence] = []
    impression: list[Sentence] = []
    # Comparison candidates: positive, certain findings (a hedged one is not compared).
    pc_targets = [
        fd
        for fd in spec.visual
        if not fd.uncertain
        and fd.kind not in DEVICE_KINDS
        and not (prior_by_kind.get(fd.kind) is not None and prior_by_kind[fd.kind].uncertain)
    ]
    pc_pick = pc_prev = None
    if "pc" in cats and pc_targets:
        pc_pick = pc_targets[int(rng.integers(len(pc_targets)))]
        # Against an outside exam (no prior here) the finding is new or unchanged, at random.
        pc_prev = prior_by_kind.get(pc_pick.kind) if prior is not None else (pc_pick if rng.random() < 0.5 else None)
    pneumonia_done = False
    for kind in KIND_ORDER:
        fd = findings_by_kind.get(kind)
        if fd is None:
            continue
        f_sent, _ = w.positive(fd)
        findings.append(f_sent)
        if kind in ("consolidation", "opacity") and fd.pneumonia and not pneumonia_done and rng.random() < 0.4:
            findings.append(w.pneumonia(fd))
            pneumonia_done = True
        if pc_pick is fd:
            findings.append(w.comparison(fd, pc_prev))
    # Lung negatives go after the lung findings, cardiac/mediastinal/bone ones after theirs.
    negs = w.negatives(absent)
    parenchymal_present = any(fd.kind in PARENCHYMAL for fd in spec.visual)
    lead: list[Sentence] = []
    if not parenchymal_present and rng.random() < 0.6:
        if rng.random() < 0.25:
            lead.append(Sentence("The lungs are clear without focal consolidation.", {"Consolidation": NEGATIVE}))
        else:
            lead.append(
                Sentence(
                    w.choose(("The lungs are clear.", "Lungs are clear.", "The lungs are well expanded and clear.")), {}
                )
            )
    heart: list[Sentence] = []
    if "Cardiomegaly" in absent and rng.random() < 0.85:
        heart.append(w.negative("Cardiomegaly"))
    if "Enlarged Cardiomediastinum" in absent and rng.random() < 0.5:
        heart.append(w.negative("Enlarged Cardiomediastinum"))
    bones: list[Sentence] = []
    if "Fracture" in absent and rng.random() < 0.15:
        bones.append(w.negative("Fracture"))
    # Assemble: devices, positives on lungs/pleura, lead/negatives, heart, bones.
    device_part = [s for s in findings if s.labels.get(SUPPORT_DEVICES)]
    rest = [s for s in findings if not s.labels.get(SUPPORT_DEVICES)]
    heart_pos = [s for s in rest if set(s.labels) & {"Cardiomegaly", "Enlarged Cardiomediastinum"}]
    bone_pos = [s for s in rest if "Fracture" in s.labels]
    lung_pos = [s for s in rest if s not in heart_pos and s not in bone_pos]
    # keep comparison sentences right after their finding
    body = device_part + lead + lung_pos + negs + heart_pos + heart + bone_pos + bones
    body = _keep_pc_adjacent(findings, body)

    if "pp" in cats and procedure:
        pos = int(rng.integers(0, len(body) + 1)) if body else 0
        if rng.random() < 0.5:
            pos = len(device_part)
        body.insert(pos, w.procedure(procedure))
    if "view" in cats:
        body.insert(0, w.view_statement(spec.view, spec.has_lateral))

    # Impression: the positive and hedged findings, most important first (all of them
    # in an impression-only report, which must still say everything the images show).
    impression_only = rng.random() < 0.07
    for kind in IMPRESSION_ORDER:
        fd = findings_by_kind.get(kind)
        if fd is None:
            continue
        if kind in DEVICE_KINDS and not impression_only and rng.random() < 0.4:
            continue
        _, i_sent = w.positive(fd)
        impression.append(i_sent)
        if (
            kind in ("consolidation", "opacity")
            and fd.pneumonia
            and not any("Pneumonia" in s.labels for s in impression)
        ):
            impression.append(w.pneumonia(fd))
    if not any(s.labels.get(o) in (POSITIVE, UNCERTAIN) for s in impression for o in s.labels if o != SUPPORT_DEVICES):
        text = w.choose(NORMAL_IMPRESSIONS)
        if impression:
            text = "Otherwise, n" + text[1:]
        impression.append(Sentence(text, {}))
    # The pneumonia statement must be somewhere when the finding carries one.
    if "Pneumonia" in present_obs and not any(
        "Pneumonia" in s.labels for _, s in [("f", x) for x in body] + [("i", x) for x in impression]
    ):
        for fd in spec.visual:
            pn = w.pneumonia(fd) if fd.pneumonia else None
            if pn is not None:
                impression.insert(min(1, len(impression)), pn)
                break
    if "pc" in cats and pc_pick is None:
        # No single finding to compare: a statement about the whole study, true to the prior
        # (without one, an outside exam: "interval change" when there is anything to see).
        cur = {(fd.kind, fd.level, fd.side) for fd in spec.visual}
        old = {(fd.kind, fd.level, fd.side) for fd in prior.visual} if prior is not None else set()
        improved = len(cur) < len(old)
        (body if rng.random() < 0.6 else impression).append(w.comparison_generic(cur != old, improved))
    elif "pc" in cats and rng.random() < 0.3 and pc_pick is not None:
        # Sometimes the comparison is (also) stated in the impression, after the finding.
        for idx, s in enumerate(impression):
            if pc_pick.observation in s.labels:
                impression.insert(idx + 1, w.comparison(pc_pick, pc_prev))
                break
    if "comm" in cats:
        impression.append(w.communication())

    if impression_only:
        # Short reports with an IMPRESSION only: view and procedure statements move up;
        # a comparison follows the impression sentence about the same finding.
        moved = [s for s in body if set(s.categories) & {"view", "pp"}]
        out = moved + impression
        for s in body:
            if "pc" in s.categories and s not in impression:
                obs = next(iter(s.labels), pc_pick.observation if pc_pick is not None else None)
                idx = next((j for j, t in enumerate(out) if obs and obs in t.labels and not t.categories), None)
                out.insert(len(moved) if idx is None else idx + 1, s)
        spec.findings_sentences = None
        spec.impression_sentences = out
    else:
        spec.findings_sentences = body
        spec.impression_sentences = impression
    spec.numbered_impression = len(spec.impression_sentences) >= 2 and rng.random() < 0.2
    if spec.numbered_impression:
        spec.impression_sentences = [
            Sentence(f"{n}. {s.text}", s.labels, s.categories) for n, s in enumerate(spec.impression_sentences, 1)
        ]


def _keep_pc_adjacent(original: list[Sentence], body: list[Sentence]) -> list[Sentence]:
    """Put every comparison sentence right after the sentence it followed in `original`."""
    follows = {}
    for prev, s in zip(original, original[1:]):
        if "pc" in s.categories:
            follows[id(s)] = prev
    if not follows:
        return body
    out = [s for s in body if id(s) not in follows]
    for pc_id, prev in follows.items():
        pc = next(s for s in body if id(s) == pc_id)
        idx = next((i for i, s in enumerate(out) if s is prev), len(out) - 1)
        out.insert(idx + 1, pc)
    return out


# ---- report text ------------------------------------------------------------------
def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, width=76, break_on_hyphens=False, break_long_words=False) or [""]


def render_report(spec: StudySpec) -> str:
    """The free-text report as MIMIC-CXR writes it (banner, headers, wrapped lines)."""
    lines = ["                                 FINAL REPORT"]

    def section(header: str, body: str | None, inline: bool = True) -> None:
        if body is None:
            return
        if inline:
            wrapped = _wrap(f"{header}:  {body}")
            lines.extend(" " + ln for ln in wrapped)
        else:
            lines.append(f" {header}: ")
            lines.append(" ")
            for para in body.split("\n"):
                lines.extend(" " + ln for ln in _wrap(para))
        lines.append(" ")

    section("EXAMINATION", spec.examination)
    if spec.indication is not None:
        section("INDICATION", spec.indication)
    if spec.history is not None:
        section("HISTORY", spec.history)
    section("TECHNIQUE", spec.technique)
    section("COMPARISON", spec.comparison)
    if spec.findings_sentences is not None:
        section("FINDINGS", "  ".join(s.text for s in spec.findings_sentences), inline=False)
    if spec.numbered_impression:
        section("IMPRESSION", "\n".join(s.text for s in spec.impression_sentences), inline=False)
    else:
        section("IMPRESSION", "  ".join(s.text for s in spec.impression_sentences), inline=False)
    return "\n".join(lines).rstrip() + "\n"


# ---- ids, dates, clinical context ---------------------------------------------------
def _unique_ints(rng: np.random.Generator, n: int, low: int, high: int) -> list[int]:
    seen: set[int] = set()
    out: list[int] = []
    while len(out) < n:
        v = int(rng.integers(low, high))
        if v not in seen:
            seen.add(v)
            out.append(v)
    return out


def _dicom_id(rng: np.random.Generator) -> str:
    return "-".join(f"{int(rng.integers(0, 2**32)):08x}" for _ in range(5))


INDICATIONS = {
    "healthy": (
        "___ year old {sex} with chest pain. // Evaluate for acute process.",
        "___ year old {sex} with cough. // Evaluate for acute cardiopulmonary process.",
        "___ year old {sex} preoperative evaluation. // Evaluate for acute process.",
    ),
    "cardiac": (
        "___ year old {sex} with shortness of breath and leg swelling. // Evaluate for pulmonary edema.",
        "___ year old {sex} with CHF exacerbation. // Evaluate for effusion.",
        "___ year old {sex} with dyspnea. // Evaluate for fluid overload.",
    ),
    "icu": (
        "___ year old {sex} in the ICU with hypoxia. // Evaluate for interval change.",
        "___ year old {sex} with respiratory failure. // Evaluate for acute process.",
    ),
    "icu_ett": ("___ year old {sex} intubated. // Evaluate ETT placement.",),
    "icu_line": ("___ year old {sex} with new central line. // Evaluate line placement.",),
    "pneumonia": (
        "___ year old {sex} with fever and cough. // Evaluate for pneumonia.",
        "___ year old {sex} with productive cough and leukocytosis. // Evaluate for infiltrate.",
    ),
    "oncology": (
        "___ year old {sex} with lung cancer. // Evaluate for interval change.",
        "___ year old {sex} with history of malignancy and dyspnea. // Evaluate for effusion.",
    ),
    "trauma": (
        "___ year old {sex} status post fall with right-sided chest pain. // Evaluate for fracture.",
        "___ year old {sex} after motor vehicle collision. // Evaluate for pneumothorax.",
    ),
}


def _clinical_context(spec: StudySpec, rng: np.random.Generator, sex: str) -> None:
    kinds = {fd.kind for fd in spec.visual}
    pool = INDICATIONS[spec.profile]
    if "ett" in kinds:
        pool = INDICATIONS["icu_ett"]
    elif "central_line" in kinds and rng.random() < 0.5:
        pool = INDICATIONS["icu_line"]
    text = str(rng.choice(pool)).format(sex=sex)
    if rng.random() < 0.2:
        # Older MIMIC reports: HISTORY instead of INDICATION.
        spec.history = text.replace("___ year old", "___-year-old").replace(" // ", " ")
    else:
        spec.indication = text
    if spec.view == "AP":
        spec.examination = "CHEST (PORTABLE AP)"
        spec.technique = (
            "Chest AP and lateral"
            if spec.has_lateral
            else str(rng.choice(("Single portable view of the chest.", "Portable AP chest radiograph.")))
        )
    else:
        spec.examination = "CHEST (PA AND LAT)" if spec.has_lateral else "CHEST (PA)"
        spec.technique = "Chest PA and lateral" if spec.has_lateral else "Chest PA"
    spec.comparison = "___" if spec.prior_study_id else "None."


# ---- the generator ------------------------------------------------------------------
def generate_studies(
    n_subjects: int, seed: int = 0, image_size: int = 128, max_studies_per_subject: int = 5
) -> list[StudySpec]:
    """Phantom studies for `n_subjects` subjects (1..max studies each), in subject/date order."""
    if n_subjects < 1:
        raise ValueError("n_subjects must be at least 1")
    if max_studies_per_subject < 1:
        raise ValueError("max_studies_per_subject must be at least 1")
    master = np.random.default_rng([seed, 0])
    subject_ids = sorted(_unique_ints(master, n_subjects, 10_000_000, 20_000_000))
    n_studies = [int(master.integers(1, max_studies_per_subject + 1)) for _ in range(n_subjects)]
    study_ids = _unique_ints(master, sum(n_studies), 50_000_000, 60_000_000)
    splits = _split_subjects(n_subjects, master)

    studies: list[StudySpec] = []
    sid_iter = iter(study_ids)
    subject_meta: dict[int, tuple[str, str | None]] = {}
    for si, subject in enumerate(subject_ids):
        rng = np.random.default_rng([seed, 1, si])
        profile = str(_pick(rng, PROFILES, PROFILE_WEIGHTS))
        anatomy = Anatomy.sample(rng)
        sex = str(rng.choice(("man", "woman")))
        has_history = rng.random() < {"cardiac": 0.7, "oncology": 0.6}.get(profile, 0.15)
        procedure = None
        if has_history:
            pool = PROCEDURES.get(profile, PROCEDURES["other"])
            procedure = str(pool[int(rng.integers(len(pool)))])
        subject_meta[si] = (sex, procedure)
        day = date(2110, 1, 1) + timedelta(days=int(rng.integers(0, 365 * 80)))
        state: dict[str, VisualFinding] = {}
        prev_id = None
        last_secs: int | None = None
        for k in range(n_studies[si]):
            state = _evolve(state, rng, profile, first=(k == 0))
            icu = any(kind in state for kind in ("ett", "ng_tube", "central_line", "chest_tube"))
            view = "AP" if (icu or rng.random() < (0.5 if profile == "icu" else 0.15)) else "PA"
            lateral = rng.random() < (0.12 if view == "AP" else 0.88)
            # Same-day studies keep their order in (StudyDate, StudyTime), as the prior is found by it.
            secs = int(rng.integers(0, 86400)) if last_secs is None else last_secs + int(rng.integers(1800, 6 * 3600))
            if secs >= 86400:
                day += timedelta(days=1)
                secs = int(rng.integers(0, 86400))
            last_secs = secs
            hh, mm, ss, ms = secs // 3600, secs // 60 % 60, secs % 60, int(rng.integers(0, 1000))
            study_id = str(next(sid_iter))
            spec = StudySpec(
                subject_id=str(subject),
                study_id=study_id,
                subject_index=si,
                study_index=k,
                study_date=day.strftime("%Y%m%d"),
                study_time=f"{hh:02d}{mm:02d}{ss:02d}.{ms:03d}",
                view=view,
                lateral_view=(str(_pick(rng, ("LATERAL", "LL"), (0.85, 0.15))) if lateral else None),
                frontal_dicom=_dicom_id(rng),
                lateral_dicom=_dicom_id(rng) if lateral else None,
                image_size=image_size,
                anatomy=anatomy,
                visual=[state[kd] for kd in KIND_ORDER if kd in state],
                profile=profile,
                prior_study_id=prev_id,
                split=splits[si],
                seed=seed,
            )
            studies.append(spec)
            prev_id = study_id
            if rng.random() > 0.1:
                day += timedelta(days=int(rng.integers(1, 400)))
                last_secs = None

    # Which studies carry which input-agnostic category: exact shares of all studies.
    n = len(studies)
    chooser = np.random.default_rng([seed, 2])
    with_prior = [i for i, s in enumerate(studies) if s.prior_study_id]
    with_history = [i for i, s in enumerate(studies) if subject_meta[s.subject_index][1]]
    with_positive = [
        i for i, s in enumerate(studies) if any(not fd.uncertain and fd.kind not in DEVICE_KINDS for fd in s.visual)
    ]
    cats: dict[int, set[str]] = {i: set() for i in range(n)}
    without_prior = [i for i, s in enumerate(studies) if not s.prior_study_id]
    comm_pool = with_positive if len(with_positive) >= round(CATEGORY_RATES["comm"] * n) else list(range(n))
    for cat, pool, k in (
        ("pc", without_prior, round(CATEGORY_RATES["pc"] * len(without_prior))),
        ("pc", with_prior, round(PC_RATE_WITH_PRIOR * len(with_prior))),
        ("pp", with_history, round(CATEGORY_RATES["pp"] * n)),
        ("view", list(range(n)), round(CATEGORY_RATES["view"] * n)),
        ("comm", comm_pool, round(CATEGORY_RATES["comm"] * n)),
    ):
        for i in chooser.permutation(len(pool))[:k]:
            cats[pool[int(i)]].add(cat)

    by_id = {s.study_id: s for s in studies}
    for i, spec in enumerate(studies):
        rng = np.random.default_rng([seed, 3, spec.subject_index, spec.study_index])
        sex, procedure = subject_meta[spec.subject_index]
        _clinical_context(spec, rng, sex)
        prior = by_id.get(spec.prior_study_id) if spec.prior_study_id else None
        _build_report(spec, prior, cats[i], procedure, rng)
        if "pc" in cats[i]:
            spec.comparison = "___"  # the exam compared with, even one outside the dataset
    return studies


def _split_subjects(n: int, rng: np.random.Generator) -> list[str]:
    """train/validate/test by subject: about 10% each for validate and test (at least one
    of each once there are 3 subjects)."""
    n_test = max(1, round(0.1 * n)) if n >= 2 else 0
    n_val = max(1, round(0.1 * n)) if n >= 3 else 0
    order = rng.permutation(n)
    out = ["train"] * n
    for rank, idx in enumerate(order):
        if rank < n_test:
            out[int(idx)] = "test"
        elif rank < n_test + n_val:
            out[int(idx)] = "validate"
    return out


# ---- writing ----------------------------------------------------------------------
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


def _write_csv_gz(path: Path, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buf.getvalue().encode("utf-8"))


VIEW_CODE_MEANING = {"PA": "postero-anterior", "AP": "antero-posterior", "LATERAL": "lateral", "LL": "left lateral"}


def metadata_rows(studies: Sequence[StudySpec]) -> list[list]:
    rows = []
    for s in studies:
        proc = "CHEST (PORTABLE AP)" if s.view == "AP" else ("CHEST (PA AND LAT)" if s.has_lateral else "CHEST (PA)")
        orientation = "Recumbent" if s.view == "AP" else "Erect"
        images = [(s.frontal_dicom, s.view)] + ([(s.lateral_dicom, s.lateral_view)] if s.lateral_dicom else [])
        for dicom, view in images:
            rows.append(
                [
                    dicom,
                    s.subject_id,
                    s.study_id,
                    proc,
                    view,
                    s.image_size,
                    s.image_size,
                    s.study_date,
                    s.study_time,
                    proc,
                    VIEW_CODE_MEANING[view],
                    orientation,
                ]
            )
    return rows


def write_mimic_tree(root: str | Path, studies: Sequence[StudySpec], image_format: str = "jpeg") -> dict:
    """Write images, reports, metadata/split CSVs and truth.jsonl under `root`.

    `image_format`: jpeg (MIMIC-CXR-JPG), png, png16 or dicom (see synth.images.save_image).
    Returns counts: {"subjects", "studies", "images", "root", "truth"}.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    studies = [dataclasses.replace(s, image_suffix=IMAGE_SUFFIX[image_format]) for s in studies]
    n_images = 0
    for spec in studies:
        study_dir = root / spec.study_dir
        study_dir.mkdir(parents=True, exist_ok=True)
        for dicom, unit in render_images(spec, unit=True).items():
            save_image(
                unit,
                study_dir / f"{dicom}{spec.image_suffix}",
                image_format,
                quality=JPEG_QUALITY,
                tags=dicom_tags(spec, dicom) if image_format == "dicom" else None,
            )
            n_images += 1
        (root / spec.report_path).write_text(spec.report_text(), encoding="utf-8")
    rows = metadata_rows(studies)
    _write_csv_gz(root / METADATA_NAME, METADATA_COLUMNS, rows)
    split_of = {s.study_id: s.split for s in studies}
    _write_csv_gz(root / SPLIT_NAME, SPLIT_COLUMNS, [[r[0], r[2], r[1], split_of[r[2]]] for r in rows])
    with open(root / TRUTH_NAME, "w", encoding="utf-8") as fh:
        for spec in studies:
            fh.write(json.dumps(spec.truth(), ensure_ascii=False) + "\n")
    return {
        "subjects": len({s.subject_id for s in studies}),
        "studies": len(studies),
        "images": n_images,
        "root": str(root),
        "truth": str(root / TRUTH_NAME),
    }
