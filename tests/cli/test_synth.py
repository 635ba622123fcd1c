"""CLI tests of synth (library tests: tests/lib/test_synth.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from rg4cli.cli.app import app
from rg4cli.synth.mimic import METADATA_NAME, SPLIT_NAME, write_mimic_tree
from rg4cli.synth.specs import TRUTH_NAME
from rg4cli.synth.studies import generate_studies
from rg4cli.text.sections import parse_sections
from rg4cli.vocab import OBSERVATIONS

from ..conftest import SYNTH_SEED, SYNTH_SIZE, SYNTH_SUBJECTS
from ..lib.test_synth import (
    _csv_rows,
    _mean,
    _tree_digest,
    _truth,
)


def test_layout_metadata_and_split(synth_tree):
    truth = _truth(synth_tree)
    assert len({t["subject_id"] for t in truth}) == SYNTH_SUBJECTS
    meta = _csv_rows(synth_tree / METADATA_NAME)
    split = _csv_rows(synth_tree / SPLIT_NAME)
    assert list(meta[0])[:3] == ["dicom_id", "subject_id", "study_id"]
    assert {"ViewPosition", "Rows", "Columns", "StudyDate", "StudyTime"} <= set(meta[0])
    assert list(split[0]) == ["dicom_id", "study_id", "subject_id", "split"]
    assert len(meta) == len(split) == sum(1 + t["has_lateral"] for t in truth)
    jpgs = sorted(synth_tree.glob("files/p*/p*/s*/*.jpg"))
    txts = sorted(synth_tree.glob("files/p*/p*/s*.txt"))
    assert len(jpgs) == len(meta) and len(txts) == len(truth)
    for row in meta:
        path = (
            synth_tree / f"files/p{row['subject_id'][:2]}/p{row['subject_id']}/s{row['study_id']}/{row['dicom_id']}.jpg"
        )
        assert path.exists(), path
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{8}){4}", row["dicom_id"])
        assert row["ViewPosition"] in {"PA", "AP", "LATERAL", "LL"}
        assert re.fullmatch(r"\d{8}", row["StudyDate"]) and re.fullmatch(r"\d{6}\.\d{3}", row["StudyTime"])
        with Image.open(path) as im:
            assert im.mode == "L" and im.size == (int(row["Columns"]), int(row["Rows"])) == (SYNTH_SIZE, SYNTH_SIZE)
    for t in truth:
        assert (synth_tree / t["report_path"]).exists() and (synth_tree / t["frontal"]).exists()
        assert t["lateral"] is None or (synth_tree / t["lateral"]).exists()
        assert set(t["labels"]) == set(OBSERVATIONS)
        assert t["view"] in ("PA", "AP")
    # split by subject, all three splits used
    by_subject = defaultdict(set)
    for row in split:
        by_subject[row["subject_id"]].add(row["split"])
    assert all(len(s) == 1 for s in by_subject.values())
    assert {s for ss in by_subject.values() for s in ss} == {"train", "validate", "test"}


def test_reports_parse_into_the_truth_sections(synth_tree):
    for t in _truth(synth_tree):
        text = (synth_tree / t["report_path"]).read_text(encoding="utf-8")
        assert "FINAL REPORT" in text and "IMPRESSION:" in text and "___" in text
        sections = parse_sections(text)
        assert sections["findings"] == t["findings"]
        assert sections["impression"] == t["impression"]
        assert sections["examination"] and sections["technique"] and sections["comparison"]
        for sent in t["sentences"]:
            assert t[sent["section"]][sent["start"] : sent["end"]] == sent["text"]
        assert sections["indication"] or sections["history"]


def test_same_seed_same_bytes_other_seed_differs(synth_tree, tmp_path):
    again = tmp_path / "again"
    write_mimic_tree(again, generate_studies(SYNTH_SUBJECTS, seed=SYNTH_SEED, image_size=SYNTH_SIZE))
    assert _tree_digest(again) == _tree_digest(synth_tree)
    other = tmp_path / "other"
    write_mimic_tree(other, generate_studies(SYNTH_SUBJECTS, seed=SYNTH_SEED + 1, image_size=SYNTH_SIZE))
    assert _tree_digest(other) != _tree_digest(synth_tree)
    assert (other / TRUTH_NAME).read_bytes() != (synth_tree / TRUTH_NAME).read_bytes()


def test_same_bytes_across_processes(tmp_path):
    # str hashes differ per process (PYTHONHASHSEED): nothing may depend on them.
    code = (
        "import sys; from rg4cli.synth.studies import generate_studies; from rg4cli.synth.mimic import write_mimic_tree; "
        "write_mimic_tree(sys.argv[1], generate_studies(4, seed=3, image_size=48))"
    )
    digests = []
    for hash_seed in ("1", "2"):
        out = tmp_path / f"run{hash_seed}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, env=env, cwd=Path(__file__).parents[2])
        digests.append(_tree_digest(out))
    assert digests[0] == digests[1]


def test_the_iu_layout_is_what_build_data_reads(tmp_path):
    result = CliRunner().invoke(
        app, ["synth", "--layout", "iu", "--subjects", "5", "--image-size", "32", "-o", str(tmp_path / "iu")]
    )
    assert result.exit_code == 0, result.output
    for name in ("reports.jsonl", "annotation.json", "chexbert_labels.jsonl", TRUTH_NAME):
        assert (tmp_path / "iu" / name).is_file()
    truth = _truth(tmp_path / "iu")
    assert all((tmp_path / "iu" / t["frontal"]).is_file() for t in truth)
    result = CliRunner().invoke(
        app, ["build-data", str(tmp_path / "iu"), "--from", "iu-xray", "-o", str(tmp_path / "iu.jsonl")]
    )
    assert result.exit_code == 0, result.output
    ids = {json.loads(line)["study_id"] for line in (tmp_path / "iu.jsonl").read_text().splitlines()}
    assert ids == {t["id"] for t in truth}


def test_written_images_show_effusion(synth_tree):
    # Across the tree: the right costophrenic region is brighter where the truth says so.
    with_eff, without = [], []
    for t in _truth(synth_tree):
        img = np.asarray(Image.open(synth_tree / t["frontal"]), dtype=float)
        value = _mean(img, 0.2, 0.4, 0.62, 0.7)
        sides = {v["side"] for v in t["visual"] if v["kind"] == "effusion" and v["level"] >= 2 and not v["uncertain"]}
        if sides & {"right", "bilateral"}:
            with_eff.append(value)
        elif not any(v["kind"] == "effusion" for v in t["visual"]):
            without.append(value)
    assert with_eff and without
    assert np.mean(with_eff) - np.mean(without) > 25


@pytest.mark.parametrize(
    "args",
    [
        ["--subjects", "0"],
        ["--image-size", "8"],
        ["--studies-per-subject", "0"],
        ["--subjects", "many"],
        ["--image-format", "gif"],
        ["--layout", "chexpert"],
    ],
)
def test_bad_options_exit_2(tmp_path, args):
    result = CliRunner().invoke(app, ["synth", "-o", str(tmp_path / "x"), *args])
    assert result.exit_code == 2
    assert result.stdout == ""


def test_output_required_and_not_clobbered(tmp_path):
    assert CliRunner().invoke(app, ["synth"]).exit_code == 2
    (tmp_path / "keep.txt").write_text("x")
    result = CliRunner().invoke(app, ["synth", "--subjects", "1", "-o", str(tmp_path)])
    assert result.exit_code == 2 and "not empty" in result.stderr
    result = CliRunner().invoke(app, ["synth", "--subjects", "1", "--image-size", "32", "--force", "-o", str(tmp_path)])
    assert result.exit_code == 0 and (tmp_path / TRUTH_NAME).exists() and (tmp_path / "keep.txt").exists()
