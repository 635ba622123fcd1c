"""A training run's checkpoints: OUT/checkpoints/step-N with the trainable weights, the
optimizer, the schedule, every process's RNG states and the data position, written and read
back without pickle, so that a resumed run ends with the weights of an uninterrupted one."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rg4cli.errors import InputError, Rg4Error

CHECKPOINTS_DIR = "checkpoints"
RUN_CONFIG_FILE = "train_config.json"
TRAINABLE_WEIGHTS_FILE = "trainable.safetensors"
TRAINER_STATE_FILE = "trainer_state.json"
SCHEDULER_STATE_FILE = "scheduler.json"
RNG_STATE_FILE = "rng_state_{rank}.json"  # Python's and NumPy's generators of one process
RNG_TENSORS_FILE = "rng_state_{rank}.safetensors"  # torch's CPU and CUDA generators of one process
_STEP_DIR_RE = re.compile(r"^step-(\d+)$")

# Options whose change makes a resumed run a different run (the data plan and the
# schedule depend on them); the rest (checkpoint frequency, progress) may change.
RESUME_MUST_MATCH = (
    "task",
    "seed",
    "epochs",
    "max_steps",
    "grad_accum",
    "lr",
    "fusion_lr",
    "weight_decay",
    "warmup_ratio",
    "warmup",
    "decay",
    "max_grad_norm",
    "num_processes",
    "batch_size",
    "task_config",
)


@dataclass
class TrainerState:
    """Where the run is: registered with accelerate so it travels with each checkpoint."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # current epoch
    micro_in_epoch: int = 0  # micro-batches of this process done in the current epoch
    best_score: float | None = None
    best_step: int | None = None
    first_loss: float | None = None  # the run's first loss, kept across resumes

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def list_checkpoints(out_dir: Path) -> list[tuple[int, Path]]:
    root = Path(out_dir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = []
    for child in root.iterdir():
        m = _STEP_DIR_RE.match(child.name)
        if m and (child / TRAINER_STATE_FILE).is_file():  # written last: a complete checkpoint
            found.append((int(m.group(1)), child))
    return sorted(found)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights a checkpoint needs: trainable parameters only (a frozen 7B decoder stays out)."""
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}


def install_checkpoint_hooks(accelerator, model: nn.Module) -> None:
    """Checkpoints hold trainable weights only; load them back non-strictly (the frozen rest is rebuilt)."""
    from safetensors.torch import load_file, save_file

    def save_hook(models, weights, output_dir):
        for i, m in enumerate(models):
            m = accelerator.unwrap_model(m)  # names without DDP's "module." prefix
            state = {k: v.detach().cpu().contiguous() for k, v in trainable_state(m).items()}
            if accelerator.is_main_process:
                save_file(state, os.path.join(output_dir, f"{i}-{TRAINABLE_WEIGHTS_FILE}"))
        # Keep accelerate from writing the whole model (it saves `weights`).
        models_count = len(weights)
        del weights[:models_count]

    def load_hook(models, input_dir):
        for i, m in enumerate(list(models)):
            path = os.path.join(input_dir, f"{i}-{TRAINABLE_WEIGHTS_FILE}")
            state = load_file(path, device="cpu")
            own = dict(accelerator.unwrap_model(m).named_parameters())
            unknown = [k for k in state if k not in own]
            if unknown:
                raise Rg4Error(f"checkpoint {input_dir} does not fit this model: unknown weights {unknown[:3]}")
            missing = [k for k, p in own.items() if p.requires_grad and k not in state]
            if missing:
                raise Rg4Error(f"checkpoint {input_dir} lacks trainable weights {missing[:3]}")
            with torch.no_grad():
                for k, v in state.items():
                    own[k].copy_(v.to(own[k].device, own[k].dtype))
        del models[:]

    accelerator.register_save_state_pre_hook(save_hook)
    accelerator.register_load_state_pre_hook(load_hook)


# ---- resume state without pickle ------------------------------------------------------
# A run directory is something users copy and hand over, so --resume must not unpickle
# anything a file could turn into code. accelerate keeps custom objects (and loads them
# with full pickle) and RNG states as pickles; the engine keeps the scheduler and the trainer
# state as JSON and the RNG states as JSON + safetensors instead, and refuses a checkpoint
# that holds a .pkl file (checkpoints of rg4 before this layout included). What accelerate
# still writes, the optimizer state, it reads back with torch's restricted unpickler
# (weights_only), and a refusal stops the resume with one line.


def save_run_state(path: Path, scheduler, accelerator) -> None:
    """The scheduler (main process) and this process's RNG states, next to accelerate's files."""
    import random

    import numpy as np
    from safetensors.torch import save_file

    rank = accelerator.process_index
    if accelerator.is_main_process:
        (path / SCHEDULER_STATE_FILE).write_text(json.dumps(scheduler.state_dict()) + "\n", encoding="utf-8")
    version, internal, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    rng = {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
    }
    (path / RNG_STATE_FILE.format(rank=rank)).write_text(json.dumps(rng) + "\n", encoding="utf-8")
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"torch_cuda_{i}": t for i, t in enumerate(torch.cuda.get_rng_state_all())})
    save_file(tensors, str(path / RNG_TENSORS_FILE.format(rank=rank)))
    (path / f"random_states_{rank}.pkl").unlink(missing_ok=True)  # accelerate's pickled copy of the same


def _read_json_state(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"checkpoint {path.parent}: cannot read {path.name} ({what}): {exc}; "
            "resume from an intact run directory or train into a new one"
        ) from None


def load_run_state(path: Path, scheduler, state: TrainerState, accelerator) -> None:
    """Scheduler, trainer state and this process's RNG states of checkpoint `path` (JSON + safetensors)."""
    import random

    import numpy as np
    from safetensors.torch import load_file

    sched = _read_json_state(path / SCHEDULER_STATE_FILE, "learning-rate schedule")
    trainer = _read_json_state(path / TRAINER_STATE_FILE, "trainer state")
    fields = set(asdict(TrainerState()))
    if (
        not isinstance(sched, dict)
        or set(sched) - set(scheduler.state_dict())
        or not isinstance(trainer, dict)
        or set(trainer) - fields
        or not all(
            isinstance(trainer.get(k), int) and not isinstance(trainer.get(k), bool)
            for k in ("step", "epoch", "micro_in_epoch")
        )
    ):
        raise InputError(f"checkpoint {path}: {TRAINER_STATE_FILE} or {SCHEDULER_STATE_FILE} is not what rg4 writes")
    try:
        scheduler.load_state_dict(sched)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"checkpoint {path}: {SCHEDULER_STATE_FILE} does not fit this run's schedule ({exc})"
        ) from None
    state.load_state_dict(trainer)
    rank = accelerator.process_index
    rng_file, tensor_file = path / RNG_STATE_FILE.format(rank=rank), path / RNG_TENSORS_FILE.format(rank=rank)
    rng = _read_json_state(rng_file, "random state")
    try:
        version, internal, gauss = rng["python"]
        random.setstate((version, tuple(internal), gauss))
        name, keys, pos, has_gauss, cached = rng["numpy"]
        np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
        tensors = load_file(str(tensor_file))
        torch.set_rng_state(tensors["torch_cpu"])
        if torch.cuda.is_available():
            cuda = [
                tensors[f"torch_cuda_{i}"] for i in range(torch.cuda.device_count()) if f"torch_cuda_{i}" in tensors
            ]
            if cuda:
                torch.cuda.set_rng_state_all(cuda)
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as exc:
        raise InputError(
            f"checkpoint {path}: bad random state in {rng_file.name} or {tensor_file.name} ({exc})"
        ) from None


