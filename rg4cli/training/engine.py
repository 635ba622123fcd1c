"""The training loop every `rg4 train` task runs on: accelerate, AdamW, cosine, exact resume.

One loop serves the generator (stage 1/2) and the two BERT classifiers. A task
(see `TrainTask`) owns the model, the data and the loss; the engine owns the
rest:

- accelerate runs it on one device (`rg4 train ...`) or many (`accelerate launch
  -m rg4cli train ...`, DDP; FSDP/DeepSpeed through accelerate's own config);
  bf16 autocast on GPU, full precision on CPU;
- AdamW over the trainable parameters, cosine schedule with a linear warm-up, the
  step count computed from the real number of batches (after filtering and sharding),
  gradient accumulation; warm-up length, gradient clipping and which parameters
  decay are options (`warmup`, `max_grad_norm`, `decay`: the released recipe is
  int(0.1 x total / epochs) warm-up steps, no clipping, decay on every parameter;
  rg4's is 10% of the steps, clipping at 1.0, no decay on norms and biases);
- a checkpoint every N optimizer steps under OUT/checkpoints/step-N (model's
  trainable weights, optimizer, scheduler, RNG states of every process, data
  position) and `resume=True` continues from the newest one so that the final
  weights equal those of an uninterrupted run;
- metrics as JSON Lines in OUT/metrics.jsonl, a tqdm bar on stderr.

Why the data order is planned here rather than by a DataLoader: exact resume needs
the batch order to be a pure function of (seed, epoch) and must not draw from the
global RNG that dropout uses (a DataLoader iterator draws a base seed from it on
creation). The task returns the global batch plan of an epoch; every process takes
its share (`plan[rank::world]`, padded by wrap-around so all processes do the same
number of steps, as accelerate's own `even_batches` does).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from rg4cli.errors import InputError, Rg4Error
from rg4cli.records.streams import dumps_json, write_json
from rg4cli.training.checkpoints import (
    RUN_CONFIG_FILE,
    TrainerState,
    install_checkpoint_hooks,
    load_checkpoint_dir,
    open_run_dir,
    save_checkpoint,
    trim_metrics,
)

METRICS_FILE = "metrics.jsonl"

WARMUPS = ("ratio", "per-epoch")  # per-epoch: int(warmup_ratio x total / epochs), the released code's
DECAYS = ("matrices", "all")  # all: AdamW's weight decay on every parameter, the released code's


@dataclass
class EngineConfig:
    out_dir: Path
    epochs: int = 2
    max_steps: int | None = None  # optimizer steps; overrides epochs when given
    batch_size: int = 16  # per process, per micro-batch (recorded; the task builds the batches)
    grad_accum: int = 1
    lr: float = 3e-4
    # Peak LR of the parameters under the model's `fusion` module (None = lr). The tiny
    # preset's random decoder cannot use the image tokens early on, so at the LoRA's LR the
    # fusion learns to make them constant before the decoder could learn to read them.
    fusion_lr: float | None = None
    weight_decay: float = 0.01  # torch's AdamW default
    decay: str = "matrices"  # matrices: norms, biases and vectors get no decay; all: every parameter
    warmup_ratio: float = 0.1
    warmup: str = "ratio"  # ratio: ceil(warmup_ratio x total); per-epoch: int(warmup_ratio x total / epochs)
    max_grad_norm: float = 1.0  # 0 = no clipping
    checkpoint_every: int = 0  # optimizer steps; 0 = no intermediate checkpoints
    keep_checkpoints: int = 2
    resume: bool = False
    seed: int = 0
    mixed_precision: str = "auto"  # auto: bf16 on CUDA (when supported), none on CPU
    log_every: int = 1
    val_every: int = 0  # optimizer steps; 0 = after every epoch (when the task validates)
    progress: bool = True
    # Test hook: stop (as if killed) right after this optimizer step, without saving.
    stop_after_step: int | None = None
    task_config: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        d = asdict(self)
        d["out_dir"] = str(self.out_dir)
        d.pop("stop_after_step", None)
        return d


class TrainTask(Protocol):
    """What a task gives the engine (generator, labeler, discbert)."""

    name: str
    find_unused_parameters: bool  # DDP: True when some trainable modules skip some batches

    def build_model(self) -> nn.Module:
        """The model to train, on CPU; its requires_grad flags say what trains."""

    def plan_epoch(self, epoch: int, seed: int) -> list[list[int]]:
        """Global batch plan of one epoch: lists of example indices, a pure function of (epoch, seed)."""

    def loss(self, model: nn.Module, batch_indices: list[int], device: torch.device) -> tuple[torch.Tensor, dict]:
        """Forward one micro-batch; return the scalar loss and float metrics to log."""

    def save(self, model: nn.Module, out_dir: Path) -> None:
        """Write a complete model directory (the unwrapped model)."""

    def validate(self, model: nn.Module, accelerator: Any) -> dict | None:
        """Run on every process; return metrics (same on all) with a 'score' to maximise, or None."""


class SimulatedKill(Rg4Error):
    """Raised by the `stop_after_step` test hook."""


def _resolve_precision(choice: str) -> str:
    if choice not in ("auto", "no", "bf16", "fp16"):
        raise InputError(f"--precision must be auto, no, bf16 or fp16, got {choice!r}")
    if choice != "auto":
        return choice
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def _cpu_processes() -> bool:
    # Launched on several processes (torchrun / `accelerate launch --multi_gpu`) on a machine
    # without GPUs: accelerate's CPU path (gloo) is only taken when asked for.
    return not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1


def process_state():
    """accelerate's process state, set up the way the engine's Accelerator will be.

    Use this (not a bare PartialState()) before training starts: the first call fixes
    the process group, and a bare call on several CPU processes would set up none.
    """
    from accelerate import PartialState

    return PartialState(cpu=_cpu_processes())


def kept_tokenizer(tok_dir: Path, build: Callable[[], Any], *, resuming: bool):
    """A run's vocabulary, built once by the main process and kept in `tok_dir`, so the other
    DDP processes and a resumed run load the very same one (a trainer may not be deterministic)."""
    from transformers import AutoTokenizer

    state = process_state()
    if state.is_main_process and not resuming and tok_dir.exists():
        shutil.rmtree(tok_dir)  # left by an earlier run that never checkpointed
    with state.main_process_first():
        if (tok_dir / "tokenizer.json").is_file():
            return AutoTokenizer.from_pretrained(str(tok_dir))
        tokenizer = build()
        if state.is_main_process:
            tokenizer.save_pretrained(str(tok_dir))
        return tokenizer


def make_accelerator(config: EngineConfig, find_unused_parameters: bool):
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    kwargs = [DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)]
    return Accelerator(
        mixed_precision=_resolve_precision(config.mixed_precision), kwargs_handlers=kwargs, cpu=_cpu_processes()
    )


def shard_plan(plan: Sequence[list[int]], rank: int, world: int) -> list[list[int]]:
    """This process's batches: every world-th batch, the plan padded by wrap-around to a multiple of world."""
    plan = list(plan)
    if not plan:
        return []
    if len(plan) % world:
        plan = plan + [plan[i % len(plan)] for i in range(world - len(plan) % world)]
    return plan[rank::world]


