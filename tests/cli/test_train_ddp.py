"""Two-process CPU DDP (gloo) through `accelerate launch`: the engine shards, syncs and saves once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rg4cli.model.classifiers import load_classifier, predict_chexbert

from ..lib.corpora import make_records, phantom_records
from ..lib.jsonl import write_jsonl

ACCELERATE = shutil.which("accelerate", path=str(Path(sys.executable).parent)) or shutil.which("accelerate")
# --multi_gpu selects accelerate's multi-process launcher (torchrun); without GPUs the engine
# asks accelerate for its CPU path, so the processes join a gloo group.
LAUNCH = [
    ACCELERATE,
    "launch",
    "--multi_gpu",
    "--num_processes",
    "2",
    "--num_machines",
    "1",
    "--mixed_precision",
    "no",
    "--dynamo_backend",
    "no",
    "-m",
    "rg4cli",
]
# Two processes start torch, transformers and a gloo group: ~15 s on 2 idle cores, ~30 s on one
# core shared with three busy loops. The limit only has to catch a hang, and report it.
TIMEOUT_S = 900


def free_port() -> int:
    """A TCP port nobody listens on now: the rendezvous of one run never meets another run's."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(*args: str) -> list[str]:
    return [*LAUNCH[:3], "--main_process_port", str(free_port()), *LAUNCH[3:], *args]


def _env() -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    env.pop("CUDA_VISIBLE_DEVICES", None)
    return env


def _descendants(pid: int) -> list[int]:
    """Every process below `pid`, from /proc: torchrun starts each worker in a session of its own."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def run_launched(cmd: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    """Run an `accelerate launch` command line; should it hang, fail with every process's stacks.

    On time-out the launcher and each worker get SIGABRT, which Python's faulthandler
    (PYTHONFAULTHANDLER) answers with all its threads' stacks on stderr; then they are
    killed, so no worker outlives the test.
    """
    import signal

    env = dict(os.environ if env is None else env, PYTHONFAULTHANDLER="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pids = [*_descendants(proc.pid), proc.pid]
        for sig in (signal.SIGABRT, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            try:
                out, err = proc.communicate(timeout=60)
                break
            except subprocess.TimeoutExpired:
                out, err = "", ""
        pytest.fail(
            f"{' '.join(cmd[:2])} ... hung for {TIMEOUT_S} s; stdout: {out[-500:]!r}\n"
            f"stderr (with each process's stacks):\n{err[-8000:]}"
        )
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.mark.skipif(ACCELERATE is None, reason="accelerate CLI not installed")
def test_two_process_labeler_run(tmp_path):  # ~15 s on 2 idle cores: in the default run
    train = write_jsonl(tmp_path / "train.jsonl", make_records(16, 0))
    val = write_jsonl(tmp_path / "val.jsonl", make_records(9, 1))  # odd: shards of 5 and 4, none repeated
    out = tmp_path / "labeler"
    proc = run_launched(
        launch(
            "train",
            "--task",
            "labeler",
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--grad-accum",
            "1",
            "--checkpoint-every",
            "2",
            "-q",
            "--val",
            str(val),
            "-o",
            str(out),
            str(train),
        ),
        env=_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on 2 process(es)" in proc.stderr
    # stdout is data: one JSON summary from the main process, nothing else (no progress output)
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout[:500]
    summaries = [json.loads(lines[0])]
    # 16 examples / batch 4 = 4 batches per epoch, 2 per process -> 2 steps per epoch
    assert summaries[0]["steps"] == 4
    vals = [r["val"] for r in map(json.loads, (out / "metrics.jsonl").read_text().splitlines()) if "val" in r]
    assert vals and all(v["examples"] == 9 for v in vals)
    ckpt = sorted((out / "checkpoints").glob("step-*"))[-1]
    assert {p.name for p in ckpt.glob("rng_state_*.json")} == {"rng_state_0.json", "rng_state_1.json"}
    assert not list(ckpt.glob("*.pkl"))  # resume state without pickle
    labels = predict_chexbert(load_classifier(out, "labeler"), ["No pleural effusion."])
    assert len(labels) == 1


@pytest.mark.skipif(ACCELERATE is None, reason="accelerate CLI not installed")
def test_a_launched_run_that_fails_ends_every_process_with_one_line(tmp_path):
    """A loss that stops being finite stops every process at the same step: one line each, status 1."""
    train = write_jsonl(tmp_path / "train.jsonl", make_records(16, 0))
    out = tmp_path / "labeler"
    proc = run_launched(
        launch(
            "train",
            "--task",
            "labeler",
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--grad-accum",
            "1",
            "--lr",
            "1e30",
            "-q",
            "-o",
            str(out),
            str(train),
        ),
        env=_env(),
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("rg4 train: error:")]
    assert len(errors) == 2 and all("the loss is" in line and "--lr" in line for line in errors), proc.stderr[-3000:]
    assert proc.stdout == "" and not (out / "train_summary.json").exists()


@pytest.mark.slow
@pytest.mark.skipif(ACCELERATE is None, reason="accelerate CLI not installed")
def test_two_process_generator_stage2_mixed_settings(tmp_path):
    from rg4cli.records.study import INPUT_SETTINGS, setting_of
    from rg4cli.training.engine import EngineConfig
    from rg4cli.training.engine import train as run_engine
    from rg4cli.training.generator import GeneratorTask

    root = tmp_path / "phantom"
    records = phantom_records(root, n_subjects=6)
    sn = write_jsonl(root / "sn.jsonl", [r for r in records if setting_of(r) == "sn"][:4])
    mixed = []
    for s in INPUT_SETTINGS:
        mixed += [r for r in records if setting_of(r) == s][:2]
    mixed_path = write_jsonl(root / "mixed.jsonl", mixed)
    stage1 = tmp_path / "stage1"
    run_engine(
        GeneratorTask(str(sn), stage1, image_root=root, batch_size=2, cache_dir=tmp_path / "cache"),
        EngineConfig(out_dir=stage1, max_steps=1, grad_accum=1, progress=False),
    )
    out = tmp_path / "stage2"
    proc = run_launched(
        launch(
            "train",
            "--stage",
            "2",
            "--init",
            str(stage1),
            "--image-root",
            str(root),
            "--max-steps",
            "2",
            "--batch-size",
            "2",
            "--grad-accum",
            "1",
            "-q",
            "--cache-dir",
            str(tmp_path / "cache"),
            "-o",
            str(out),
            str(mixed_path),
        ),
        env=_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on 2 process(es)" in proc.stderr
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
