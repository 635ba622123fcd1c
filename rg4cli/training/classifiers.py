"""`rg4 train --task labeler|discbert`: the two BERT classifiers, on the shared engine.

- labeler: CheXbert's shape (13 heads × 4 classes + No Finding × 2) trained on the
  records' `labels` (e.g. from the rules labeler: CheXbert itself was bootstrapped
  from the CheXpert rules labeler's output). Loss: mean over the 14 heads of the
  cross-entropy (labels → CheXbert classes: null 0 blank, 1 positive, 0 → 2
  negative, -1 → 3 uncertain; No Finding: 1 present, else 0).
- discbert: BERT + 4 binary heads (pc, pp, view, comm) trained on the records'
  `hallucination` flags (whether the text carries that kind of content), from any
  judge (`rg4 hallucination --backend rules|discbert|openai|hf`). Loss: mean over the
  heads of binary cross-entropy with logits (cross-entropy for two-class heads, as the
  released DiscBERT has, when fine-tuning it: `--init discbert.pth --bert DIR`).

Both read the report text chosen by `--text` (default auto: `report`, else findings
+ impression). From scratch (`--preset tiny|paper`) the WordPiece vocabulary is built
from the training texts; `--init` continues from an rg4 classifier directory or a
public checkpoint, or puts new heads on a pretrained BERT directory (config.json +
weights + vocabulary, e.g. bert-base-uncased, as CheXbert started). The output directory is what `rg4 label --backend chexbert
--labeler-model DIR` and `rg4 hallucination --backend discbert --judge-model DIR` read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rg4cli.errors import InputError
from rg4cli.model.classifiers import (
    CLASSIFIER_CONFIG,
    DISCBERT_HEADS,
    Classifier,
    load_classifier,
    save_classifier_dir,
    tiny_bert_config,
)
from rg4cli.records.provenance import require_annotation
from rg4cli.records.streams import RecordReader
from rg4cli.records.study import text_of
from rg4cli.training.data import cut_batches, group_by_length
from rg4cli.vocab import LABEL_TO_CHEXBERT_CLASS, OBSERVATIONS

TOKENIZER_DIR = "checkpoints/tokenizer"  # the run's vocabulary, kept so --resume rebuilds the same model
CLASSIFIER_PRESETS = ("tiny", "paper")
# Long names a `hallucination` field may use for the four categories.
CATEGORY_ALIASES = {
    "pc": ("pc", "prior_comparison"),
    "pp": ("pp", "prior_procedure"),
    "view": ("view",),
    "comm": ("comm", "communication"),
}


@dataclass
class ClassifierExamples:
    texts: list[str]
    targets: torch.Tensor  # labeler: [N, 14] long classes; discbert: [N, 4] float
    ids: list[str]


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value > 0
    if isinstance(value, dict):  # {"present": true, ...} / {"found": [...]} shapes
        for key in ("present", "found", "flag", "value"):
            if key in value:
                return _flag(value[key]) if not isinstance(value[key], list) else bool(value[key])
    if isinstance(value, list):
        return bool(value)
    return None


def labeler_targets(labels: Any, *, source: str, line: int) -> list[int]:
    """A record's `labels` → 14 CheXbert classes."""
    if isinstance(labels, list):
        if len(labels) != len(OBSERVATIONS):
            raise InputError(
                f"expected 14 values in CheXbert order, got {len(labels)}", source=source, line=line, field="labels"
            )
        labels = dict(zip(OBSERVATIONS, labels))
    if not isinstance(labels, dict):
        raise InputError(
            f"expected an object of the 14 observations, got {type(labels).__name__}",
            source=source,
            line=line,
            field="labels",
        )
    unknown = [k for k in labels if k not in OBSERVATIONS]
    if unknown:
        raise InputError(
            f"unknown observation {unknown[0]!r} (expected CheXpert names, e.g. 'Pleural Effusion')",
            source=source,
            line=line,
            field="labels",
        )
    classes = []
    for obs in OBSERVATIONS[:13]:
        value = labels.get(obs)
        if isinstance(value, bool) or value not in LABEL_TO_CHEXBERT_CLASS:
            raise InputError(
                f"{obs}: expected 1, 0, -1 or null, got {value!r}", source=source, line=line, field="labels"
            )
        classes.append(LABEL_TO_CHEXBERT_CLASS[value])
    classes.append(1 if labels.get(OBSERVATIONS[13]) == 1 else 0)
    return classes


def discbert_targets(halluc: Any, *, source: str, line: int) -> list[float]:
    if not isinstance(halluc, dict):
        raise InputError(
            f"expected an object with pc, pp, view, comm flags, got {type(halluc).__name__}",
            source=source,
            line=line,
            field="hallucination",
        )
    out = []
    for cat, names in CATEGORY_ALIASES.items():
        value = next((halluc[n] for n in names if n in halluc), None)
        flag = _flag(value)
        if flag is None:
            raise InputError(
                f"{cat}: expected a true/false flag, got {value!r}", source=source, line=line, field="hallucination"
            )
        out.append(1.0 if flag else 0.0)
    return out


