"""rg4 synth: MIMIC-CXR-JPG layout, determinism, report/truth agreement, visible findings."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from rg4cli.synth.images import Anatomy, VisualFinding, render_frontal, render_lateral
from rg4cli.synth.mimic import write_mimic_tree
from rg4cli.synth.specs import TRUTH_NAME, aggregate_labels
from rg4cli.synth.studies import generate_studies
from rg4cli.vocab import CATEGORIES, OBSERVATIONS


def _csv_rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _truth(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / TRUTH_NAME).read_text(encoding="utf-8").splitlines()]


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


# ---- layout -------------------------------------------------------------------


@pytest.mark.parametrize("image_format", ["png16", "dicom"])
def test_16bit_and_dicom_trees_are_deterministic_twins_of_the_jpeg_tree(tmp_path, image_format):
    from rg4cli.images import read_image

    specs = generate_studies(3, seed=2, image_size=48)
    write_mimic_tree(tmp_path / "a", specs, image_format)
    write_mimic_tree(tmp_path / "b", specs, image_format)
    write_mimic_tree(tmp_path / "png", specs, "png")
    assert _tree_digest(tmp_path / "a") == _tree_digest(tmp_path / "b")
    truth = _truth(tmp_path / "a")
    suffix = {"png16": ".png", "dicom": ".dcm"}[image_format]
    assert all(t["frontal"].endswith(suffix) and (tmp_path / "a" / t["frontal"]).is_file() for t in truth)
    for t in truth:
        got = np.asarray(read_image(tmp_path / "a" / t["frontal"]), dtype=int)
        eight = np.asarray(read_image(tmp_path / "png" / t["frontal"].replace(suffix, ".png")), dtype=int)
        assert np.abs(got - eight).max() <= 1  # the same phantom to one 8-bit level


# ---- subjects over time -----------------------------------------------------------
def test_priors_laterals_and_evolution(synth_studies):
    by_id = {s.study_id: s for s in synth_studies}
    with_prior = [s for s in synth_studies if s.prior_study_id]
    assert 0.4 < len(with_prior) / len(synth_studies) < 0.9
    for s in with_prior:
        prior = by_id[s.prior_study_id]
        assert prior.subject_id == s.subject_id
        assert (prior.study_date, prior.study_time) < (s.study_date, s.study_time)
    lateral = [s.has_lateral for s in synth_studies]
    assert 0.2 < sum(lateral) / len(lateral) < 0.95
    assert all(s.view == "AP" for s in synth_studies if any(fd.kind == "ett" for fd in s.visual))
    # findings evolve: some study differs from its prior in what is drawn
    changed = [
        s
        for s in with_prior
        if [fd.to_dict() for fd in s.visual] != [fd.to_dict() for fd in by_id[s.prior_study_id].visual]
    ]
    assert len(changed) > len(with_prior) // 4
    kinds = {fd.kind for s in synth_studies for fd in s.visual}
    assert {"cardiomegaly", "effusion", "consolidation", "atelectasis", "edema"} <= kinds
    normal = [s for s in synth_studies if s.labels["No Finding"] == 1]
    assert 0.15 < len(normal) / len(synth_studies) < 0.6


# ---- report content and truth ----------------------------------------------------
def test_input_agnostic_rates(synth_studies):
    n = len(synth_studies)
    assert n >= 120
    rates = {c: sum(s.input_agnostic[c] for s in synth_studies) / n for c in CATEGORIES}
    assert 0.10 <= rates["pp"] <= 0.20, rates
    assert 0.02 <= rates["view"] <= 0.08, rates
    assert 0.02 <= rates["comm"] <= 0.08, rates
    # comparisons as in LLM-RG4 Table 1: 40% of the studies without a prior in the dataset (an
    # outside exam), more of those with one
    first = [s for s in synth_studies if not s.prior_study_id]
    later = [s for s in synth_studies if s.prior_study_id]
    assert len(first) >= 20 and len(later) >= 20
    pc_first = sum(s.input_agnostic["pc"] for s in first) / len(first)
    pc_later = sum(s.input_agnostic["pc"] for s in later) / len(later)
    assert 0.33 <= pc_first <= 0.47 and 0.78 <= pc_later <= 0.92, (pc_first, pc_later)
    for s in synth_studies:
        for c in CATEGORIES:
            assert bool(s.input_agnostic_sentences[c]) == s.input_agnostic[c]


def test_deleting_input_agnostic_sentences_keeps_labels(synth_studies):
    for s in synth_studies:
        kept = [sent.labels for _, sent in s.sentences() if not sent.categories]
        assert aggregate_labels(kept) == s.labels, s.study_id


def test_labels_match_what_is_drawn(synth_studies):
    seen_values = set()
    for s in synth_studies:
        labels = s.labels
        drawn = defaultdict(set)
        for fd in s.visual:
            drawn[fd.observation].add(-1 if fd.uncertain else 1)
        for obs in OBSERVATIONS[:13]:
            if obs == "Pneumonia":  # a reading of consolidation/opacity, not drawn on its own
                continue
            if obs in drawn:
                assert labels[obs] == max(drawn[obs]), (s.study_id, obs)
            else:
                assert labels[obs] in (0, None), (s.study_id, obs)
            seen_values.add(labels[obs])
        findings = [o for o in OBSERVATIONS[:12] if labels[o] in (1, -1)]
        assert labels["No Finding"] == (None if findings else 1)
    assert seen_values == {1, 0, -1, None}


def test_wording_varies(synth_studies):
    effusion = {
        sent.text
        for s in synth_studies
        for _, sent in s.sentences()
        if "Pleural Effusion" in sent.labels and not sent.categories
    }
    negatives = {t for t in effusion if t.lower().startswith(("no ", "there is no"))}
    assert len(effusion) >= 10 and len(negatives) >= 4


def test_rules_labeler_and_judge_agree_with_truth(synth_studies):
    from rg4cli.judges.backends import RulesJudge
    from rg4cli.labelers.backends import RulesLabeler

    labeler, judge = RulesLabeler(), RulesJudge()
    texts = [" ".join(x for x in (s.findings, s.impression) if x) for s in synth_studies]
    agree_labels = sum(labeler.label_one(t) == s.labels for t, s in zip(texts, synth_studies))
    agree_cats = sum(
        {c: judge.judge_one(t, "sn")[c] for c in CATEGORIES} == s.input_agnostic for t, s in zip(texts, synth_studies)
    )
    assert agree_labels / len(synth_studies) >= 0.95
    assert agree_cats / len(synth_studies) >= 0.95


# ---- images -------------------------------------------------------------------------
def _frontal(findings, size=128):
    return render_frontal(findings, size, Anatomy(), np.random.default_rng(0)).astype(float)


def _mean(img, x0, x1, y0, y1):
    n = img.shape[0]
    return img[int(y0 * n) : int(y1 * n), int(x0 * n) : int(x1 * n)].mean()


def test_findings_are_visible_in_the_phantom():
    base = _frontal([])
    # effusion: brighter right costophrenic angle (patient's right = image left)
    eff = _frontal([VisualFinding("effusion", "right", 2)])
    assert _mean(eff, 0.2, 0.4, 0.62, 0.7) - _mean(base, 0.2, 0.4, 0.62, 0.7) > 40
    assert abs(_mean(eff, 0.6, 0.8, 0.62, 0.7) - _mean(base, 0.6, 0.8, 0.62, 0.7)) < 3
    # pneumothorax: darker left apex
    ptx = _frontal([VisualFinding("pneumothorax", "left", 2)])
    assert _mean(base, 0.72, 0.82, 0.2, 0.28) - _mean(ptx, 0.72, 0.82, 0.2, 0.28) > 15
    # cardiomegaly: more bright pixels across the heart row
    cm = _frontal([VisualFinding("cardiomegaly", level=3)])
    row = int(0.63 * 128)
    assert (cm[row] > 130).sum() - (base[row] > 130).sum() >= 15
    # consolidation: bright patch in the right lower zone
    cons = _frontal([VisualFinding("consolidation", "right", 2, "lower")])
    assert _mean(cons, 0.27, 0.37, 0.54, 0.62) - _mean(base, 0.27, 0.37, 0.54, 0.62) > 40
    # lesion, edema, atelectasis, devices and fracture all change the image where expected
    for fd, box in (
        (VisualFinding("lesion", "left", 3, "upper"), (0.64, 0.74, 0.26, 0.34)),
        (VisualFinding("edema", "bilateral", 3), (0.3, 0.42, 0.4, 0.55)),
        (VisualFinding("atelectasis", "bilateral", 2), (0.25, 0.4, 0.6, 0.68)),
        (VisualFinding("fracture", "right", 2, rib=4), (0.15, 0.35, 0.3, 0.5)),
        (VisualFinding("ett"), (0.46, 0.54, 0.05, 0.2)),
    ):
        diff = np.abs(_frontal([fd]) - base)
        n = diff.shape[0]
        inside = diff[int(box[2] * n) : int(box[3] * n), int(box[0] * n) : int(box[1] * n)].max()
        assert inside > 25, fd.kind
    lat = render_lateral([VisualFinding("effusion", "right", 3)], 128, Anatomy(), np.random.default_rng(0)).astype(
        float
    )
    lat0 = render_lateral([], 128, Anatomy(), np.random.default_rng(0)).astype(float)
    assert (lat - lat0).max() > 60


# ---- CLI errors -----------------------------------------------------------------------
