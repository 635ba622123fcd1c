"""One `rg4 train` stage-2 step vs a bare PyTorch + peft step on the same model and batches.

Tiny preset, stage 2 (fusion + LoRA + the tiny decoder's own weights, as `rg4 train
--stage 2 --init STAGE1` trains it), phantom studies from `rg4 synth` in all their
settings with sentence weights, batches of one setting each (the engine's plan).

  rg4    the engine itself (`rg4cli.training.engine.train` with the generator task,
         what `rg4 train -q` runs): features from the warm frozen-encoder cache, prompt
         and target tokenisation, TLW token weights, forward, loss, backward, gradient
         clipping, AdamW, cosine schedule, metrics line. Its per-step cost is the
         difference between a run of `--long` and a run of `--short` steps divided by
         the step difference, so model building, start-up and saving cancel out.
  bare   a hand-written loop over the same model (the task's `RG4Model`: its fusion and
         its peft decoder) and the same batches, everything precomputed outside the clock
         (frozen features, left-padded prompt ids with the fusion positions, labels):
         fusion -> input embeddings -> `decoder(inputs_embeds, labels=...)` (transformers'
         own loss) -> backward -> clip -> AdamW -> schedule.

Both run `--repeats` times, alternating (so machine load hits both alike); the medians
give the ratio rg4 / bare time per step (target <= 1.10), from wall time and from this
process's CPU time (the fair one on a machine shared with other jobs).

    .venv/bin/python benchmarks/bench_train_step.py [--subjects 12] [--short 4] [--long 24]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_encoder_cache import make_records


def build_stage1_dir(train_path: Path, out: Path, seed: int) -> Path:
    from rg4cli.model import build_model, save_model_dir

    records = [json.loads(line) for line in train_path.read_text(encoding="utf-8").splitlines()]
    texts = [
        t
        for r in records
        for t in (r.get("findings"), r.get("impression"), r.get("prior_report"), r.get("indication"), r.get("history"))
        if t
    ]
    return save_model_dir(build_model("tiny", tokenizer_texts=texts, stage=1, seed=seed), out)


def task_for(train_path: Path, root: Path, init: Path, out: Path, cache: Path, batch_size: int):
    from rg4cli.training.generator import GeneratorTask

    return GeneratorTask(
        str(train_path), out, stage=2, init=str(init), image_root=root, batch_size=batch_size, cache_dir=cache
    )


def engine_run(train_path, root, init, work: Path, cache: Path, batch_size: int, steps: int, tag: str):
    """(wall, CPU) seconds of a whole `rg4 train --stage 2` run of `steps` optimizer steps."""
    from rg4cli.training.engine import EngineConfig, train

    out = work / f"rg4-{tag}-{steps}"
    task = task_for(train_path, root, init, out, cache, batch_size)
    config = EngineConfig(
        out_dir=out, max_steps=steps, batch_size=batch_size, lr=1e-3, fusion_lr=3e-4, progress=False, seed=1
    )
    start, cpu = time.perf_counter(), time.process_time()
    train(task, config)
    return time.perf_counter() - start, time.process_time() - cpu


def bare_batches(task, plan: list[list[int]]):
    """Tensors a hand-written loop would have ready for each batch (built outside the clock)."""
    model = task.model
    out = []
    with torch.no_grad():
        for indices in plan:
            examples = [task.examples[i] for i in indices]
            feats = task.features(examples)
            batch = model.text_batch([ex.study for ex in examples], with_targets=True)
            rows, fusion_pos, labels = [], [], []
            for segs, target in zip(batch.prefixes, batch.target_ids):
                ids, is_fusion = [], []
                for seg in segs:
                    if isinstance(seg, str):  # the N fusion tokens go here
                        ids += [0] * model.config.num_queries
                        is_fusion += [True] * model.config.num_queries
                    else:
                        ids += seg
                        is_fusion += [False] * len(seg)
                rows.append((ids + target, is_fusion + [False] * len(target), [-100] * len(ids) + target))
            length = max(len(r[0]) for r in rows)
            pad = model.tokenizer.pad_token_id
            input_ids = torch.tensor([[pad] * (length - len(r[0])) + r[0] for r in rows])
            mask = torch.tensor([[0] * (length - len(r[0])) + [1] * len(r[0]) for r in rows])
            fusion_pos = torch.tensor([[False] * (length - len(r[0])) + r[1] for r in rows])
            labels = torch.tensor([[-100] * (length - len(r[0])) + r[2] for r in rows])
            out.append((feats, input_ids, mask, (mask.cumsum(-1) - 1).clamp(min=0), fusion_pos, labels))
    return out


def bare_run(task, batches, steps: int) -> tuple[float, float]:
    """(wall, CPU) seconds of `steps` hand-written PyTorch + peft steps."""
    from transformers import get_cosine_schedule_with_warmup

    model = task.model
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    scheduler = get_cosine_schedule_with_warmup(optimizer, max(1, steps // 10), steps)
    embed = model.decoder.get_input_embeddings()
    model.train()
    start, cpu = time.perf_counter(), time.process_time()
    for step in range(steps):
        feats, input_ids, mask, positions, fusion_pos, labels = batches[step % len(batches)]
        fused = model.fusion(
            feats.frontal,
            lateral=feats.lateral,
            prior=feats.prior,
            prior_mask=feats.prior_mask,
            lateral_present=feats.lateral_present,
            prior_present=feats.prior_present,
        )
        embeds = embed(input_ids).masked_scatter(fusion_pos.unsqueeze(-1), fused)
        loss = model.decoder(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        float(loss.detach())
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=12, help="phantom subjects (each has 1-5 studies)")
    ap.add_argument("--batch-size", type=int, default=8, help="the demo's stage-2 batch")
    ap.add_argument("--short", type=int, default=4, help="steps of the short engine run")
    ap.add_argument("--long", type=int, default=24, help="steps of the long engine run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the demo: 1 per chain)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    steps = args.long - args.short

    with tempfile.TemporaryDirectory(prefix="rg4-bench-train-step-") as tmp:
        work = Path(tmp)
        root = work / "phantom"
        train_path = make_records(root, args.subjects)
        init = build_stage1_dir(train_path, work / "stage1", seed=0)
        cache = work / "cache"
        bare_task = task_for(train_path, root, init, work / "bare", cache, args.batch_size)
        bare_task.build_model()
        plan = bare_task.plan_epoch(0, 1)
        batches = bare_batches(bare_task, plan)  # also fills the feature cache both sides read
        bare_task.flush_caches()
        n_examples = len(bare_task.examples)
        print(
            f"tiny preset, stage 2, {n_examples} examples, {len(plan)} batches of <= {args.batch_size} (one "
            f"setting each), {torch.get_num_threads()} thread(s); rg4 per step = (run of {args.long} - run of "
            f"{args.short} steps) / {steps}",
            flush=True,
        )

        per_step = {"rg4": [], "bare": []}
        for rep in range(args.repeats):
            short = engine_run(train_path, root, init, work, cache, args.batch_size, args.short, f"{rep}")
            long = engine_run(train_path, root, init, work, cache, args.batch_size, args.long, f"{rep}")
            per_step["rg4"].append(((long[0] - short[0]) / steps, (long[1] - short[1]) / steps))
            bare = bare_run(bare_task, batches, steps)
            per_step["bare"].append((bare[0] / steps, bare[1] / steps))
            r, b = per_step["rg4"][-1], per_step["bare"][-1]
            print(
                f"  repeat {rep + 1}: ms per step, wall (CPU): rg4 {1000 * r[0]:.1f} ({1000 * r[1]:.1f}), "
                f"bare {1000 * b[0]:.1f} ({1000 * b[1]:.1f})",
                flush=True,
            )
        wall = {k: statistics.median(t[0] for t in v) for k, v in per_step.items()}
        cpu = {k: statistics.median(t[1] for t in v) for k, v in per_step.items()}
        print(f"rg4 train step   {1000 * wall['rg4']:7.1f} ms wall, {1000 * cpu['rg4']:7.1f} ms CPU")
        print(f"bare torch+peft  {1000 * wall['bare']:7.1f} ms wall, {1000 * cpu['bare']:7.1f} ms CPU")
        print(
            f"ratio rg4 / bare time per step: {wall['rg4'] / wall['bare']:.2f}x wall, "
            f"{cpu['rg4'] / cpu['bare']:.2f}x CPU (target <= 1.10; CPU time is the fair one on a shared machine)"
        )


if __name__ == "__main__":
    main()
