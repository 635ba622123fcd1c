"""A small run for `rg4 report`'s tests: studies in all four settings, images, generated reports
labelled and judged by rg4 itself (so annotations carry real provenance), a score summary and a
model directory with a loss log. No model is trained: the generated text is written here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from rg4cli.judges import JudgeSettings, judge_records
from rg4cli.labelers import LabelSettings, label_records
from rg4cli.vocab import INPUT_SETTINGS

from .lib.jsonl import read_jsonl, write_jsonl

FINDINGS = (
    "The heart is enlarged. There is a small left pleural effusion.",
    "Lungs are clear. No pneumothorax.",
    "There is patchy opacity in the right lower lobe concerning for pneumonia.",
    "Mild pulmonary edema. No focal consolidation.",
)
IMPRESSIONS = ("Cardiomegaly with effusion.", "No acute process.", "Pneumonia.", "Edema.")
# Input-agnostic sentences: a comparison with a prior study that an `sn` or `mn` study does not
# have, a communication; they make the judge flag the report where the inputs cannot support them.
AGNOSTIC = ("Compared to the prior study, unchanged.", "Findings were discussed with Dr. Smith by telephone.")


@dataclass
class Run:
    root: Path
    gen: Path
    ref: Path
    score: Path
    train: Path
    flagged: list[str]
    ids: list[str]


def _image(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:64, 0:64]
    img = 90 + 80 * np.exp(-((x - 32) ** 2 + (y - 34) ** 2) / 300) + rng.normal(0, 12, (64, 64))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).astype("uint8")).save(path)


def make_run(root: Path, n: int = 12) -> Run:
    """`n` studies over the four settings; every third generated report carries input-agnostic content."""
    root.mkdir(parents=True, exist_ok=True)
    refs, gens = [], []
    for i in range(n):
        setting = INPUT_SETTINGS[i % 4]
        rid = f"s{i:03d}_{setting}"
        rec = {"id": rid, "frontal": f"img/{i}_f.png", "view": "PA", "indication": f"Cough, day {i}."}
        _image(root / rec["frontal"], i)
        if setting[0] == "m":
            rec["lateral"] = f"img/{i}_l.png"
            _image(root / rec["lateral"], 100 + i)
        if setting[1] == "w":
            rec["prior_report"] = "Prior: mild cardiomegaly."
        refs.append({**rec, "findings": FINDINGS[i % 4], "impression": IMPRESSIONS[i % 4]})
        text = f"findings: {FINDINGS[(i + 1) % 4]} impression: {IMPRESSIONS[(i + 1) % 4]}"
        if i % 3 == 0:
            text = f"findings: {FINDINGS[(i + 1) % 4]} {AGNOSTIC[i % 2]} impression: {IMPRESSIONS[(i + 1) % 4]}"
        gens.append({**rec, "report": text, "setting": setting, "gen": {"input_tokens": 40 + 10 * (i % 4)}})
    ref = write_jsonl(root / "test.jsonl", refs)
    raw = write_jsonl(root / "gen.jsonl", gens)
    labelled = root / "gen.labels.jsonl"
    label_records(str(raw), str(labelled), LabelSettings())
    gen = root / "gen.judged.jsonl"
    judge_records(str(labelled), str(gen), JudgeSettings())
    judged = read_jsonl(gen)
    flagged = [r["id"] for r in judged if r["hallucination"]["input_agnostic"]]

    score = root / "score.gen.json"
    blocks = {
        s: {"n": n // 4, "bleu_4": 0.1 + 0.05 * k, "ce": {"micro_14_unc_pos": {"f1": 0.5}}}
        for k, s in enumerate(INPUT_SETTINGS)
    }
    summary = {
        "n": n,
        "overall": {"n": n, "bleu_4": 0.2, "rouge_l": 0.3, "ce": {"micro_14_unc_pos": {"f1": 0.5, "precision": 0.6}}},
        "by_setting": blocks,
        "per_observation": {"unc_pos": {"Edema": {"f1": 0.25, "support": 3}}},
        "config": {"tokenize": "r2gen", "labeler": "rules"},
    }
    score.write_text(json.dumps(summary))

    train = root / "stage2"
    train.mkdir()
    (train / "train_config.json").write_text(
        json.dumps({"task": "generator", "seed": 3, "lr": 0.001, "task_config": {"stage": 2, "fusion": "atf"}})
    )
    (train / "train_summary.json").write_text(json.dumps({"steps": 5, "first_loss": 3.0, "final_loss": 1.5}))
    (train / "metrics.jsonl").write_text(
        "".join(json.dumps({"step": s, "loss": 3.0 - 0.3 * s}) + "\n" for s in range(1, 6))
    )
    (train / "model.safetensors").write_bytes(b"weights")
    return Run(root, gen, ref, score, train, flagged, [r["id"] for r in refs])
