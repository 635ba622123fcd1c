"""`rg4cli.generation.generate_records`: the whole `rg4 generate` stage in one call; the
input text's annotations never travel with the new report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from rg4cli.generation import GenerateSettings, generate_records
from rg4cli.model import DecodeOptions, load_model_dir
from rg4cli.records.provenance import bind


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("gen")
    for i in range(2):
        arr = (np.random.RandomState(i).rand(96, 96) * 255).astype("uint8")
        Image.fromarray(arr).save(root / f"{i}.png")
    torch.manual_seed(0)
    return root, load_model_dir(tiny_model_dir)


def test_generate_records_drops_the_annotations_of_the_input_text(tiny):
    root, model = tiny
    reference = "findings: Large right pleural effusion. impression: Effusion."
    records = []
    for i in range(2):
        rec = {"id": i, "frontal": f"{i}.png", "report": reference, "keep": i}
        bind(rec, "labels", {"Pleural Effusion": 1}, text_field="report", text=reference)
        bind(rec, "hallucination", {"pc": False}, text_field="report", text=reference)
        rec["sentence_weights"] = [{"start": 0, "end": 5, "weight": 1.75}]  # an older file: no provenance
        records.append(rec)
    src = root / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = root / "out.jsonl"
    settings = GenerateSettings(
        model_dir=root,
        image_root=root,
        device="cpu",
        decode=DecodeOptions(max_new_tokens=3, min_new_tokens=1, num_beams=1),
    )
    summary = generate_records(src, out, settings, model=model)
    assert summary.written == 2
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in got] == ["0", "1"] and [r["keep"] for r in got] == [0, 1]
    for rec in got:
        assert not {"labels", "hallucination", "sentence_weights", "provenance"} & set(rec), sorted(rec)
        assert "gen" in rec and rec["report"] != reference