def warmup_steps_of(config: EngineConfig, total_steps: int) -> int:
    if config.warmup not in WARMUPS:
        raise InputError(f"--warmup must be one of {', '.join(WARMUPS)}, got {config.warmup!r}")
    if config.decay not in DECAYS:
        raise InputError(f"--decay must be one of {', '.join(DECAYS)}, got {config.decay!r}")
    if config.warmup == "per-epoch":
        return int(config.warmup_ratio * total_steps / config.epochs)
    return math.ceil(config.warmup_ratio * total_steps)


def steps_per_epoch(n_micro: int, grad_accum: int) -> int:
    return math.ceil(n_micro / grad_accum)


def make_optimizer(model: nn.Module, config: EngineConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters: the fusion's own LR when set, no decay on norms and biases
    unless `config.decay` is "all"."""
    groups = []
    for own_lr in (False, True):
        decay, no_decay = [], []
        for name, p in model.named_parameters():
            if p.requires_grad and own_lr == (config.fusion_lr is not None and name.startswith("fusion.")):
                exempt = config.decay == "matrices" and (p.ndim < 2 or "norm" in name.lower() or name.endswith(".bias"))
                (no_decay if exempt else decay).append(p)
        extra = {"lr": config.fusion_lr} if own_lr else {}
        groups += [
            {"params": decay, "weight_decay": config.weight_decay, **extra},
            {"params": no_decay, "weight_decay": 0.0, **extra},
        ]
    # Fused: one kernel per parameter group and step instead of torch's default (on CPU) of
    # about ten small ops per tensor; the same update up to float rounding (bench_train_step).
    fused = True if device.type in ("cpu", "cuda") else None
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=config.lr, fused=fused)


@contextlib.contextmanager
def stdout_to_stderr():
    """Send file descriptor 1 to stderr for a while: native libraries (the `tokenizers`
    trainers' progress output) write there, and stdout carries data only."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no usable fd 1 (embedded use): nothing to protect
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


@dataclass
class TrainResult:
    out_dir: Path
    steps: int
    total_steps: int
    final_loss: float | None
    first_loss: float | None
    best_score: float | None
    best_step: int | None
    resumed_from: int | None
    seconds: float


def train(task: TrainTask, config: EngineConfig, *, log: Callable[[str], None] = lambda m: None) -> TrainResult:
    """Run a task to the end; write the model directory into `config.out_dir`."""
    from accelerate.utils import set_seed
    from tqdm.auto import tqdm
    from transformers import get_cosine_schedule_with_warmup

    t_start = time.time()
    out_dir = Path(config.out_dir)
    accelerator = make_accelerator(config, task.find_unused_parameters)
    rank, world = accelerator.process_index, accelerator.num_processes
    run_config = {"task": task.name, "num_processes": world, **config.as_json()}

    checkpoints = open_run_dir(out_dir, config.resume, run_config, log)

    set_seed(config.seed)
    # Tasks keep run-specific build artefacts (vocabularies, the tiny preset's frozen parts) in
    # OUT/checkpoints: a resumed run reuses them, a new run must not.
    task.resuming = bool(config.resume and checkpoints)
    with stdout_to_stderr():
        model = task.build_model()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise Rg4Error(f"task {task.name}: the model has no trainable parameters")

    # The real number of steps: the epoch plan after filtering and sharding.
    plan0 = task.plan_epoch(0, config.seed)
    if not plan0:
        raise InputError(f"task {task.name}: no training examples")
    micro_per_epoch = len(shard_plan(plan0, rank, world))
    per_epoch = steps_per_epoch(micro_per_epoch, config.grad_accum)
    total_steps = config.max_steps if config.max_steps else per_epoch * config.epochs
    warmup_steps = warmup_steps_of(config, total_steps)

    optimizer = make_optimizer(model, config, accelerator.device)
    scheduler = get_cosine_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    state = TrainerState()
    # The scheduler steps once per optimizer step here (not prepared: accelerate would step it
    # once per process); it is checkpointed as JSON with the trainer state (save_run_state).
    install_checkpoint_hooks(accelerator, model)

    resumed_from = None
    if config.resume and checkpoints:
        step_no, ckpt = checkpoints[-1]
        load_checkpoint_dir(ckpt, accelerator, scheduler, state)
        resumed_from = state.step
        log(f"resumed from {ckpt} (step {state.step} of {total_steps}, epoch {state.epoch + 1})")
    if accelerator.is_main_process:
        out_dir.mkdir(parents=True, exist_ok=True)
        trim_metrics(out_dir / METRICS_FILE, state.step)
        (out_dir / RUN_CONFIG_FILE).write_text(json.dumps(run_config, indent=2) + "\n", encoding="utf-8")
    accelerator.wait_for_everyone()
    if resumed_from is None:
        log(
            f"{task.name}: {len(plan0)} batches per epoch on {world} process(es), {total_steps} optimizer steps "
            f"({warmup_steps} warm-up), device {accelerator.device}, precision {accelerator.mixed_precision}"
        )

    metrics_fh = open(out_dir / METRICS_FILE, "a", encoding="utf-8") if accelerator.is_main_process else None
    bar = tqdm(
        total=total_steps,
        initial=state.step,
        desc=f"train {task.name}",
        unit="step",
        file=sys.stderr,
        disable=not (config.progress and accelerator.is_main_process),
        dynamic_ncols=True,
    )

    def emit(record: dict) -> None:
        if metrics_fh is not None:
            metrics_fh.write(dumps_json(record) + "\n")
            metrics_fh.flush()

    def run_validation() -> None:
        metrics = task.validate(model, accelerator)
        if not metrics:
            return
        score = metrics.get("score")
        improved = score is not None and (state.best_score is None or score > state.best_score)
        if improved:
            state.best_score, state.best_step = float(score), state.step
            accelerator.wait_for_everyone()
            if accelerator.is_main_process:
                task.save(accelerator.unwrap_model(model), out_dir)
            accelerator.wait_for_everyone()
        emit({"step": state.step, "epoch": state.epoch, "val": metrics, "best": improved})
        log(
            f"validation at step {state.step}: "
            + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, (int, float)))
            + (" (best so far)" if improved else "")
        )

    first_loss = last_loss = None
    model.train()
    validates = hasattr(task, "validate")
    try:
        while state.step < total_steps:
            plan = shard_plan(task.plan_epoch(state.epoch, config.seed), rank, world)
            while state.micro_in_epoch < len(plan) and state.step < total_steps:
                group = plan[state.micro_in_epoch : state.micro_in_epoch + config.grad_accum]
                losses: list[float] = []
                extra: dict[str, float] = {}
                for i, batch in enumerate(group):
                    sync = i == len(group) - 1
                    ctx = accelerator.no_sync(model) if not sync else contextlib.nullcontext()
                    with ctx:
                        with accelerator.autocast():
                            loss, info = task.loss(model, batch, accelerator.device)
                        accelerator.backward(loss / len(group))
                    losses.append(float(loss.detach()))
                    for k, v in info.items():
                        extra[k] = extra.get(k, 0.0) + float(v) / len(group)
                grad_norm = (
                    accelerator.clip_grad_norm_(params, config.max_grad_norm)
                    if config.max_grad_norm and config.max_grad_norm > 0
                    else None
                )
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state.step += 1
                state.micro_in_epoch += len(group)
                mean_loss = torch.tensor(sum(losses) / len(losses), device=accelerator.device)
                mean_loss = float(accelerator.reduce(mean_loss, reduction="mean"))
                if not math.isfinite(mean_loss):  # the same on every process: all stop, nothing is saved
                    raise Rg4Error(
                        f"step {state.step}: the loss is {mean_loss}; check the training data's "
                        "sentence_weights and --lr"
                    )
                if state.first_loss is None:
                    state.first_loss = mean_loss
                last_loss = mean_loss
                bar.update(1)
                bar.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
                if config.log_every and (state.step % config.log_every == 0 or state.step == total_steps):
                    rec = {
                        "step": state.step,
                        "epoch": state.epoch,
                        "loss": round(mean_loss, 6),
                        "lr": scheduler.get_last_lr()[0],
                        "time": round(time.time() - t_start, 3),
                    }
                    if grad_norm is not None:
                        rec["grad_norm"] = round(float(grad_norm), 6)
                    rec.update({k: round(v, 6) for k, v in extra.items()})
                    emit(rec)
                if config.stop_after_step is not None and state.step >= config.stop_after_step:
                    raise SimulatedKill(f"stopped after step {state.step} (test hook)")
                # Validation comes before the checkpoint of the same step, so a resumed run
                # neither repeats nor skips it.
                epoch_done = state.micro_in_epoch >= len(plan)
                if config.val_every:
                    due = state.step % config.val_every == 0
                else:
                    due = epoch_done
                if validates and (due or state.step == total_steps):
                    run_validation()
                if config.checkpoint_every and state.step % config.checkpoint_every == 0 and state.step < total_steps:
                    save_checkpoint(out_dir, accelerator, scheduler, state, config.keep_checkpoints)
            if state.micro_in_epoch >= len(plan):
                state.epoch += 1
                state.micro_in_epoch = 0
    finally:
        bar.close()
        if metrics_fh is not None:
            metrics_fh.close()
    first_loss = state.first_loss

    accelerator.wait_for_everyone()
    unwrapped = accelerator.unwrap_model(model)
    if accelerator.is_main_process:
        if state.best_score is None:
            task.save(unwrapped, out_dir)  # no validation: the directory holds the final weights
        else:
            task.save(unwrapped, out_dir / "last")  # the best weights stay in out_dir itself
        summary = {
            "steps": state.step,
            "total_steps": total_steps,
            "first_loss": first_loss,
            "final_loss": last_loss,
            "best_score": state.best_score,
            "best_step": state.best_step,
            "resumed_from": resumed_from,
            "seconds": round(time.time() - t_start, 3),
        }
        write_json(out_dir / "train_summary.json", summary)
    accelerator.wait_for_everyone()
    # No accelerator.end_training(): it destroys the process group while the DDP wrapper still
    # holds it, and the wrapper's dealloc can then hang on gloo's threads (docs/design-notes.md,
    # "Ending a launched run"). Whoever owns the process ends the group (the CLI: rg4cli.cli.launch).
    return TrainResult(
        out_dir,
        state.step,
        total_steps,
        last_loss,
        first_loss,
        state.best_score,
        state.best_step,
        resumed_from,
        time.time() - t_start,
    )