def read_classifier_examples(path: str, task: str, text: str = "auto", on_error: str = "fail") -> ClassifierExamples:
    field = "labels" if task == "labeler" else "hallucination"
    reader = RecordReader(path, on_error=on_error)
    texts, targets, ids = [], [], []
    for lineno, rec in reader:
        try:
            body = text_of(rec, text)
        except InputError as exc:
            reader.reject(lineno, exc.field, exc.problem)
            continue
        if not body:
            reader.reject(lineno, text if text != "auto" else "report", "no report text to train on")
            continue
        try:
            require_annotation(rec, field, body)  # never the annotation of another text
        except InputError as exc:
            reader.reject(lineno, field, exc.problem)
            continue
        if rec.get(field) is None:
            reader.reject(
                lineno,
                field,
                f"missing field (--task {task} trains on it"
                + ("; add it with `rg4 label`)" if task == "labeler" else "; add it with `rg4 hallucination`)"),
            )
            continue
        try:
            target = (labeler_targets if task == "labeler" else discbert_targets)(
                rec[field], source=reader.name, line=lineno
            )
        except InputError as exc:
            reader.reject(lineno, field, exc.problem if hasattr(exc, "problem") else str(exc))
            continue
        texts.append(body)
        targets.append(target)
        ids.append(rec["id"])
    if not texts:
        raise InputError(f"no usable training records (each needs report text and `{field}`)", source=reader.name)
    dtype = torch.long if task == "labeler" else torch.float32
    return ClassifierExamples(texts, torch.tensor(targets, dtype=dtype), ids)


