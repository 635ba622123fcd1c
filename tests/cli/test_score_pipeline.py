"""`rg4 score` from the command line: progress and -q; label | generate | score equals generate | score."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from rg4cli.cli.app import app

from ..conftest import REPORT_CORPUS
from ..lib.jsonl import jsonl_arg


def _read(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _studies():
    out = []
    for i, t in enumerate(REPORT_CORPUS * 2):
        findings, impression = t.removeprefix("findings: ").split(" impression: ")
        out.append(
            {"id": f"s{i}", "frontal": f"img/{i % 4}.png", "view": "PA", "findings": findings, "impression": impression}
        )
    return out


def _score(hyp_path, ref_path, *extra):
    res = CliRunner().invoke(app, ["score", hyp_path, "--ref", ref_path, "--no-meteor", *extra])
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout), res.stderr


def _comparable(summary):
    return {k: summary[k] for k in ("n", "overall", "by_setting", "per_observation", "empty_hypotheses")}


def _labeled(tmp_path, studies_path):
    res = CliRunner().invoke(app, ["label", studies_path])
    assert res.exit_code == 0, res.stderr
    records = _read(res.stdout)
    if not all("provenance" in r for r in records):
        pytest.skip("rg4 label does not bind its labels to their text yet (records.provenance)")
    return jsonl_arg(tmp_path / "labeled.jsonl", records)


def test_progress_on_stderr_and_quiet(tmp_path):
    ref = jsonl_arg(tmp_path / "t.jsonl", _studies())
    hyp = jsonl_arg(
        tmp_path / "h.jsonl", [{"id": s["id"], "report": REPORT_CORPUS[(i + 1) % 4]} for i, s in enumerate(_studies())]
    )
    loud, err = _score(hyp, ref)
    assert "labeling" in err and "BLEU-1..4, ROUGE-L, CIDEr on 8 pair(s)" in err and "BLEU, ROUGE-L, CIDEr done" in err
    assert "rg4 score" in err  # the table
    quiet, err_q = _score(hyp, ref, "-q")
    # -q keeps warnings only (here: 8 pairs are too few for CIDEr)
    assert all(line.startswith("warning:") for line in err_q.strip().splitlines()) and quiet == loud


def test_label_then_simulated_generate_then_score(tmp_path):
    studies = _studies()
    ref = jsonl_arg(tmp_path / "t.jsonl", studies)
    labeled = _read(open(_labeled(tmp_path, ref)).read())

    def generate(records):  # copies each record and writes a new report, keeping everything else
        return [dict(r, report=REPORT_CORPUS[(i + 1) % 4]) for i, r in enumerate(records)]

    with_label, _ = _score(jsonl_arg(tmp_path / "a.jsonl", generate(labeled)), ref)
    without, _ = _score(jsonl_arg(tmp_path / "b.jsonl", generate(studies)), ref)
    assert _comparable(with_label) == _comparable(without)
    assert with_label["overall"]["ce"]["micro_14_unc_pos"]["f1"] < 1.0


def test_label_generate_score_with_the_tiny_model(tmp_path, tiny_model_dir):
    (tmp_path / "img").mkdir()
    for i in range(4):
        arr = (np.random.RandomState(i).rand(130, 120) * 255).astype("uint8")
        Image.fromarray(arr).save(tmp_path / "img" / f"{i}.png")
    ref = jsonl_arg(tmp_path / "t.jsonl", _studies())
    labeled = _labeled(tmp_path, ref)
    fast = ["--max-new-tokens", "6", "--min-new-tokens", "2", "--num-beams", "2", "--seed", "3"]
    outputs = []
    for studies in (labeled, ref):
        res = CliRunner().invoke(
            app, ["generate", studies, "--model", str(tiny_model_dir), "--image-root", str(tmp_path), *fast]
        )
        assert res.exit_code == 0, res.stderr
        outputs.append(jsonl_arg(tmp_path / f"gen{len(outputs)}.jsonl", _read(res.stdout)))
    with_label, _ = _score(outputs[0], ref)
    without, _ = _score(outputs[1], ref)
    assert _comparable(with_label) == _comparable(without)
