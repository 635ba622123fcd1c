"""`make demo` end to end, reduced (few subjects, a few training steps): every step runs and
the last one prints the table from real scores. The learning claims need the full demo;
this checks the plumbing and what holds whatever the training: ATF's fixed input length."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_makefile_end_to_end(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = tmp_path / "demo"
    rg4 = f"{sys.executable} -m rg4cli"
    cmd = [
        "make",
        "-j2",
        "-f",
        "examples/demo.mk",
        f"RG4={rg4}",
        f"PY={sys.executable}",
        f"OUT={out}",
        "SUBJECTS=24",
        "LABELER_STEPS=2",
        "IG_STEPS=2",
        "DECODER_STEPS=3",
        "STAGE1_STEPS=2",
        "STAGE2_STEPS=4",
        "BATCH=8",
        "TEST_STUDIES=6",
        "DECODE=--num-beams 1 --max-new-tokens 12 --min-new-tokens 0",
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=3600)  # only catches a hang
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # Every intermediate file is kept.
    for name in (
        "phantom/truth.jsonl",
        "train.jsonl",
        "train.raw.jsonl",
        "test.jsonl",
        "train.labels.jsonl",
        "train.weights.jsonl",
        "labeler/rg4_classifier.json",
        "decoder/config.json",
        "raw-decoder/config.json",
        "stage1/rg4_model.json",
        "raw-stage1/rg4_model.json",
        "stage2/rg4_model.json",
        "raw-stage2/rg4_model.json",
        "gen.jsonl",
        "gen.blank.jsonl",
        "gen.judged.jsonl",
        "table.txt",
        "report.html",
    ):
        assert (out / name).exists(), name

    # Stage 1 builds on the pretrained decoder (the model dir keeps its own copy of it).
    assert json.loads((out / "stage1" / "rg4_model.json").read_text())["decoder"] == "decoder"
    vocab = [
        json.loads((out / d / "tokenizer.json").read_text())["model"]["vocab"] for d in ("stage1/tokenizer", "decoder")
    ]
    assert vocab[0] == vocab[1]

    # Scores come from rg4 score over the held-out test studies, per setting.
    test = [json.loads(line) for line in (out / "test.jsonl").open() if line.strip()]
    assert len({r["study_id"] for r in test}) <= 6  # TEST_STUDIES
    n_test = len(test)
    for system in ("gen", "gen.blank", "gen.raw"):
        score = json.loads((out / f"score.{system}.json").read_text())
        assert score["n"] == n_test
        assert 0.0 <= score["overall"]["ce"]["micro_14_unc_pos"]["f1"] <= 1.0
        assert score["overall"]["hall"]["n"] == n_test
        assert set(score["by_setting"]) <= {"sn", "sw", "mn", "mw"} and "sn" in score["by_setting"]

    # Blank copies: same ids and settings, one image for all.
    blank = [json.loads(line) for line in (out / "test.blank.jsonl").open()]
    assert {r["frontal"] for r in blank} == {"blank.jpg"}
    assert [r["id"] for r in blank] == [json.loads(line)["id"] for line in (out / "test.jsonl").open()]

    # ATF: a study's LLM input has the same length in every setting it appears in.
    lengths = defaultdict(set)
    for line in (out / "gen.jsonl").open():
        rec = json.loads(line)
        lengths[rec["study_id"]].add(rec["gen"]["input_tokens"])
    assert lengths and all(len(v) == 1 for v in lengths.values())

    table = (out / "table.txt").read_text()
    assert "rg4 (rewritten targets)" in table and "raw-report targets" in table
    assert table.count("[PASS]") + table.count("[MISS]") == 5
    assert "[PASS] ATF" in table
