"""`rg4 label t | rg4 generate | rg4 score --ref t` equals the pipeline without `rg4 label`:
the reference text's labels never score the generated report."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from rg4cli.cli.app import app

from ..conftest import REPORT_CORPUS

FAST = ["--max-new-tokens", "6", "--min-new-tokens", "2", "--num-beams", "1", "--device", "cpu"]


def _run(args, stdin=None):
    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart already
        runner = CliRunner()
    res = runner.invoke(app, args, input=stdin)
    assert res.exit_code == 0, res.stderr
    return res.stdout


def _untimed(jsonl: str) -> list[dict]:
    rows = [json.loads(line) for line in jsonl.splitlines()]
    for row in rows:
        row["gen"].pop("seconds", None)
    return rows


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("pipeline")
    torch.manual_seed(0)
    shutil.copytree(tiny_model_dir, root / "model")
    rows = []
    for i, text in enumerate(REPORT_CORPUS):
        arr = (np.random.RandomState(i).rand(96, 96) * 255).astype("uint8")
        Image.fromarray(arr).save(root / f"{i}.png")
        findings, impression = text.split(" impression: ")
        rows.append(
            {"id": i, "frontal": f"{i}.png", "findings": findings.removeprefix("findings: "), "impression": impression}
        )
    (root / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def test_label_before_generate_does_not_change_the_score(study_dir):
    t = str(study_dir / "t.jsonl")
    generate = ["generate", "-", "--model", str(study_dir / "model"), "--image-root", str(study_dir), *FAST]
    score = ["score", "-", "--ref", t, "--no-meteor", "-q"]
    labeled = _run(["label", t])
    assert all("labels" in json.loads(line) for line in labeled.splitlines())
    via_label = _run(generate, labeled)
    plain = _run(generate, (study_dir / "t.jsonl").read_text())
    assert _untimed(via_label) == _untimed(plain)  # generate drops the reference text's labels and provenance
    assert json.loads(_run(score, via_label)) == json.loads(_run(score, plain))
