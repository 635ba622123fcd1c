"""Epoch time of generator training with the frozen-encoder cache warm vs `--no-cache`.

Stage-2 training (all four settings: frontal + lateral images, prior reports) on
phantom studies from `rg4 synth`, one epoch of the engine's per-batch work (features,
forward, TLW loss, backward, AdamW step), timed three ways:

  cold   first epoch with the cache on (computes and writes the features)
  warm   the next epoch (features read from the safetensors shards)
  none   `--no-cache` (JPEG decode + preprocessing + encoders on every batch)

for two image encoders: the tiny preset's (DINOv2, 64 wide, 2 layers, 112 px) and a
mid-size one (DINOv2 ViT-S/14 shape: 384 wide, 12 layers, 224 px = 256 patches).
Prints one line per encoder and the ratio none / warm (target >= 3x), from wall time and
from this process's CPU time (the latter is the fair one on a machine shared with other
jobs; with --threads 1 they agree on an idle machine).

    .venv/bin/python benchmarks/bench_encoder_cache.py [--subjects 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MID_SIZE = dict(image_size=224, patch_size=14, image_hidden=384, image_layers=12, image_heads=6)


def make_records(root: Path, n_subjects: int) -> Path:
    from rg4cli.synth.mimic import write_mimic_tree
    from rg4cli.synth.studies import generate_studies
    from rg4cli.text.sections import join_sections
    from rg4cli.text.sentences import split_sentences

    studies = generate_studies(n_subjects, seed=0, image_size=256)
    write_mimic_tree(root, studies)
    by_id = {s.study_id: s for s in studies}
    lines = []
    for s in studies:
        prior = by_id.get(s.prior_study_id)
        prior_text = join_sections(prior.findings, prior.impression) if prior else None
        target = join_sections(s.findings, s.impression)
        spans = [
            {"start": a, "end": b, "weight": 1.75 if "effusion" in target[a:b].lower() else 1.0}
            for a, b in split_sentences(target)
        ]
        for lateral in {None, s.lateral_path}:
            for prior_report in {None, prior_text}:
                lines.append(
                    json.dumps(
                        {
                            "id": f"{s.study_id}-{bool(lateral)}-{bool(prior_report)}",
                            "frontal": s.frontal_path,
                            "lateral": lateral,
                            "prior_report": prior_report,
                            "view": s.view,
                            "findings": s.findings,
                            "impression": s.impression,
                            "sentence_weights": spans,
                        }
                    )
                )
    path = root / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def epoch(task, model, optimizer, seed: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one epoch."""
    start, cpu = time.perf_counter(), time.process_time()
    for batch in task.plan_epoch(0, seed):
        loss, _ = task.loss(model, batch, model.device)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    task.flush_caches()
    return time.perf_counter() - start, time.process_time() - cpu


def bench(name: str, sizes: dict | None, train_path: Path, root: Path, work: Path, batch_size: int) -> dict:
    from rg4cli.model import build_model, presets, save_model_dir
    from rg4cli.training.generator import GeneratorTask

    saved = dict(presets.TINY)
    if sizes:
        presets.TINY.update(sizes)  # bench-only: the tiny preset with a bigger image encoder
    try:
        stage1 = work / f"{name}-stage1"
        texts = [json.loads(l)["findings"] or "" for l in train_path.read_text().splitlines()]
        save_model_dir(build_model("tiny", tokenizer_texts=texts, seed=0), stage1)
    finally:
        presets.TINY.clear()
        presets.TINY.update(saved)
    times = {}
    for mode in ("cached", "none"):
        task = GeneratorTask(
            str(train_path),
            work / f"{name}-{mode}",
            stage=2,
            init=str(stage1),
            image_root=root,
            batch_size=batch_size,
            use_cache=mode == "cached",
            cache_dir=work / f"{name}-cache",
        )
        torch.manual_seed(0)
        model = task.build_model()
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        if mode == "cached":
            times["cold"] = epoch(task, model, optimizer, 0)
            times["warm"] = epoch(task, model, optimizer, 0)
            times["cache_hits"] = task.image_cache.hits + task.text_cache.hits
        else:
            times["none"] = epoch(task, model, optimizer, 0)
    times["examples"] = len(task.examples)
    times["ratio_wall"] = times["none"][0] / times["warm"][0]
    times["ratio_cpu"] = times["none"][1] / times["warm"][1]
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=8, help="phantom subjects (each has 1-5 studies)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="rg4-bench-cache-") as tmp:
        work = Path(tmp)
        root = work / "phantom"
        train_path = make_records(root, args.subjects)
        for name, sizes in (("tiny", None), ("mid (ViT-S/14, 224 px)", MID_SIZE)):
            key = name.split()[0]
            r = bench(key, sizes, train_path, root, work, args.batch_size)
            print(
                f"{name:24s} {r['examples']} examples/epoch, wall (CPU) seconds: cold {r['cold'][0]:.2f} "
                f"({r['cold'][1]:.2f})  warm cache {r['warm'][0]:.2f} ({r['warm'][1]:.2f})  --no-cache "
                f"{r['none'][0]:.2f} ({r['none'][1]:.2f})  ->  {r['ratio_wall']:.1f}x wall, "
                f"{r['ratio_cpu']:.1f}x CPU faster with the cache",
                flush=True,
            )


if __name__ == "__main__":
    main()