def plan_shuffled_batches(
    n: int, batch_size: int, epoch: int, seed: int, lengths: list[int] | None = None
) -> list[list[int]]:
    """A seeded permutation of 0..n-1 cut into batches (last one may be short); with `lengths`,
    batches of similar length (the `length` sampler), in shuffled order."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=gen).tolist()
    if lengths is None:
        return cut_batches(order, batch_size)
    batches = cut_batches(group_by_length(order, lengths, batch_size), batch_size)
    return [batches[j] for j in torch.randperm(len(batches), generator=gen).tolist()]


class ClassifierTask:
    """The labeler / discbert task for the engine."""

    find_unused_parameters = False

    def __init__(
        self,
        task: str,
        train_path: str,
        out_dir: Path,
        *,
        preset: str = "tiny",
        init: str | None = None,
        batch_size: int = 16,
        text: str = "auto",
        val_path: str | None = None,
        vocab_size: int = 2000,
        max_length: int = 256,
        on_error: str = "fail",
        bert: str | None = None,
    ):
        if preset not in CLASSIFIER_PRESETS:
            raise InputError(f"--preset must be one of {', '.join(CLASSIFIER_PRESETS)}, got {preset!r}")
        self.name = task
        self.task = task
        self.out_dir = Path(out_dir)
        self.preset = preset
        self.init = init
        self.bert = bert  # BERT config + vocabulary of a public checkpoint given as init
        self.batch_size = batch_size
        self.vocab_size = vocab_size
        self.max_length = max_length
        self.train = read_classifier_examples(train_path, task, text, on_error)
        self.val = read_classifier_examples(val_path, task, text, on_error) if val_path else None
        self.clf: Classifier | None = None
        self._encoded: dict[str, torch.Tensor] | None = None

    # ---- engine interface ---------------------------------------------------------
    def build_model(self) -> nn.Module:
        from rg4cli.model.tokenizers import build_wordpiece_tokenizer
        from rg4cli.training.engine import kept_tokenizer

        init = Path(self.init) if self.init else None
        if (
            init is not None
            and init.is_dir()
            and not (init / CLASSIFIER_CONFIG).is_file()
            and (init / "config.json").is_file()
        ):
            clf = self._from_pretrained_bert(init)
        elif init is not None:
            clf = load_classifier(init, self.task, bert=self.bert)
            clf.model.train()
        else:
            tokenizer = kept_tokenizer(
                self.out_dir / TOKENIZER_DIR,
                lambda: build_wordpiece_tokenizer(self.train.texts, vocab_size=self.vocab_size),
                resuming=getattr(self, "resuming", False),
            )
            if self.preset == "tiny":
                config = tiny_bert_config(len(tokenizer))
            else:
                from transformers import BertConfig

                config = BertConfig(vocab_size=len(tokenizer))  # bert-base shape, from scratch
            from rg4cli.model.classifiers import new_classifier

            clf = new_classifier(self.task, tokenizer, config)
        # An int; torch's stubs read a module's attribute (config) as Tensor | Module.
        clf.max_length = min(self.max_length, clf.model.config.max_position_embeddings)  # type: ignore[type-var]  # config attributes are typed Any | None
        self.clf = clf
        self._encoded = self._encode(self.train.texts)
        return clf.model

    def _from_pretrained_bert(self, path: Path) -> Classifier:
        """New heads on a pretrained BERT directory (how CheXbert itself started: from BERT weights)."""
        from transformers import AutoTokenizer, BertModel

        from rg4cli.model.classifiers import new_classifier

        try:
            bert = BertModel.from_pretrained(str(path), local_files_only=True, add_pooling_layer=False)
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise InputError(f"--init {path}: cannot load a BERT from it ({str(exc).splitlines()[0][:160]})") from exc
        clf = new_classifier(self.task, tokenizer, bert.config)
        clf.model.bert.load_state_dict(bert.state_dict())
        clf.source = str(path)
        return clf

    def _encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        enc = self.clf.tokenizer(
            texts, padding="longest", truncation=True, max_length=self.clf.max_length, return_tensors="pt"
        )
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def plan_epoch(self, epoch: int, seed: int) -> list[list[int]]:
        return plan_shuffled_batches(len(self.train.texts), self.batch_size, epoch, seed)

    def _batch(self, encoded: dict[str, torch.Tensor], indices: list[int], device) -> dict[str, torch.Tensor]:
        idx = torch.tensor(indices)
        mask = encoded["attention_mask"][idx]
        width = int(mask.sum(1).max())  # trim the padding this batch does not need
        return {"input_ids": encoded["input_ids"][idx, :width].to(device), "attention_mask": mask[:, :width].to(device)}

    def loss_from_outputs(self, outputs, targets: torch.Tensor) -> torch.Tensor:
        if self.task == "labeler":
            return torch.stack([F.cross_entropy(lg.float(), targets[:, i]) for i, lg in enumerate(outputs)]).mean()
        return torch.stack(
            [
                F.cross_entropy(outputs[cat].float(), targets[:, i].long())
                if outputs[cat].ndim == 2
                else F.binary_cross_entropy_with_logits(outputs[cat].float(), targets[:, i])
                for i, cat in enumerate(DISCBERT_HEADS)
            ]
        ).mean()

    def loss(self, model: nn.Module, batch_indices: list[int], device) -> tuple[torch.Tensor, dict]:
        batch = self._batch(self._encoded, batch_indices, device)
        targets = self.train.targets[torch.tensor(batch_indices)].to(device)
        return self.loss_from_outputs(model(**batch), targets), {}

    def save(self, model: nn.Module, out_dir: Path) -> None:
        clf = Classifier(self.task, model, self.clf.tokenizer, source="rg4 train", max_length=self.clf.max_length)
        save_classifier_dir(clf, out_dir, extra={"trained_by": "rg4 train", "train_examples": len(self.train.texts)})

    @torch.no_grad()
    def validate(self, model: nn.Module, accelerator) -> dict | None:
        if self.val is None:
            return None
        from accelerate.utils import gather_object

        net = accelerator.unwrap_model(model)
        was_training = net.training
        net.eval()
        encoded = self._encode(self.val.texts)
        rank, world = accelerator.process_index, accelerator.num_processes
        mine = list(range(rank, len(self.val.texts), world))  # each example on exactly one process
        rows = []
        for i in range(0, len(mine), 64):
            chunk = mine[i : i + 64]
            out = net(**self._batch(encoded, chunk, accelerator.device))
            if self.task == "labeler":
                pred = torch.stack([lg.argmax(-1) for lg in out], dim=1).cpu()
            else:
                pred = torch.stack(
                    [out[c].argmax(-1) if out[c].ndim == 2 else (out[c] > 0).long() for c in DISCBERT_HEADS], dim=1
                ).cpu()
            rows.extend(zip(chunk, pred.tolist()))
        net.train(was_training)
        rows = dict(gather_object(rows))  # index -> prediction, all processes
        preds = torch.tensor([rows[i] for i in range(len(self.val.texts))])
        gold = self.val.targets.long()
        return classifier_metrics(self.task, preds, gold)


def classifier_metrics(task: str, preds: torch.Tensor, gold: torch.Tensor) -> dict:
    """labeler: head accuracy and micro F1 of 'mentioned positive/uncertain'; discbert: micro F1 of the flags."""
    if task == "labeler":
        accuracy = float((preds == gold).float().mean())
        pos_p = (preds[:, :13] == 1) | (preds[:, :13] == 3)
        pos_g = (gold[:, :13] == 1) | (gold[:, :13] == 3)
    else:
        accuracy = float((preds == gold).float().mean())
        pos_p, pos_g = preds == 1, gold == 1
    tp = float((pos_p & pos_g).sum())
    precision = tp / max(1.0, float(pos_p.sum()))
    recall = tp / max(1.0, float(pos_g.sum()))
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {
        "accuracy": accuracy,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "score": f1 + accuracy,
        "examples": int(gold.shape[0]),
    }
