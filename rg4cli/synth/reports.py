"""A phantom study's report: which findings it mentions in which order, its sections and
input-agnostic sentences (`build_report`), and the free text MIMIC-CXR would store (`render_report`)."""

from __future__ import annotations

import textwrap

import numpy as np

from rg4cli.synth.images import (
    DEVICE_KINDS,
)
from rg4cli.synth.specs import Sentence, StudySpec
from rg4cli.synth.wording import SentenceWriter
from rg4cli.vocab import NEGATIVE, OBSERVATIONS, POSITIVE, SUPPORT_DEVICES, UNCERTAIN

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


def build_report(
    spec: StudySpec, prior: StudySpec | None, cats: set[str], procedure: str | None, rng: np.random.Generator
) -> None:
    w = SentenceWriter(rng)
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
