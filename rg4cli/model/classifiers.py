"""The two BERT classifiers rg4 uses besides the generator.

- `CheXbertModel`: CheXbert's shape (Smit et al. 2020): a BERT encoder, dropout on the
  [CLS] vector, 13 heads of 4 classes (0 blank, 1 positive, 2 negative, 3 uncertain)
  and one of 2 classes for No Finding. `rg4 label --backend chexbert`, `rg4 weights`
  (Integrated Gradients over its token embeddings) and `rg4 train --task labeler`.
- `DiscBertModel`: the paper's DiscBERT: a BERT encoder and four binary heads on [CLS]
  (prior comparison, prior procedure, view, communication). `rg4 hallucination
  --backend discbert` and `rg4 train --task discbert`.

Checkpoints load from two layouts:
- the public ones: `chexbert.pth` (`model_state_dict`, keys `module.bert.*`,
  `module.linear_heads.N.*`) and DiscBERT's Lightning file (`model` or `state_dict`,
  keys `labeler.bert.*`, `labeler.{ps,pp,view,comm}_heads.*`), read by the restricted
  unpickler of `safe_pickle` (tensors, containers, Lightning's hyperparameters); BERT config and tokenizer come from `--bert DIR`
  (bert-base-uncased for both);
- rg4's own model directory: `rg4_classifier.json` + `model.safetensors` + tokenizer
  files, as written by `save_classifier_dir`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoTokenizer, BertConfig, BertModel, PreTrainedTokenizerBase

from rg4cli.errors import InputError, Rg4Error
from rg4cli.vocab import CHEXBERT_CLASS_TO_LABEL, OBSERVATIONS

CLASSIFIER_CONFIG = "rg4_classifier.json"
WEIGHTS_FILE = "model.safetensors"
TASKS = ("labeler", "discbert")
# DiscBERT head attribute names (as in the official checkpoint) per hallucination category.
DISCBERT_HEADS = {"pc": "ps_heads", "pp": "pp_heads", "view": "view_heads", "comm": "comm_heads"}
CHEXBERT_MAX_LENGTH = 512


def tiny_bert_config(
    vocab_size: int, hidden_size: int = 64, layers: int = 2, heads: int = 2, max_positions: int = 512
) -> BertConfig:
    """A small BERT for offline training and tests (CPU seconds, not hours)."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden_size * 4,
        max_position_embeddings=max_positions,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )


class CheXbertModel(nn.Module):
    def __init__(self, config: BertConfig, p_drop: float = 0.1):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(p_drop)
        hidden = config.hidden_size
        self.linear_heads = nn.ModuleList([nn.Linear(hidden, 4) for _ in range(13)] + [nn.Linear(hidden, 2)])

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """Per-observation logits: 13 tensors [B, 4] then No Finding [B, 2]."""
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds
        ).last_hidden_state
        cls = self.dropout(hidden[:, 0, :])
        return [head(cls) for head in self.linear_heads]

    def input_embeddings(self) -> nn.Embedding:
        return self.bert.get_input_embeddings()


