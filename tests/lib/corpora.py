"""Small corpora several test modules train on: classifier examples with known labels and
generator records from a phantom tree."""

from __future__ import annotations

import random
from pathlib import Path

from rg4cli.synth.mimic import write_mimic_tree
from rg4cli.synth.studies import generate_studies
from rg4cli.text.sections import join_sections
from rg4cli.text.sentences import split_sentences
from rg4cli.vocab import OBSERVATIONS

POS = {
    "Pleural Effusion": "There is a moderate right pleural effusion.",
    "Cardiomegaly": "The heart is enlarged.",
    "Pneumothorax": "Small left apical pneumothorax.",
    "Edema": "Mild pulmonary edema.",
}
NEG = {
    "Pleural Effusion": "No pleural effusion.",
    "Cardiomegaly": "Heart size is normal.",
    "Pneumothorax": "No pneumothorax.",
    "Edema": "No edema.",
}
COMM = "Findings were discussed with Dr. ___ by telephone."
PRIOR = "Compared to the prior study, unchanged."


def make_records(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        labels = {o: None for o in OBSERVATIONS}
        sents = []
        for obs in POS:
            r = rng.random()
            if r < 0.4:
                labels[obs] = 1
                sents.append(POS[obs])
            elif r < 0.7:
                labels[obs] = 0
                sents.append(NEG[obs])
        if not any(v == 1 for v in labels.values()):
            labels["No Finding"] = 1
        comm, prior = rng.random() < 0.3, rng.random() < 0.3
        sents += [COMM] * comm + [PRIOR] * prior
        rng.shuffle(sents)
        out.append(
            {
                "id": f"s{i}",
                "findings": " ".join(sents) or "Lungs are clear.",
                "impression": "See above.",
                "labels": labels,
                "hallucination": {
                    "pc": prior,
                    "pp": False,
                    "view": False,
                    "comm": comm,
                    "input_agnostic": prior or comm,
                },
            }
        )
    return out


EMPHASIS = ("effusion", "pneumothorax", "opacity", "edema", "enlarged", "consolidation")


def phantom_records(root: Path, n_subjects: int = 10) -> list[dict]:
    """Study records in all four settings from `rg4 synth`'s phantom tree, with sentence weights."""
    studies = generate_studies(n_subjects, seed=0, image_size=64)
    write_mimic_tree(root, studies)
    by_id = {s.study_id: s for s in studies}
    records = []
    for s in studies:
        prior = by_id.get(s.prior_study_id)
        prior_text = join_sections(prior.findings, prior.impression) if prior else None
        target = join_sections(s.findings, s.impression)
        spans = [
            {
                "start": a,
                "end": b,
                "score": 0.0,
                "weight": 1.75 if any(w in target[a:b].lower() for w in EMPHASIS) else 1.0,
            }
            for a, b in split_sentences(target)
        ]
        base = {
            "frontal": s.frontal_path,
            "view": s.view,
            "indication": s.indication,
            "history": s.history,
            "findings": s.findings,
            "impression": s.impression,
            "labels": s.labels,
            "sentence_weights": spans,
        }
        variants = {
            "sn": (None, None),
            "mn": (s.lateral_path, None),
            "sw": (None, prior_text),
            "mw": (s.lateral_path, prior_text),
        }
        for name, (lateral, prior_report) in variants.items():
            if (name[0] == "m" and not lateral) or (name[1] == "w" and not prior_report):
                continue
            records.append({"id": f"{s.study_id}_{name}", **base, "lateral": lateral, "prior_report": prior_report})
    return records


def labels_with(**kw) -> dict:
    """The 14 labels, null but for those given: labels_with(pleural_effusion=1, no_finding=0)."""
    names = {o.replace(" ", "_").lower(): o for o in OBSERVATIONS}
    out = {o: None for o in OBSERVATIONS}
    for k, v in kw.items():
        out[names[k]] = v
    return out


# Four reports with their labels, for scoring.
REPORTS = [
    (
        "findings: The heart is normal in size. There is no pleural effusion. impression: No acute process.",
        labels_with(pleural_effusion=0, no_finding=1),
    ),
    (
        "findings: Moderate right pleural effusion. The heart is enlarged. impression: Effusion and cardiomegaly.",
        labels_with(pleural_effusion=1, cardiomegaly=1),
    ),
    ("findings: Small left pneumothorax. impression: Pneumothorax.", labels_with(pneumothorax=1)),
    (
        "findings: Patchy left basilar opacity may be atelectasis. impression: Possible atelectasis.",
        labels_with(atelectasis=-1, lung_opacity=1),
    ),
]
