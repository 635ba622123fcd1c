"""Frozen-encoder cache: content keys, shards on disk, reuse across instances, fingerprints."""

from __future__ import annotations

import torch
from torch import nn

from rg4cli.training.cache import FeatureCache, NoCache, content_key, encoder_fingerprint


def _compute_counter():
    calls = []

    def compute(items):
        calls.append(list(items))
        return [
            {"tokens": torch.full((len(s), 3), float(len(s))), "mask": torch.ones(len(s), dtype=torch.bool)}
            for s in items
        ]

    return compute, calls


def test_cache_computes_once_and_persists(tmp_path):
    compute, calls = _compute_counter()
    cache = FeatureCache(tmp_path, "enc1", shard_size=4)  # tensors per shard
    inputs = ["aa", "bbb", "aa", "c"]
    keys = [content_key(s) for s in inputs]
    out = cache.features(keys, inputs, compute)
    assert [o["tokens"].shape[0] for o in out] == [2, 3, 2, 1]
    assert out[0]["mask"].dtype == torch.bool
    assert calls == [["aa", "bbb", "c"]]  # the duplicate is computed once
    cache.flush()
    assert len(list((tmp_path / "enc1").glob("*.safetensors"))) == 1  # 6 tensors: flushed once past 4
    cache.features([content_key("dd")], ["dd"], compute)
    cache.flush()
    assert len(list((tmp_path / "enc1").glob("*.safetensors"))) == 2

    # A new instance (another epoch / run) reads the shards: nothing recomputed.
    again = FeatureCache(tmp_path, "enc1")
    out2 = again.features(keys, inputs, compute)
    assert len(calls) == 2 and again.hits == 4 and again.misses == 0
    assert all(torch.equal(a["tokens"], b["tokens"]) and torch.equal(a["mask"], b["mask"]) for a, b in zip(out, out2))

    # Another encoder fingerprint never sees these features.
    other = FeatureCache(tmp_path, "enc2")
    other.features(keys[:1], inputs[:1], compute)
    assert len(calls) == 3


def test_no_cache_always_computes():
    compute, calls = _compute_counter()
    nc = NoCache()
    nc.features(["k"], ["x"], compute)
    nc.features(["k"], ["x"], compute)
    assert len(calls) == 2
    assert nc.features([], [], compute) == [] and len(calls) == 2  # an encoder never sees an empty batch


def test_fingerprint_changes_with_weights_and_preprocessing():
    torch.manual_seed(0)
    enc = nn.Linear(4, 4)
    a = encoder_fingerprint(enc, {"size": 224})
    assert a == encoder_fingerprint(enc, {"size": 224})
    assert a != encoder_fingerprint(enc, {"size": 518})
    with torch.no_grad():
        enc.weight[0, 0] += 1e-3
    assert a != encoder_fingerprint(enc, {"size": 224})
    assert content_key(b"abc") == content_key("abc") != content_key("abd")


def test_damaged_shard_is_a_miss(tmp_path):
    compute, calls = _compute_counter()
    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / "shard-x.safetensors").write_bytes(b"not a safetensors file")
    cache = FeatureCache(tmp_path, "enc")
    cache.features([content_key("q")], ["q"], compute)
    assert len(calls) == 1
