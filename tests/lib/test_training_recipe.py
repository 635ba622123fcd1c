"""The released training recipe pieces: the stage-2 sampler, the schedule, cleaned targets and their weights."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import nn

from rg4cli.errors import InputError
from rg4cli.text.cleaning import r2gen_clean
from rg4cli.training.classifiers import plan_shuffled_batches
from rg4cli.training.data import LENGTH_POOL_BATCHES, plan_input_setting_batches
from rg4cli.training.engine import EngineConfig, warmup_steps_of
from rg4cli.training.targets import clean_spans, clean_with_origin


def _settings(sizes: dict[str, int]) -> list[str]:
    out = []
    for name, n in sizes.items():
        out += [name] * n
    return out


@pytest.mark.parametrize(
    "sizes,batch", [({"sn": 40, "sw": 13, "mn": 7, "mw": 3}, 4), ({"sn": 37, "sw": 20, "mn": 9, "mw": 2}, 5)]
)
def test_cycle_sampler_gives_four_times_sn_rotating_through_the_settings(sizes, batch):
    settings = _settings(sizes)
    plan = plan_input_setting_batches(settings, batch, epoch=0, seed=3, sampler="cycle")
    rounds = -(-sizes["sn"] // batch)
    # 4 x |sn| samples (|sn| rounded up to whole batches), every batch full.
    assert [len(b) for b in plan] == [batch] * (4 * rounds)
    assert sum(len(b) for b in plan) == 4 * batch * rounds >= 4 * sizes["sn"]
    # Batches rotate sn, sw, mn, mw and each holds one setting.
    names = [{settings[i] for i in b} for b in plan]
    assert all(len(n) == 1 for n in names)
    assert [n.pop() for n in names] == ["sn", "sw", "mn", "mw"] * rounds
    # Every setting is covered each epoch, the small ones repeated up to the size of sn.
    counts = Counter(settings[i] for b in plan for i in b)
    assert all(counts[s] == batch * rounds for s in sizes)
    seen = {s: {i for b in plan for i in b if settings[i] == s} for s in sizes}
    assert all(len(seen[s]) == sizes[s] for s in sizes)
    # Pure function of (seed, epoch); a new epoch reshuffles.
    assert plan == plan_input_setting_batches(settings, batch, epoch=0, seed=3, sampler="cycle")
    assert plan != plan_input_setting_batches(settings, batch, epoch=1, seed=3, sampler="cycle")


def test_once_sampler_uses_each_example_once():
    settings = _settings({"sn": 10, "sw": 3, "mn": 2, "mw": 1})
    plan = plan_input_setting_batches(settings, 4, epoch=0, seed=0, sampler="once")
    assert sorted(i for b in plan for i in b) == list(range(len(settings)))
    with pytest.raises(InputError, match="--sampler"):
        plan_input_setting_batches(settings, 4, epoch=0, seed=0, sampler="weighted")


def _padded(plan, lengths):
    return sum(max(lengths[i] for i in b) * len(b) for b in plan)


def test_length_sampler_batches_examples_of_similar_length_once_each():
    """`--sampler length`: every example once, one setting per batch, batches cut from
    length-sorted pools of a shuffle (so far less padding than `once`), still shuffled."""
    gen = torch.Generator().manual_seed(0)
    settings = _settings({"sn": 900, "sw": 500, "mn": 300, "mw": 130})
    lengths = torch.randint(20, 240, (len(settings),), generator=gen).tolist()
    plan = plan_input_setting_batches(settings, 8, epoch=0, seed=5, sampler="length", lengths=lengths)
    assert sorted(i for b in plan for i in b) == list(range(len(settings)))
    assert all(len({settings[i] for i in b}) == 1 for b in plan)
    once = plan_input_setting_batches(settings, 8, epoch=0, seed=5, sampler="once")
    real = sum(lengths)
    assert _padded(plan, lengths) - real < 0.25 * (_padded(once, lengths) - real)
    # Not simply sorted: batch order is shuffled, and each pool is its own random draw.
    maxima = [max(lengths[i] for i in b) for b in plan]
    assert maxima != sorted(maxima) and maxima != sorted(maxima, reverse=True)
    assert plan == plan_input_setting_batches(settings, 8, epoch=0, seed=5, sampler="length", lengths=lengths)
    assert plan != plan_input_setting_batches(settings, 8, epoch=1, seed=5, sampler="length", lengths=lengths)
    with pytest.raises(ValueError, match="one length per example"):
        plan_input_setting_batches(settings, 8, epoch=0, seed=5, sampler="length")


def test_length_grouped_shuffled_batches_for_the_decoder_task():
    lengths = [(7 * i) % 150 + 5 for i in range(1000)]
    plan = plan_shuffled_batches(len(lengths), 32, epoch=0, seed=1, lengths=lengths)
    assert sorted(i for b in plan for i in b) == list(range(1000))
    plain = plan_shuffled_batches(len(lengths), 32, epoch=0, seed=1)
    assert _padded(plan, lengths) < 0.75 * _padded(plain, lengths)
    # Pools are slices of the shuffle the plain plan cuts: the first pool's examples make whole batches.
    lengths = lengths * 3
    plan = plan_shuffled_batches(len(lengths), 32, epoch=0, seed=1, lengths=lengths)
    first_pool = set(sum(plan_shuffled_batches(len(lengths), 32, epoch=0, seed=1), [])[: 32 * LENGTH_POOL_BATCHES])
    assert sum(1 for b in plan if set(b) <= first_pool) == LENGTH_POOL_BATCHES


def test_released_warmup_is_a_tenth_of_one_epoch():
    cfg = EngineConfig(out_dir=".", epochs=2, warmup="per-epoch")
    assert warmup_steps_of(cfg, 1000) == 50  # int(0.1 x 1000 / 2): 5% of the run
    assert warmup_steps_of(cfg, 1001) == 50
    assert warmup_steps_of(EngineConfig(out_dir=".", epochs=2), 1000) == 100  # rg4: 10% of all steps
    with pytest.raises(InputError, match="--warmup"):
        warmup_steps_of(EngineConfig(out_dir=".", warmup="linear"), 10)


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 3)
        self.norm = nn.LayerNorm(3)

    def forward(self, x):
        return self.norm(self.lin(x))


class _Task:
    name = "toy"
    find_unused_parameters = False

    def build_model(self):
        torch.manual_seed(0)
        return _Tiny()

    def plan_epoch(self, epoch, seed):
        return [[0]] * 4

    def loss(self, model, batch, device):
        return 1e3 * model(torch.ones(1, 3)).pow(2).sum(), {}

    def save(self, model, out_dir):
        self.model = model


@pytest.mark.parametrize("decay,clip", [("all", 0.0), ("matrices", 1.0)])
def test_engine_decay_scope_and_clipping(tmp_path, decay, clip):
    """With a zero gradient only weight decay moves a parameter: the released recipe decays norms and
    biases too, rg4's does not. Clipping (rg4) logs the gradient norm; the released recipe has none."""
    import json

    from rg4cli.training.engine import train

    task = _Task()
    task.loss = lambda model, batch, device: ((model(torch.ones(1, 3)) * 0).sum(), {})
    cfg = EngineConfig(
        out_dir=tmp_path / decay,
        epochs=1,
        lr=0.1,
        weight_decay=0.5,
        decay=decay,
        max_grad_norm=clip,
        warmup="per-epoch",
        progress=False,
    )
    before = task.build_model().state_dict()
    train(task, cfg)
    after = task.model.state_dict()
    assert not torch.equal(before["lin.weight"], after["lin.weight"])  # a matrix decays either way
    for name in ("norm.weight", "lin.bias"):
        assert (not torch.equal(before[name], after[name])) == (decay == "all"), name
    lines = [json.loads(l) for l in (tmp_path / decay / "metrics.jsonl").read_text().splitlines()]
    assert ("grad_norm" in lines[0]) == (clip > 0)


REPORTS = [
    "findings: The heart is normal in size.  There is no pleural effusion.. 1. No pneumothorax. "
    "impression: No acute process.",
    'findings: Moderate right pleural effusion (new) with adjacent atelectasis; heart size is "stable". '
    "impression: 1. Right effusion. 2. Cardiomegaly.",
    "FINDINGS: Lines/tubes: ET tube 4.5 cm above the carina.\nIMPRESSION: Standard position__ no change.",
]


@pytest.mark.parametrize("text", REPORTS)
def test_tracked_cleaning_equals_r2gen_clean_and_moves_sentence_spans(text):
    cleaned, origin = clean_with_origin(text)
    assert cleaned == r2gen_clean(text)
    assert len(origin) == len(cleaned)
    for k, o in enumerate(origin):
        if o >= 0:  # each kept character came from the raw character it lower-cases
            assert text[o].lower() == cleaned[k] or (cleaned[k] == " " and text[o] in ": \n")
    start = text.lower().index("impression")
    spans = clean_spans(text, [{"start": start, "end": len(text), "weight": 1.75}])
    assert len(spans) == 1
    moved = cleaned[spans[0]["start"] : spans[0]["end"]]
    assert moved.startswith("impression :") and cleaned.endswith(moved + " .")
