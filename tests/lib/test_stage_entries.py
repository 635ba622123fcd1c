"""The stages without a records loop are callable from Python in one call too: synth, train."""

from __future__ import annotations

import json

from rg4cli.dataset import BuildSettings, build_dataset
from rg4cli.synth import SynthSettings, synthesize
from rg4cli.training import TrainSettings, run_train


def test_synthesize_then_train_one_step_from_python(tmp_path):
    counts = synthesize(SynthSettings(output=tmp_path / "phantom", subjects=3, image_size=64, seed=2))
    assert counts["subjects"] == 3 and counts["studies"] >= 3 and (tmp_path / "phantom" / "truth.jsonl").is_file()
    data = tmp_path / "data.jsonl"
    build_dataset(BuildSettings(source=tmp_path / "phantom", output=str(data)))
    records = [json.loads(line) for line in data.read_text().splitlines()]
    assert records and all(r["frontal"] for r in records)
    summary = run_train(
        TrainSettings(
            train_file=str(data),
            output=tmp_path / "m",
            image_root=tmp_path / "phantom",
            max_steps=1,
            batch_size=2,
            grad_accum=1,
            quiet=True,
            no_cache=True,
        ),
        log=lambda _m: None,
    )
    assert summary["steps"] == 1 and summary["task"] == "generator"
    assert (tmp_path / "m" / "rg4_model.json").is_file()
