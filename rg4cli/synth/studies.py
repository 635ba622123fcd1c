"""Phantom studies: subjects, their evolving findings, and the reports that describe them.

`generate_studies` makes the studies as plain objects (synth.specs; no files); the tree
writers put them on disk (synth.mimic: MIMIC-CXR-JPG's layout; synth.iu: IU X-ray's).
The sentences come from synth.wording, the report's order and sections from synth.reports.

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
  derived by `labelers.backends.finalize_labels`.

Deterministic given the seed: every random draw comes from generators seeded by
(seed, subject, study), JPEGs use fixed settings, the gzip headers carry no time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np

from rg4cli.synth.images import (
    DEVICE_KINDS,
    Anatomy,
    VisualFinding,
)
from rg4cli.synth.reports import KIND_ORDER, build_report
from rg4cli.synth.specs import StudySpec

# Share of studies whose findings+impression carry each category (LLM-RG4 Table 1, raw
# MIMIC-CXR). Table 1 counts studies without a prior in the dataset, and 39.9% of their
# reports still compare with an earlier (outside) exam: "pc" is that share of the studies
# without a prior. A radiologist with the prior at hand compares nearly always
# (PC_RATE_WITH_PRIOR), so that studies read as sn carry input-agnostic content about as
# often as the paper measures for MIMIC-CXR (docs/design-notes.md, "Phantom rates").
CATEGORY_RATES = {"pc": 0.40, "pp": 0.15, "view": 0.05, "comm": 0.05}
PC_RATE_WITH_PRIOR = 0.85


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
        build_report(spec, prior, cats[i], procedure, rng)
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