def load_checkpoint_dir(path: Path, accelerator, scheduler, state: TrainerState) -> None:
    """accelerate's part (trainable weights through the hook, optimizer with weights_only), then ours."""
    from rg4cli.model.safe_pickle import refusal_reason

    planted = sorted(p.name for p in path.glob("*.pkl"))
    if planted:
        # accelerate would unpickle custom_checkpoint_N.pkl in full; rg4 writes no .pkl at all.
        raise InputError(
            f"checkpoint {path} holds {planted[0]}, a pickle rg4 does not write and will not load "
            "(refused, nothing in it ran); resume from an intact run directory or train into a new one"
        )
    try:
        accelerator.load_state(str(path), load_kwargs={"weights_only": True})
    except Exception as exc:  # noqa: BLE001 - a refused or damaged file is one line
        if isinstance(exc, Rg4Error):
            raise
        reason = refusal_reason(exc)
        raise InputError(
            f"checkpoint {path}: "
            + (
                f"refused: {reason}; rg4 runs nothing from a checkpoint"
                if reason
                else f"cannot load it ({exc.__class__.__name__})"
            )
            + "; resume from an intact run directory or train into a new one"
        ) from None
    load_run_state(path, scheduler, state, accelerator)


def check_resume_config(out_dir: Path, config: dict) -> None:
    path = out_dir / RUN_CONFIG_FILE
    if not path.is_file():
        return
    old = json.loads(path.read_text(encoding="utf-8"))
    diff = [k for k in RESUME_MUST_MATCH if k in old and old.get(k) != config.get(k)]
    if diff:
        details = ", ".join(f"{k}: {old.get(k)!r} -> {config.get(k)!r}" for k in diff)
        raise InputError(
            f"--resume with different settings than the checkpointed run ({details}); "
            "resume with the same options or train into a new directory",
            source=str(out_dir),
        )


def trim_metrics(path: Path, up_to_step: int) -> None:
    """On resume, drop metric lines logged after the checkpoint (they will be logged again)."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if rec.get("step", 0) <= up_to_step:
            kept.append(line)
    path.write_text("".join(l + "\n" for l in kept), encoding="utf-8")


def open_run_dir(out_dir: Path, resume: bool, run_config: dict, log: Callable[[str], None]) -> list[tuple[int, Path]]:
    """The run directory's checkpoints; refuse a directory with checkpoints unless resuming, and a
    resume whose settings differ from the checkpointed run's."""
    checkpoints = list_checkpoints(out_dir)
    if resume:
        if checkpoints:
            check_resume_config(out_dir, run_config)
        else:
            log(f"--resume: no checkpoint in {out_dir / CHECKPOINTS_DIR}; starting from the beginning")
    elif checkpoints:
        raise InputError(
            "already holds checkpoints of a run; pass --resume to continue it or choose a new output directory",
            source=str(out_dir),
        )
    return checkpoints


def save_checkpoint(out_dir: Path, accelerator, scheduler, state: TrainerState, keep: int) -> None:
    """OUT/checkpoints/step-N on every process; the oldest beyond `keep` are removed."""
    path = out_dir / CHECKPOINTS_DIR / f"step-{state.step}"
    accelerator.save_state(str(path))
    save_run_state(path, scheduler, accelerator)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        # Written last: its presence marks the checkpoint complete.
        (path / TRAINER_STATE_FILE).write_text(json.dumps(state.state_dict()) + "\n", encoding="utf-8")
        for _, old in list_checkpoints(out_dir)[: -max(1, keep)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
