"""`rg4 train --task decoder`: the tiny preset's decoder, pretrained as a language model.

The paper starts from Vicuna-7B, an LLM that already writes English: stage 1 only has
to align the fusion tokens with a language model that knows what a report looks like,
and stage 2's LoRA adapts it. The tiny preset's decoder is random, so on its own it
makes stage 1 meaningless (there is nothing to align to) and leaves stage 2 to learn the
language and the images at once. This task is the stand-in for the LLM's pretraining:
a causal LM (the tiny Llama shape, its BPE vocabulary built here) trained on the report
text of the training records - the generator's targets (`findings: ... impression: ...`)
and the context texts (indication, history, prior reports) - each distinct text once.
No image is read.

The output directory is a plain Hugging Face causal LM + tokenizer:
`rg4 train --stage 1 --decoder DIR` builds the tiny generator on it (the model dir
bundles a copy), and `AutoModelForCausalLM.from_pretrained(DIR)` loads it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rg4cli.errors import InputError
from rg4cli.model.prompts import target_text
from rg4cli.records.streams import RecordReader
from rg4cli.records.study import Study
from rg4cli.training.classifiers import plan_shuffled_batches

TOKENIZER_DIR = "checkpoints/tokenizer"  # the run's vocabulary, kept so --resume rebuilds the same model
DECODER_INFO = "rg4_decoder.json"
MAX_TOKENS = 256  # longer texts are cut (phantom and MIMIC reports are far shorter)


def read_decoder_texts(path: str, on_error: str = "fail") -> list[str]:
    """The distinct texts the generator will read or write, in first-seen order."""
    reader = RecordReader(path, on_error=on_error)
    seen: dict[str, None] = {}
    for lineno, rec in reader:
        try:
            study = Study.from_record(rec, source=reader.name, line=lineno, need_frontal=False)
        except InputError as exc:
            reader.reject(lineno, exc.field, exc.problem)
            continue
        target = target_text(study)
        if not target:
            reader.reject(lineno, "findings", "no findings or impression to learn from")
            continue
        for text in (target, study.indication, study.history, study.prior_report):
            if text:
                seen.setdefault(text, None)
    if not seen:
        raise InputError(f"{path}: no report text to pretrain the decoder on")
    return list(seen)


class DecoderLMTask:
    name = "decoder"
    find_unused_parameters = False

    def __init__(
        self,
        train_path: str,
        out_dir: Path,
        *,
        preset: str = "tiny",
        batch_size: int = 32,
        on_error: str = "fail",
        sampler: str = "once",
    ):
        if preset != "tiny":
            raise InputError(
                "--task decoder builds the tiny preset's decoder; the paper preset starts from a "
                "pretrained LLM (--decoder on --task generator)"
            )
        self.out_dir = Path(out_dir)
        if sampler not in ("once", "length"):
            raise InputError(f"--sampler {sampler} applies to --task generator only (decoder: once or length)")
        self.batch_size = batch_size
        self.sampler = sampler
        self.texts = read_decoder_texts(train_path, on_error)
        self.tokenizer: Any = None  # the word-level tokenizer build_model() makes or reloads
        self._ids: list[list[int]] = []

    def describe(self) -> dict:
        return {"preset": "tiny", "texts": len(self.texts), "sampler": self.sampler}

    # ---- engine interface ---------------------------------------------------------
    def build_model(self) -> nn.Module:
        from rg4cli.model.encoders import tiny_decoder_model
        from rg4cli.model.presets import TINY
        from rg4cli.model.prompts import decoder_vocabulary_corpus
        from rg4cli.model.tokenizers import build_bpe_tokenizer
        from rg4cli.training.engine import kept_tokenizer

        # The vocabulary the generator would build from these texts (template included).
        tokenizer = kept_tokenizer(
            self.out_dir / TOKENIZER_DIR,
            lambda: build_bpe_tokenizer(decoder_vocabulary_corpus(self.texts), vocab_size=TINY["vocab_size"]),
            resuming=getattr(self, "resuming", False),
        )
        model = tiny_decoder_model(TINY, tokenizer)
        for p in model.parameters():
            p.requires_grad_(True)
        model.train()
        self.tokenizer = tokenizer
        bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
        self._ids = [
            [bos] + tokenizer(t, add_special_tokens=False)["input_ids"][: MAX_TOKENS - 2] + [eos] for t in self.texts
        ]
        return model

    def plan_epoch(self, epoch: int, seed: int) -> list[list[int]]:
        lengths = [len(ids) for ids in self._ids] if self.sampler == "length" else None
        return plan_shuffled_batches(len(self._ids), self.batch_size, epoch, seed, lengths)

    def loss(self, model: nn.Module, batch_indices: list[int], device) -> tuple[torch.Tensor, dict]:
        rows = [self._ids[i] for i in batch_indices]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for b, row in enumerate(rows):
            ids[b, : len(row)] = torch.tensor(row)
            labels[b, : len(row)] = ids[b, : len(row)]
            mask[b, : len(row)] = 1
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device))
        return out.loss, {}

    def save(self, model: nn.Module, out_dir: Path) -> None:
        from rg4cli.model.encoders import quiet_hf

        quiet_hf()
        out_dir = Path(out_dir)
        model.save_pretrained(str(out_dir), safe_serialization=True)
        self.tokenizer.save_pretrained(str(out_dir))
        info = {"trained_by": "rg4 train --task decoder", "preset": "tiny", "texts": len(self.texts)}
        (out_dir / DECODER_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    def validate(self, model: nn.Module, accelerator) -> dict | None:
        return None
