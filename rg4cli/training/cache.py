"""Frozen-encoder feature cache: encoder outputs computed once, on disk, reused.

The image and prior-report encoders are frozen in both stages, so their outputs for
a given input never change: they are computed once per (content, encoder) and kept
as safetensors shards under `ROOT/<encoder fingerprint>/`. A feature's key is the
SHA-256 of the input's bytes (image file bytes, or the prior-report text in UTF-8),
so a renamed or copied image hits and an edited one misses. The encoder fingerprint
hashes the encoder's configuration, preprocessing and weights, so features of a
different (or retrained) encoder never mix in. Shards are written whole to a
temporary name and renamed (a killed run leaves no torn shard); each process writes
its own shards, so DDP ranks never collide; every run reads all shards present.

An input's features are a few named tensors (image: {"tokens": [patches, D']};
prior report: {"tokens": [T, Dt], "mask": [T]}), stored as "<key>/<name>" in the
dtype the encoder produced them in.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

DEFAULT_SHARD_SIZE = 256
Features = dict  # name -> Tensor, one input's features


def default_cache_root() -> Path:
    env = os.environ.get("RG4_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rg4" / "encoder-features"


def content_key(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def encoder_fingerprint(encoder: nn.Module, extra: dict | None = None) -> str:
    """Hash of an encoder's weights, buffers and configuration (plus preprocessing in `extra`)."""
    h = hashlib.sha256()
    config = getattr(encoder, "config", None)
    if config is not None and hasattr(config, "to_json_string"):
        h.update(config.to_json_string(use_diff=False).encode("utf-8"))
    h.update(json.dumps(extra or {}, sort_keys=True, default=str).encode("utf-8"))
    for name, tensor in encoder.state_dict().items():
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:24]


class FeatureCache:
    """Content-addressed features of one encoder."""

    def __init__(
        self, root: str | os.PathLike, fingerprint: str, *, shard_size: int = DEFAULT_SHARD_SIZE, writer_tag: str = "0"
    ):
        self.dir = Path(root) / fingerprint
        self.shard_size = shard_size
        self.writer_tag = writer_tag
        self.index: dict[str, Path] = {}  # storage key "<content key>/<name>" -> shard
        self._names: dict[str, set[str]] = {}  # content key -> tensor names stored for it
        self.pending: dict[str, torch.Tensor] = {}
        self.hits = 0
        self.misses = 0
        self.refresh()

    def refresh(self) -> None:
        """(Re)read the shard headers on disk (cheap: safetensors headers only)."""
        from safetensors import safe_open

        if not self.dir.is_dir():
            return
        for shard in sorted(self.dir.glob("*.safetensors")):
            if shard in self.index.values():
                continue
            try:
                with safe_open(str(shard), framework="pt") as fh:
                    for key in fh.keys():
                        self.index.setdefault(key, shard)
                        base, _, name = key.rpartition("/")
                        self._names.setdefault(base, set()).add(name)
            except Exception:  # noqa: BLE001 - a damaged shard is only a cache miss
                continue

    def __contains__(self, key: str) -> bool:
        return key in self.pending or key in self.index

    def __len__(self) -> int:
        return len(set(self.index) | set(self.pending))

    def get_many(self, keys: Sequence[str]) -> dict[str, torch.Tensor]:
        """Stored tensors by storage key (missing keys are absent from the result)."""
        from safetensors import safe_open

        out: dict[str, torch.Tensor] = {}
        by_shard: dict[Path, list[str]] = {}
        for key in keys:
            if key in self.pending:
                out[key] = self.pending[key]
            elif key in self.index:
                by_shard.setdefault(self.index[key], []).append(key)
        for shard, shard_keys in by_shard.items():
            try:
                with safe_open(str(shard), framework="pt") as fh:
                    for key in shard_keys:
                        out[key] = fh.get_tensor(key)
            except Exception:  # noqa: BLE001 - vanished/damaged shard: recompute
                for key in shard_keys:
                    self.index.pop(key, None)
                    out.pop(key, None)
        return out

    def put(self, key: str, feature: torch.Tensor) -> None:
        self.pending[key] = feature.detach().to("cpu").contiguous()

    def flush(self) -> None:
        from safetensors.torch import save_file

        if not self.pending:
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"shard-{self.writer_tag}-{uuid.uuid4().hex[:12]}.safetensors"
        tmp = self.dir / (name + ".tmp")
        save_file(self.pending, str(tmp))
        os.replace(tmp, self.dir / name)
        for key in self.pending:
            self.index[key] = self.dir / name
        self.pending = {}

    def features(
        self, keys: Sequence[str], inputs: Sequence, compute: Callable[[list], list[Features]]
    ) -> list[Features]:
        """Features for `inputs` (keys[i] identifies inputs[i]); compute only the missing ones.

        A feature is a dict of named tensors (e.g. {"tokens": [T, D], "mask": [T]}); each
        is stored as "<key>/<name>".
        """
        stored = self.get_many([k for k in dict.fromkeys(keys) for k in self._names_of(k)])
        found: dict[str, Features] = {}
        for storage_key, tensor in stored.items():
            key, name = storage_key.rsplit("/", 1)
            found.setdefault(key, {})[name] = tensor
        todo: list[int] = []
        seen: set[str] = set()
        for i, k in enumerate(keys):
            if k not in found and k not in seen:
                seen.add(k)
                todo.append(i)
        self.hits += sum(1 for k in keys if k in found)
        self.misses += len(todo)
        if todo:
            computed = compute([inputs[i] for i in todo])
            for i, feature in zip(todo, computed):
                found[keys[i]] = feature
                for name, tensor in feature.items():
                    self.put(f"{keys[i]}/{name}", tensor)
                    self._names.setdefault(keys[i], set()).add(name)
            if len(self.pending) >= self.shard_size:
                self.flush()
        return [found[k] for k in keys]

    def _names_of(self, key: str) -> list[str]:
        if key not in self._names:
            return []
        return [f"{key}/{name}" for name in self._names[key]]


class NoCache:
    """`--no-cache`: the same interface, always computing."""

    hits = 0
    misses = 0

    def features(
        self, keys: Sequence[str], inputs: Sequence, compute: Callable[[list], list[Features]]
    ) -> list[Features]:
        self.misses += len(inputs)
        return list(compute(list(inputs))) if inputs else []

    def flush(self) -> None:
        pass
