"""`rg4 train --task generator` on phantom studies: stage 1 → stage 2, exact resume, cache, TLW on tokens."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rg4cli.records.study import INPUT_SETTINGS
from rg4cli.training.data import plan_input_setting_batches
from rg4cli.training.engine import METRICS_FILE, EngineConfig, SimulatedKill, train
from rg4cli.training.generator import GeneratorTask


def _losses(out: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (out / METRICS_FILE).read_text().splitlines()) if "loss" in r]


def test_plan_is_setting_homogeneous_interleaved_and_seeded():
    settings = ["sn"] * 10 + ["sw"] * 7 + ["mn"] * 5 + ["mw"] * 3
    plan = plan_input_setting_batches(settings, 4, epoch=0, seed=1)
    assert sorted(i for b in plan for i in b) == list(range(len(settings)))
    assert all(len({settings[i] for i in b}) == 1 for b in plan)
    order = [settings[b[0]] for b in plan]
    assert order != sorted(order, key=INPUT_SETTINGS.index)  # settings interleaved, not one block after another
    assert plan == plan_input_setting_batches(settings, 4, epoch=0, seed=1)
    assert plan != plan_input_setting_batches(settings, 4, epoch=1, seed=1)


def test_stage1_loss_falls(stage1_model):
    losses = _losses(stage1_model)
    assert len(losses) == 24
    assert sum(losses[-4:]) / 4 < sum(losses[:3]) / 3 - 0.1
    assert json.loads((stage1_model / "rg4_model.json").read_text())["stage"] == 1
    assert not (stage1_model / "adapter").exists()


def test_stage2_starts_from_stage1_and_trains_all_settings(generator_phantom, stage1_model, tmp_path):
    out = tmp_path / "stage2"
    task = GeneratorTask(
        str(generator_phantom["mixed"]),
        out,
        stage=2,
        init=str(stage1_model),
        image_root=generator_phantom["root"],
        batch_size=4,
        cache_dir=generator_phantom["cache"],
    )
    assert Counter(ex.setting for ex in task.examples) == {s: 4 for s in INPUT_SETTINGS}
    model = task.build_model()
    stage1_fusion = load_file(str(stage1_model / "fusion.safetensors"))
    assert all(torch.equal(p, stage1_fusion[k]) for k, p in model.fusion.state_dict().items())
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert any("lora_" in n for n in trainable) and any(n.startswith("fusion.") for n in trainable)
    assert not any(n.startswith(("image_encoder.", "text_encoder.")) for n in trainable)

    train(
        GeneratorTask(
            str(generator_phantom["mixed"]),
            out,
            stage=2,
            init=str(stage1_model),
            image_root=generator_phantom["root"],
            batch_size=4,
            cache_dir=generator_phantom["cache"],
        ),
        EngineConfig(out_dir=out, max_steps=4, lr=1e-3, grad_accum=1, progress=False, seed=0),
    )
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    from rg4cli.model import load_model_dir

    assert load_model_dir(out).config.stage == 2


def test_fusion_lr_sets_the_fusion_its_own_learning_rate(generator_phantom, stage1_model, tmp_path):
    """--fusion-lr 0 keeps the stage-1 fusion exactly while the LoRA still trains at --lr."""
    out = tmp_path / "stage2"
    train(
        GeneratorTask(
            str(generator_phantom["mixed"]),
            out,
            stage=2,
            init=str(stage1_model),
            image_root=generator_phantom["root"],
            batch_size=4,
            cache_dir=generator_phantom["cache"],
        ),
        EngineConfig(out_dir=out, max_steps=3, lr=1e-3, fusion_lr=0.0, grad_accum=1, progress=False, seed=0),
    )
    before, after = load_file(str(stage1_model / "fusion.safetensors")), load_file(str(out / "fusion.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)
    lora_b = [v for k, v in load_file(str(out / "adapter" / "adapter_model.safetensors")).items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # LoRA B starts at zero: it moved


def test_token_weights_land_on_the_emphasised_sentences(generator_phantom, stage1_model):
    task = GeneratorTask(
        str(generator_phantom["sn"]),
        stage1_model.parent / "unused",
        stage=1,
        init=str(stage1_model),
        image_root=generator_phantom["root"],
        batch_size=4,
        cache_dir=generator_phantom["cache"],
    )
    model = task.build_model()
    ex = next(e for e in task.examples if any(s["weight"] > 1 for s in e.spans))
    batch = model.text_batch([ex.study], with_targets=True)
    out = model(task.features([ex]), batch)
    weights = task.token_weights([ex], out.offsets, out.labels)
    n = int((out.labels[0] != -100).sum())
    heavy = [tuple(out.offsets[0, j].tolist()) for j in range(n) if weights[0, j] > 1]
    assert heavy
    spans = [(s["start"], s["end"]) for s in ex.spans if s["weight"] > 1]
    assert all(any(a < e and b > s for s, e in spans) for a, b in heavy)
    light = [j for j in range(n) if weights[0, j] == 1]
    assert light  # markers, plain sentences and EOS keep 1


def test_cached_features_equal_fresh_ones(generator_phantom, stage1_model):
    task = GeneratorTask(
        str(generator_phantom["mixed"]),
        stage1_model.parent / "unused2",
        stage=2,
        init=str(stage1_model),
        image_root=generator_phantom["root"],
        batch_size=4,
        cache_dir=generator_phantom["cache"],
    )
    task.build_model()
    exs = [e for e in task.examples if e.setting == "mw"][:2]
    first = task.features(exs)
    task.flush_caches()
    hits_before = task.image_cache.hits
    again = task.features(exs)
    assert task.image_cache.hits > hits_before
    task.use_cache = False
    task._make_caches()
    fresh = task.features(exs)
    for a, b, c in (
        (first.frontal, again.frontal, fresh.frontal),
        (first.lateral, again.lateral, fresh.lateral),
        (first.prior, again.prior, fresh.prior),
    ):
        assert torch.equal(a, b) and torch.allclose(a, c, atol=1e-5)


@pytest.mark.slow  # three model loads; the classifier resume test covers the engine in the default run
def test_generator_resume_after_kill_matches_uninterrupted(generator_phantom, stage1_model, tmp_path):
    def run(out, **kw):
        task = GeneratorTask(
            str(generator_phantom["mixed"]),
            out,
            stage=2,
            init=str(stage1_model),
            image_root=generator_phantom["root"],
            batch_size=4,
            cache_dir=generator_phantom["cache"],
        )
        return train(
            task,
            EngineConfig(
                out_dir=out, max_steps=5, checkpoint_every=2, lr=1e-3, grad_accum=1, progress=False, seed=5, **kw
            ),
        )

    killed, straight = tmp_path / "killed", tmp_path / "straight"
    with pytest.raises(SimulatedKill):
        run(killed, stop_after_step=3)
    assert run(killed, resume=True).resumed_from == 2
    run(straight)
    for name in ("fusion.safetensors", "adapter/adapter_model.safetensors"):
        a, b = load_file(str(killed / name)), load_file(str(straight / name))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert _losses(killed) == _losses(straight)
