"""Generator training data: study records → examples; setting-homogeneous batch plans.

Stage 1 learns from `sn` records only (frontal image → report; the paper's modality
alignment). Stage 2 learns from all four settings (or those `--settings` names), each
batch drawn from one setting. Two samplers (`--sampler`; the order is a pure function
of seed and epoch either way, so a resumed run sees the same batches):

- `cycle` (the released code's BatchSchedulerSampler): each epoch runs ceil(L / B)
  rounds, L the size of the largest setting (sn); a round takes one batch of B from
  every setting in the order sn, sw, mn, mw, each setting walking through its own
  shuffle and reshuffling when it runs out. An epoch is K x B x ceil(L / B) examples
  for K settings (4 x |sn| when |sn| is a multiple of B): the smaller settings are
  repeated up to the size of sn, and the batches rotate through the settings.
- `once`: every example once per epoch; each setting's examples shuffled and cut into
  batches, the batches of all settings shuffled together (mn/mw weigh by their size).
- `length`: `once`, with each batch drawn from examples of similar token length (as
  transformers' `group_by_length`): each setting's shuffle is cut into pools of
  LENGTH_POOL_BATCHES batches, each pool sorted by length and cut into batches, and all
  batches shuffled together. A batch then pads its rows to about their own length
  instead of the longest of B random ones (the demo's stage 2, batches of 8: 18% of the
  decoder's positions were padding, 0.8% grouped; its decoder pretraining, batches of 32:
  49% and 3%), while every pool is still a random draw.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rg4cli.errors import InputError
from rg4cli.images import check_image  # resolve + header check: a bad image is this line's error
from rg4cli.records.provenance import UnboundWarning, require_annotation
from rg4cli.records.streams import RecordReader
from rg4cli.records.study import INPUT_SETTINGS, Study, setting_of
from rg4cli.text.sections import join_sections
from rg4cli.training.tlw import check_sentence_weights


@dataclass
class GeneratorExample:
    line: int
    study: Study
    setting: str
    target: str  # join_sections(findings, impression): what the decoder learns
    spans: list[dict] = field(default_factory=list)  # validated sentence_weights
    frontal: Path | None = None
    lateral: Path | None = None
    source: str | None = None  # the file it was read from (errors name file and line)


def parse_input_settings(value: str | None) -> tuple[str, ...] | None:
    if value is None or not value.strip():
        return None
    names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    bad = [n for n in names if n not in INPUT_SETTINGS]
    if bad:
        raise InputError(
            f"--settings: unknown setting {bad[0]!r}; expected a comma-separated subset of {','.join(INPUT_SETTINGS)}"
        )
    return names


def read_generator_examples(
    path: str,
    *,
    image_root,
    stage: int,
    input_settings: tuple[str, ...] | None = None,
    on_error: str = "fail",
    log: Callable[[str], None] | None = None,
) -> list[GeneratorExample]:
    """Read and check training records: images exist, a target exists, weights fit the target."""
    keep = ("sn",) if stage == 1 else (input_settings or INPUT_SETTINGS)
    if stage == 1 and input_settings and tuple(input_settings) != ("sn",):
        raise InputError(
            "--settings: stage 1 trains on sn records only (paper: modality alignment); "
            "drop --settings or use --stage 2"
        )
    reader = RecordReader(path, on_error=on_error, log=log)
    unbound = UnboundWarning(log, "train") if log is not None else None
    examples: list[GeneratorExample] = []
    dropped: dict[str, int] = {}
    for lineno, rec in reader:
        try:
            study = Study.from_record(rec, source=reader.name, line=lineno, need_frontal=True)
        except InputError as exc:
            reader.reject(lineno, exc.field, exc.problem)
            continue
        setting = setting_of(rec)
        if setting not in keep:
            dropped[setting] = dropped.get(setting, 0) + 1
            continue
        target = join_sections(study.findings, study.impression)
        if not target:
            reader.reject(lineno, "findings", "no findings or impression to learn (both empty)")
            continue
        try:
            frontal = check_image(image_root, study.frontal, field_name="frontal", source=reader.name, line=lineno)
            lateral = (
                check_image(image_root, study.lateral, field_name="lateral", source=reader.name, line=lineno)
                if study.lateral
                else None
            )
            weights = require_annotation(rec, "sentence_weights", target, on_unbound=unbound)  # never another text's
            spans = check_sentence_weights(weights, target, source=reader.name, line=lineno)
        except InputError as exc:
            reader.reject(lineno, exc.field, exc.problem)
            continue
        examples.append(GeneratorExample(lineno, study, setting, target, spans, frontal, lateral, reader.name))
    if log is not None:
        if dropped:
            log(
                f"{reader.name}: left out {sum(dropped.values())} record(s) of settings "
                + ", ".join(f"{k} {v}" for k, v in sorted(dropped.items()))
                + (" (stage 1 trains on sn)" if stage == 1 else " (--settings)")
            )
        if reader.summary():
            log(reader.summary())
    if not examples:
        raise InputError(f"no training records of setting(s) {', '.join(keep)}", source=reader.name)
    return examples


SAMPLERS = ("cycle", "once", "length")
# Batches per pool the `length` sampler sorts (transformers' LengthGroupedSampler: 50).
LENGTH_POOL_BATCHES = 50


def _input_setting_groups(input_settings: list[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(input_settings):
        groups.setdefault(s, []).append(i)
    return groups


def plan_cycled_batches(input_settings: list[str], batch_size: int, epoch: int, seed: int) -> list[list[int]]:
    """The released sampler: rounds of one batch per setting (sn, sw, mn, mw), each setting
    cycling through its own reshuffled examples, until the largest setting is covered."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    groups = _input_setting_groups(input_settings)
    present = [s for s in INPUT_SETTINGS if groups.get(s)]
    largest = max(len(groups[s]) for s in present)
    orders = {s: [] for s in present}
    batches: list[list[int]] = []
    for _ in range(-(-largest // batch_size)):
        for s in present:
            batch = []
            while len(batch) < batch_size:
                if not orders[s]:
                    idx = groups[s]
                    orders[s] = [idx[j] for j in torch.randperm(len(idx), generator=gen).tolist()]
                batch.append(orders[s].pop(0))
            batches.append(batch)
    return batches


def cut_batches(order: list[int], batch_size: int) -> list[list[int]]:
    """`order` cut into consecutive batches (the last one may be short)."""
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def group_by_length(order: list[int], lengths: list[int], batch_size: int) -> list[int]:
    """A shuffled `order` rearranged so that consecutive batches hold similar `lengths[i]`:
    pools of LENGTH_POOL_BATCHES batches, each sorted longest first (sorted() is stable: ties
    keep the shuffle's order)."""
    pool = batch_size * LENGTH_POOL_BATCHES
    return [
        i
        for start in range(0, len(order), pool)
        for i in sorted(order[start : start + pool], key=lambda i: -lengths[i])
    ]


def plan_input_setting_batches(
    input_settings: list[str],
    batch_size: int,
    epoch: int,
    seed: int,
    sampler: str = "once",
    lengths: list[int] | None = None,
) -> list[list[int]]:
    """Batches of one setting each, settings interleaved; a pure function of (seed, epoch)
    (and, for the `length` sampler, of the examples' token `lengths`)."""
    if sampler == "cycle":
        return plan_cycled_batches(input_settings, batch_size, epoch, seed)
    if sampler not in ("once", "length"):
        raise InputError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if sampler == "length" and (lengths is None or len(lengths) != len(input_settings)):
        raise ValueError("the length sampler needs one length per example")
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    groups = _input_setting_groups(input_settings)
    batches: list[list[int]] = []
    for s in INPUT_SETTINGS:  # fixed order, so the plan does not depend on dict order
        idx = groups.get(s)
        if not idx:
            continue
        order = [idx[j] for j in torch.randperm(len(idx), generator=gen).tolist()]
        if sampler == "length":
            order = group_by_length(order, lengths, batch_size)
        batches.extend(cut_batches(order, batch_size))
    return [batches[j] for j in torch.randperm(len(batches), generator=gen).tolist()]


class FileHasher:
    """SHA-256 of file contents, remembered per (path, size, mtime) for the run."""

    def __init__(self):
        self._memo: dict[tuple[str, int, int], str] = {}

    def __call__(self, path: Path) -> str:
        st = os.stat(path)
        key = (str(path), st.st_size, st.st_mtime_ns)
        digest = self._memo.get(key)
        if digest is None:
            h = hashlib.sha256()
            with open(path, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            digest = self._memo[key] = h.hexdigest()
        return digest
