"""`rg4 train --resume` reads no pickle a run directory could turn into code.

The engine keeps the scheduler and trainer state as JSON and the RNG states as JSON +
safetensors; accelerate's optimizer state is read with torch's restricted unpickler.
A crafted pickle dropped into a copied run directory is ignored or refused, never run.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file

from rg4cli.errors import Rg4Error
from rg4cli.training.checkpoints import list_checkpoints
from rg4cli.training.classifiers import ClassifierTask
from rg4cli.training.engine import EngineConfig, SimulatedKill, train

from .corpora import make_records
from .jsonl import write_jsonl
from .test_model_official import Payload

torch.set_num_threads(1)


def _task(train_path, out):
    return ClassifierTask("discbert", str(train_path), out, batch_size=8)


def _config(out, **kw):
    return EngineConfig(
        **{**dict(out_dir=out, epochs=2, lr=1e-3, grad_accum=1, checkpoint_every=3, seed=1, progress=False), **kw}
    )


@pytest.fixture(scope="module")
def killed_run(tmp_path_factory):
    """A run killed after step 5 (checkpoint at step 3), and the weights of the uninterrupted run."""
    root = tmp_path_factory.mktemp("resume")
    train_path = write_jsonl(root / "train.jsonl", make_records(40, 0))
    run = root / "run"
    with pytest.raises(SimulatedKill):
        train(_task(train_path, run), _config(run, stop_after_step=5))
    straight = root / "straight"
    train(_task(train_path, straight), _config(straight))
    return train_path, run, load_file(str(straight / "model.safetensors"))


def _copy(run, tmp_path):
    dst = tmp_path / "copied"
    shutil.copytree(run, dst)
    [(_, ckpt)] = list_checkpoints(dst)
    return dst, ckpt


def test_a_checkpoint_holds_no_pickle_but_the_optimizer_state(killed_run):
    _, run, _ = killed_run
    [(step, ckpt)] = list_checkpoints(run)
    assert step == 3
    names = {p.name for p in ckpt.iterdir()}
    assert {"scheduler.json", "trainer_state.json", "rng_state_0.json", "rng_state_0.safetensors"} <= names
    assert not [n for n in names if n.endswith(".pkl")]
    assert json.loads((ckpt / "trainer_state.json").read_text())["step"] == 3


def test_resume_from_a_copy_equals_the_uninterrupted_run(killed_run, tmp_path):
    train_path, run, straight = killed_run
    dst, _ = _copy(run, tmp_path)
    result = train(_task(train_path, dst), _config(dst, resume=True))
    assert result.resumed_from == 3
    got = load_file(str(dst / "model.safetensors"))
    assert got.keys() == straight.keys() and all(torch.equal(got[k], straight[k]) for k in got)


def test_crafted_pickles_in_a_copied_run_dir_are_refused_and_run_nothing(killed_run, tmp_path):
    train_path, run, _ = killed_run
    marker = tmp_path / "payload-ran"
    # custom_checkpoint_N.pkl: what accelerate unpickles in full; random_states: its RNG pickle;
    # optimizer.bin: accelerate's own file, read with weights_only.
    for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin"):
        shutil.rmtree(tmp_path / "copied", ignore_errors=True)
        dst, ckpt = _copy(run, tmp_path)
        torch.save({"state": Payload(marker)}, ckpt / name)
        with pytest.raises(Rg4Error) as info:
            train(_task(train_path, dst), _config(dst, resume=True))
        message = str(info.value)
        assert "refused" in message and "\n" not in message, message
        assert name in message or "posix.system" in message
        assert not marker.exists()


def test_damaged_json_state_is_one_line(killed_run, tmp_path):
    train_path, run, _ = killed_run
    dst, ckpt = _copy(run, tmp_path)
    (ckpt / "scheduler.json").write_text('{"last_epoch": 3, "optimizer": "x"}')
    with pytest.raises(Rg4Error, match="not what rg4 writes"):
        train(_task(train_path, dst), _config(dst, resume=True))
    (ckpt / "scheduler.json").write_text("{not json")
    with pytest.raises(Rg4Error, match="cannot read scheduler.json"):
        train(_task(train_path, dst), _config(dst, resume=True))
