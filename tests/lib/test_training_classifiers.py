"""`rg4 train --task labeler|discbert` on the shared engine: learning, exact resume, outputs that load."""

from __future__ import annotations

import json

import pytest
import torch

from rg4cli.model.classifiers import load_classifier, predict_chexbert, predict_discbert
from rg4cli.training.checkpoints import list_checkpoints
from rg4cli.training.classifiers import ClassifierTask
from rg4cli.training.engine import METRICS_FILE, EngineConfig, SimulatedKill, shard_plan, train
from rg4cli.vocab import OBSERVATIONS

from .corpora import COMM


def _task(kind, train_path, out, val=None):
    return ClassifierTask(kind, str(train_path), out, batch_size=8, val_path=str(val) if val else None)


def _config(out, **kw):
    base = dict(out_dir=out, epochs=3, lr=1e-3, grad_accum=1, checkpoint_every=4, seed=3, progress=False)
    base.update(kw)
    return EngineConfig(**base)


def test_shard_plan_gives_every_process_the_same_number_of_batches():
    plan = [[0], [1], [2], [3], [4]]
    assert shard_plan(plan, 0, 2) == [[0], [2], [4]]
    assert shard_plan(plan, 1, 2) == [[1], [3], [0]]
    assert shard_plan(plan, 0, 1) == plan


def test_labeler_learns_and_loads_in_rg4_label(classifier_data, tmp_path):
    train_path, val_path = classifier_data
    out = tmp_path / "labeler"
    result = train(_task("labeler", train_path, out, val_path), _config(out, epochs=4))
    losses = [json.loads(l)["loss"] for l in (out / METRICS_FILE).read_text().splitlines() if "loss" in json.loads(l)]
    assert len(losses) == result.steps == 24
    assert sum(losses[-4:]) / 4 < 0.7 * sum(losses[:4]) / 4
    # warm-up is 10% of the real step count (24 -> 3 steps), then cosine to 0
    lrs = [json.loads(l)["lr"] for l in (out / METRICS_FILE).read_text().splitlines() if "lr" in json.loads(l)]
    assert lrs[2] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(0.0, abs=1e-12)
    clf = load_classifier(out, "labeler")
    labels = predict_chexbert(clf, ["There is a moderate right pleural effusion. No pneumothorax."])
    assert set(labels[0]) == set(OBSERVATIONS)
    assert (out / "last" / "model.safetensors").is_file()  # with --val: best in out/, last in out/last


def test_discbert_output_loads_in_rg4_hallucination(classifier_data, tmp_path):
    train_path, _ = classifier_data
    out = tmp_path / "disc"
    train(_task("discbert", train_path, out), _config(out, epochs=4))
    clf = load_classifier(out, "discbert")
    probs = predict_discbert(clf, [COMM, "Heart size is normal."])
    assert set(probs[0]) == {"pc", "pp", "view", "comm"}
    assert probs[0]["comm"] > probs[1]["comm"]


def test_resume_after_kill_reaches_the_uninterrupted_weights(classifier_data, bert_dir, tmp_path):
    from safetensors.torch import load_file

    train_path, _ = classifier_data

    def task(out):  # both runs start from the same BERT and vocabulary
        return ClassifierTask("labeler", str(train_path), out, batch_size=8, init=str(bert_dir))

    killed = tmp_path / "killed"
    with pytest.raises(SimulatedKill):
        train(task(killed), _config(killed, stop_after_step=10))
    assert [s for s, _ in list_checkpoints(killed)] == [4, 8]  # step 10 was never saved
    resumed = train(task(killed), _config(killed, resume=True))
    assert resumed.resumed_from == 8 and resumed.steps == 18

    straight = tmp_path / "straight"
    whole = train(task(straight), _config(straight))
    assert resumed.first_loss == whole.first_loss  # the run's first loss, not the resumed part's
    a = load_file(str(killed / "model.safetensors"))
    b = load_file(str(straight / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(l)["step"] for l in (killed / METRICS_FILE).read_text().splitlines()]
    assert steps == list(range(1, 19))  # steps logged after the checkpoint were trimmed, then redone
    assert (killed / METRICS_FILE).read_text().count('"loss"') == 18


def test_init_from_a_pretrained_bert_directory(classifier_data, bert_dir, tmp_path):
    from transformers import BertModel

    train_path, _ = classifier_data
    task = ClassifierTask("labeler", str(train_path), tmp_path / "out", init=str(bert_dir))
    model = task.build_model()
    bert = BertModel.from_pretrained(str(bert_dir), add_pooling_layer=False)
    assert all(torch.equal(v, bert.state_dict()[k]) for k, v in model.bert.state_dict().items())
    assert len(model.linear_heads) == 14