class DiscBertModel(nn.Module):
    def __init__(self, config: BertConfig, head_outputs: int = 1, p_drop: float = 0.1):
        super().__init__()
        self.config = config
        self.head_outputs = head_outputs
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = nn.Dropout(p_drop)
        for attr in DISCBERT_HEADS.values():
            setattr(self, attr, nn.Linear(config.hidden_size, head_outputs))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Logits per category: [B] (one logit, sigmoid) or [B, 2] (two classes, softmax)."""
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds
        ).last_hidden_state
        cls = self.dropout(hidden[:, 0, :])
        out = {}
        for cat, attr in DISCBERT_HEADS.items():
            logits = getattr(self, attr)(cls)
            out[cat] = logits.squeeze(-1) if self.head_outputs == 1 else logits
        return out

    def probabilities(self, logits: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.head_outputs == 1:
            return {k: torch.sigmoid(v) for k, v in logits.items()}
        return {k: torch.softmax(v, dim=-1)[..., 1] for k, v in logits.items()}


@dataclass
class Classifier:
    """A loaded classifier: model (eval mode), its tokenizer, task and where it came from."""

    task: str
    model: nn.Module
    tokenizer: PreTrainedTokenizerBase
    source: str
    max_length: int = CHEXBERT_MAX_LENGTH

    def encode(self, texts: list[str], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        enc = self.tokenizer(
            [t or "" for t in texts], padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}


# ---- rg4's own directories ------------------------------------------------------


def save_classifier_dir(clf: Classifier, out_dir: str | os.PathLike, extra: dict | None = None) -> Path:
    from rg4cli.model.atomic_dir import save_into

    return save_into(out_dir, lambda tmp: _write_classifier_files(clf, tmp, extra), what=clf.task)


def _write_classifier_files(clf: Classifier, out: Path, extra: dict | None) -> None:
    from safetensors.torch import save_file

    model = clf.model
    meta = {
        "rg4_task": clf.task,
        "bert_config": model.config.to_dict(),
        "head_outputs": getattr(model, "head_outputs", None),
        "max_length": clf.max_length,
        **(extra or {}),
    }
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / WEIGHTS_FILE), metadata={"rg4_task": clf.task})
    clf.tokenizer.save_pretrained(str(out))
    (out / CLASSIFIER_CONFIG).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def new_classifier(
    task: str, tokenizer: PreTrainedTokenizerBase, config: BertConfig | None = None, head_outputs: int = 1
) -> Classifier:
    if task not in TASKS:
        raise InputError(f"unknown classifier task {task!r}; expected one of {', '.join(TASKS)}")
    config = config or tiny_bert_config(len(tokenizer))
    model = CheXbertModel(config) if task == "labeler" else DiscBertModel(config, head_outputs=head_outputs)
    return Classifier(task, model, tokenizer, source="<new>")


def _load_rg4_dir(path: Path, task: str) -> Classifier:
    from safetensors.torch import load_file

    from rg4cli.model.modeldir import check_weights_file

    try:
        meta = json.loads((path / CLASSIFIER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError are ValueErrors
        raise InputError(
            f"cannot read: {str(exc).splitlines()[0][:120]}", source=str(path / CLASSIFIER_CONFIG)
        ) from None
    if not isinstance(meta, dict) or not isinstance(meta.get("bert_config"), dict):
        raise InputError(
            "expected an object with bert_config (as rg4 train writes it)", source=str(path / CLASSIFIER_CONFIG)
        )
    if meta.get("rg4_task") != task:
        raise InputError(
            f"{path} holds a {meta.get('rg4_task')!r} model, not a {task!r} one "
            f"(train one with `rg4 train --task {task}`)"
        )
    config = BertConfig.from_dict(meta["bert_config"])
    model = CheXbertModel(config) if task == "labeler" else DiscBertModel(config, meta.get("head_outputs") or 1)
    check_weights_file(path / WEIGHTS_FILE)
    try:
        model.load_state_dict(load_file(str(path / WEIGHTS_FILE)))
    except RuntimeError as exc:  # missing keys or another shape
        raise InputError(
            f"does not match {CLASSIFIER_CONFIG}: {str(exc).strip().splitlines()[-1].strip()[:160]}",
            source=str(path / WEIGHTS_FILE),
        ) from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except Exception as exc:  # tokenizers raises its own exception types for damaged files
        detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else exc.__class__.__name__
        raise InputError(f"cannot load the tokenizer: {detail}", source=str(path)) from None
    return Classifier(task, model.eval(), tokenizer, str(path), meta.get("max_length", CHEXBERT_MAX_LENGTH))


# ---- public checkpoints -----------------------------------------------------------


def _torch_load(path: Path) -> dict:
    from rg4cli.model.safe_pickle import load_checkpoint

    obj = load_checkpoint(path)  # tensors, containers and Lightning's hyperparameter dict only
    if not isinstance(obj, dict):
        raise InputError(f"checkpoint {path} holds a {type(obj).__name__}, expected a state dict")
    return obj


def _bert_parts(bert: str | os.PathLike | None, what: str) -> tuple[BertConfig, PreTrainedTokenizerBase]:
    ident = str(bert) if bert else "bert-base-uncased"
    try:
        config = BertConfig.from_pretrained(ident, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(ident, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise Rg4Error(
            f"{what} needs the BERT config and tokenizer of {ident!r}, which are not available locally: "
            "pass --bert DIR (a bert-base-uncased directory with config.json and vocab) "
            "or put it in the Hugging Face cache"
        ) from exc
    return config, tokenizer


def _strip_state(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix) :]
        # Older transformers stored these; the current BertModel has no pooler here.
        if key.endswith("embeddings.position_ids") or key.startswith("bert.pooler."):
            continue
        out[key] = value
    return out


def load_chexbert_checkpoint(pth: str | os.PathLike, bert: str | os.PathLike | None = None) -> Classifier:
    path = Path(pth)
    raw = _torch_load(path)
    state = raw.get("model_state_dict", raw)
    prefix = "module." if any(k.startswith("module.") for k in state) else ""
    state = _strip_state(state, prefix)
    if not any(k.startswith("linear_heads.13.") for k in state):
        raise InputError(
            f"{path} is not a CheXbert checkpoint: no linear_heads.13 (expected model_state_dict with "
            "module.bert.* and module.linear_heads.0..13)"
        )
    config, tokenizer = _bert_parts(bert, "a CheXbert checkpoint")
    model = CheXbertModel(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(f"{path} does not match CheXbert's layout: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return Classifier("labeler", model.eval(), tokenizer, str(path))


def load_discbert_checkpoint(ckpt: str | os.PathLike, bert: str | os.PathLike | None = None) -> Classifier:
    path = Path(ckpt)
    raw = _torch_load(path)
    return discbert_from_state(raw.get("model", raw.get("state_dict", raw)), path, bert)


def discbert_from_state(state: dict, path: str | os.PathLike, bert: str | os.PathLike | None = None) -> Classifier:
    """DiscBERT from the released module's state dict (`labeler.bert.*`, `labeler.{ps,pp,view,comm}_heads.*`)."""
    if not isinstance(state, dict):
        raise InputError(f"{path}: expected a state dict under 'model' or 'state_dict'")
    state = _strip_state(state, "labeler.")
    heads = {}
    for attr in DISCBERT_HEADS.values():
        keys = sorted(k for k in state if k.startswith(attr + "."))
        # A head stored as a Linear ("ps_heads.weight") or a one-layer Sequential ("ps_heads.0.weight").
        for key in keys:
            m = re.fullmatch(re.escape(attr) + r"\.(?:0\.)?(weight|bias)", key)
            if not m:
                raise InputError(f"{path}: unsupported DiscBERT head layout {key!r} (expected {attr}.weight)")
            heads[f"{attr}.{m.group(1)}"] = state.pop(key)
        if f"{attr}.weight" not in heads:
            raise InputError(f"{path} is not a DiscBERT checkpoint: no labeler.{attr} weights")
    outputs = {heads[f"{a}.weight"].shape[0] for a in DISCBERT_HEADS.values()}
    if len(outputs) != 1 or outputs.pop() not in (1, 2):
        raise InputError(f"{path}: DiscBERT heads must all have 1 or 2 outputs")
    head_outputs = heads[f"{DISCBERT_HEADS['pc']}.weight"].shape[0]
    config, tokenizer = _bert_parts(bert, "a DiscBERT checkpoint")
    model = DiscBertModel(config, head_outputs=head_outputs)
    missing, unexpected = model.load_state_dict({**state, **heads}, strict=False)
    if missing or unexpected:
        raise InputError(f"{path} does not match DiscBERT's layout: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return Classifier("discbert", model.eval(), tokenizer, str(path))


def load_classifier(path: str | os.PathLike, task: str, bert: str | os.PathLike | None = None) -> Classifier:
    """Load a classifier from an rg4 directory or a public checkpoint file."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"no such model: {p} (train one with `rg4 train --task {task} -o DIR`)")
    if p.is_dir():
        if (p / CLASSIFIER_CONFIG).exists():
            return _load_rg4_dir(p, task)
        raise InputError(
            f"{p} is not an rg4 {task} directory (no {CLASSIFIER_CONFIG}); "
            f"pass the directory `rg4 train --task {task}` wrote, or a public checkpoint file"
        )
    return load_chexbert_checkpoint(p, bert) if task == "labeler" else load_discbert_checkpoint(p, bert)


def chexbert_classes_to_labels(classes: list[int]) -> dict[str, Any]:
    """Head argmaxes (13×{0..3} + No Finding {0,1}) → rg4 label values."""
    labels = {obs: CHEXBERT_CLASS_TO_LABEL[c] for obs, c in zip(OBSERVATIONS[:13], classes[:13])}
    # No Finding head: 1 = present; CheXbert's convention leaves 0 as blank (not mentioned).
    labels[OBSERVATIONS[13]] = 1 if classes[13] == 1 else None
    return labels


@torch.no_grad()
def predict_chexbert(
    clf: Classifier,
    texts: Sequence[str | None],
    batch_size: int = 32,
    device: str | torch.device = "cpu",
    text_mode: str = "chexbert",
) -> list[dict[str, Any]]:
    """Labels as the reference labeler gives them; `text_mode`: `chexbert_input.CHEXBERT_TEXT`."""
    from rg4cli.model.chexbert_input import batch_inputs

    model = clf.model.to(device).eval()
    out: list[dict[str, Any]] = []
    for i in range(0, len(texts), batch_size):
        logits = model(**batch_inputs(clf.tokenizer, texts[i : i + batch_size], text_mode, device))
        classes = torch.stack([lg.argmax(-1) for lg in logits], dim=1).tolist()
        out.extend(chexbert_classes_to_labels(row) for row in classes)
    return out


@torch.no_grad()
def predict_discbert(
    clf: Classifier, texts: list[str], batch_size: int = 32, device: str | torch.device = "cpu"
) -> list[dict[str, float]]:
    """Probability that each category's content is present, per text."""
    model = clf.model.to(device).eval()
    out: list[dict[str, float]] = []
    for i in range(0, len(texts), batch_size):
        probs = model.probabilities(model(**clf.encode(texts[i : i + batch_size], device)))
        rows = {k: v.tolist() for k, v in probs.items()}
        out.extend({k: rows[k][j] for k in DISCBERT_HEADS} for j in range(len(rows["pc"])))
    return out
