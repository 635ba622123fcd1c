"""rg4 generate's speed paths keep its output: a study's inputs encoded once for all its
settings, and the float32 LoRA adapter merged into the decoder for generation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from rg4cli.generation.run import merge_adapter, run_generate
from rg4cli.model import DecodeOptions, build_model, load_model_dir, save_model_dir

from ..conftest import REPORT_CORPUS

torch.set_num_threads(1)
DECODE = DecodeOptions(num_beams=2, max_new_tokens=6, min_new_tokens=6)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    """Three studies, each in all four settings (like build-data writes them), a stage-2 model."""
    root = tmp_path_factory.mktemp("shared")
    (root / "img").mkdir()
    for i in range(6):
        arr = (np.random.RandomState(i).rand(120, 120) * 255).astype("uint8")
        Image.fromarray(arr).save(root / "img" / f"{i}.png")
    model = build_model("tiny", tokenizer_texts=REPORT_CORPUS, stage=2, seed=0)
    with torch.no_grad():  # a fresh adapter is a no-op (B = 0): make it count
        for name, p in model.decoder.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.05)
    save_model_dir(model, root / "model")
    records = []
    for s in range(3):
        for setting in ("sn", "sw", "mn", "mw"):
            rec = {"id": f"s{s}_{setting}", "frontal": f"img/{2 * s}.png", "view": "PA"}
            if setting[0] == "m":
                rec["lateral"] = f"img/{2 * s + 1}.png"
            if setting[1] == "w":
                rec["prior_report"] = f"Prior {s}: the lungs are clear."
            records.append(rec)
    (root / "studies.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return root, records


def _reports(path):
    return {r["id"]: r["report"] for r in map(json.loads, path.open())}


def test_inputs_encoded_once_per_study_same_reports(study_dir, tmp_path, monkeypatch):
    root, records = study_dir
    model = load_model_dir(root / "model")
    images, texts = [], []
    encode_image, encode_text = model.encode_image, model.encode_text
    monkeypatch.setattr(model, "encode_image", lambda px: images.append(len(px)) or encode_image(px))
    monkeypatch.setattr(model, "encode_text", lambda t: texts.append(len(t)) or encode_text(t))
    out = tmp_path / "gen.jsonl"
    run_generate(
        str(root / "studies.jsonl"), str(out), model_dir=None, image_root=root, decode=DECODE, batch_size=2, model=model
    )
    # 6 distinct images and 3 distinct prior reports behind 12 records.
    assert sum(images) == 6 and sum(texts) == 3

    # Each record's report is the one the model writes from freshly encoded inputs.
    from rg4cli.model import load_image
    from rg4cli.records.study import Study
    from rg4cli.text.sections import join_sections, split_sections

    got = [json.loads(line) for line in out.open()]
    assert [r["id"] for r in got] == [r["id"] for r in records]
    for rec, written in zip(records, got):
        study = Study.from_record(rec)
        lateral = [load_image(root, study.lateral)] if study.lateral else None
        feats = model.encode_studies([study], [load_image(root, study.frontal)], lateral)
        text = model.generate(feats, model.text_batch([study], sections="both"), DECODE)[0].text
        assert written["report"] == join_sections(*split_sections(text))


def test_merged_adapter_writes_the_same_reports(study_dir, tmp_path):
    root, _ = study_dir
    unmerged = load_model_dir(root / "model")
    assert unmerged.has_lora
    a, b = tmp_path / "unmerged.jsonl", tmp_path / "merged.jsonl"
    run_generate(str(root / "studies.jsonl"), str(a), model_dir=None, image_root=root, decode=DECODE, model=unmerged)
    assert unmerged.has_lora  # a model passed in is the caller's: never merged
    run_generate(str(root / "studies.jsonl"), str(b), model_dir=root / "model", image_root=root, decode=DECODE)
    assert _reports(a) == _reports(b)

    merged = load_model_dir(root / "model")
    assert merge_adapter(merged) and not merged.has_lora
    assert not any("lora_" in name for name, _ in merged.decoder.named_parameters())
    with torch.no_grad():
        x = torch.randn(2, 5, merged.config.llm_dim)
        same = torch.allclose(
            unmerged.decoder(inputs_embeds=x).logits, merged.decoder(inputs_embeds=x).logits, atol=1e-4
        )
    assert same
