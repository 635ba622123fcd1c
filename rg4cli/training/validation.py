"""Validation of the generator during training: generate on `--val`, score CE F1 + BLEU-4.

- Each study is generated exactly once: records with an id seen before are dropped
  (counted in the log), and under DDP every process generates its own share
  (`studies[rank::world]`, no padding, unlike a distributed sampler that repeats
  samples to even out the shards) before the results are gathered by index.
- Batches hold one setting each (the model's prompt length is then the same); each
  prompt asks for the sections its reference has (findings, impression or both).
- Scores use the project's scorer pieces: R2Gen-cleaned text and pycocoevalcap BLEU-4
  (`rg4cli.metrics.nlg`), micro-F1 over the 14 observations with uncertain counted positive
  (`rg4cli.metrics.clinical`, the LLM-RG4 table's CE). Reference labels come from the
  record's `labels` when present, else from the rules labeler on the reference text;
  hypotheses are labeled with the rules labeler.
- score = CE F1 + BLEU-4; the engine keeps the weights with the best score.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from rg4cli.errors import InputError
from rg4cli.records.provenance import annotation
from rg4cli.records.study import INPUT_SETTINGS
from rg4cli.training.data import GeneratorExample, read_generator_examples


class GeneratorValidator:
    def __init__(
        self,
        path: str,
        *,
        image_root=None,
        limit: int | None = None,
        max_new_tokens: int | None = None,
        batch_size: int = 8,
        on_error: str = "fail",
        log: Callable[[str], None] = lambda m: None,
    ):
        examples = read_generator_examples(path, image_root=image_root, stage=2, on_error=on_error)
        seen: set[str] = set()
        unique: list[GeneratorExample] = []
        for ex in examples:
            if ex.study.id in seen:
                continue
            seen.add(ex.study.id)
            unique.append(ex)
        if len(unique) < len(examples):
            log(f"--val {path}: {len(examples) - len(unique)} record(s) repeat an id and are validated once")
        if limit is not None:
            if limit < 1:
                raise InputError(f"--val-limit must be at least 1, got {limit}")
            unique = unique[:limit]
        self.examples = unique
        self.max_new_tokens = max_new_tokens
        self.batch_size = batch_size
        self.ref_labels = None

    def _reference_labels(self) -> list[dict]:
        if self.ref_labels is None:
            from rg4cli.labelers.backends import make_labeler

            labeler = make_labeler("rules")
            given = [annotation(ex.study.extra, "labels", ex.target) for ex in self.examples]  # of the target only
            need = [i for i, labels in enumerate(given) if not isinstance(labels, dict)]
            computed = dict(zip(need, labeler.label([self.examples[i].target for i in need]))) if need else {}
            self.ref_labels = [computed.get(i) or given[i] for i in range(len(self.examples))]
        return self.ref_labels

    @torch.no_grad()
    def generate(self, task, model, rank: int, world: int) -> list[tuple[int, str]]:
        from rg4cli.model import DecodeOptions

        options = DecodeOptions()
        if self.max_new_tokens is not None:
            options.max_new_tokens = self.max_new_tokens
            options.min_new_tokens = min(options.min_new_tokens, self.max_new_tokens)
        mine = list(range(rank, len(self.examples), world))
        by_setting: dict[str, list[int]] = {}
        for i in mine:
            by_setting.setdefault(self.examples[i].setting, []).append(i)
        out: list[tuple[int, str]] = []
        for setting in INPUT_SETTINGS:
            idx = by_setting.get(setting, [])
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start : start + self.batch_size]
                exs = [self.examples[i] for i in chunk]
                feats = task.features(exs)
                # Each prompt asks for the sections its reference has (the released validation does).
                gens = model.generate(feats, model.text_batch([ex.study for ex in exs]), options)
                out.extend((i, g.text) for i, g in zip(chunk, gens))
        return out

    def run(self, task, model, accelerator) -> dict:
        from accelerate.utils import gather_object

        from rg4cli.labelers.backends import make_labeler
        from rg4cli.metrics.clinical import ce_scores
        from rg4cli.metrics.nlg import nlg_scores, prepare_texts

        was_training = model.training
        model.eval()
        try:
            mine = self.generate(task, model, accelerator.process_index, accelerator.num_processes)
        finally:
            model.train(was_training)
        texts = dict(gather_object(mine))
        hyps = [texts[i] for i in range(len(self.examples))]
        refs = [ex.target for ex in self.examples]
        bleu = nlg_scores(prepare_texts(hyps), prepare_texts(refs), meteor=False)["overall"].corpus["bleu_4"] or 0.0
        hyp_labels = make_labeler("rules").label(hyps)
        ce = ce_scores(hyp_labels, self._reference_labels())["micro_14_unc_pos"]
        f1 = (ce or {}).get("f1") or 0.0
        return {
            "ce_f1": float(f1),
            "bleu_4": float(bleu),
            "score": float(f1) + float(bleu),
            "studies": len(self.examples),
        }
