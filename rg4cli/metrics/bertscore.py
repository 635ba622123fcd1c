"""BERTScore from a local model directory, as bert-score 0.3.13's `score()` computes it.

What is matched (tests/lib/test_model_metrics.py compares with the package itself):

- tokens: the directory's tokenizer as `AutoTokenizer.from_pretrained(DIR, use_fast=False)`
  loads it; each text stripped; an empty one is [CLS][SEP]; otherwise `encode` with special
  tokens, cut at the tokenizer's `model_max_length` (RoBERTa/GPT-2 tokenizers get
  `add_prefix_space=True`);
- embeddings: the hidden states after layer `layers` (the encoder cut to its first `layers`
  layers, as the package does), one embedding per token;
- idf off (the package default): every token weighs 1 except [CLS] and [SEP], which weigh 0;
- greedy matching on cosine similarity: P averages each hypothesis token's best match over
  the reference, R each reference token's over the hypothesis, F = 2PR/(P+R); an empty
  hypothesis or reference scores P = R = F = 0;
- no baseline rescaling (the package's default; its rescale files are per model name).

`layers` defaults to bert-score's choice for the model the directory names in its
config.json (`_name_or_path`, then the directory's name), from `DEFAULT_LAYERS`; a model it
does not know needs `--bertscore-layers N`.

Speed: the package sorts texts by word count before batching; rg4 sorts by token count, so a
batch pads less. Only the padding differs; the scores agree to float rounding.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from rg4cli.errors import InputError

# bert-score 0.3.13's model2layers for the models report-generation papers use.
DEFAULT_LAYERS: dict[str, int] = {
    "roberta-large": 17,
    "roberta-base": 10,
    "distilroberta-base": 5,
    "bert-base-uncased": 9,
    "bert-large-uncased": 18,
    "distilbert-base-uncased": 5,
    "microsoft/deberta-xlarge-mnli": 40,
    "microsoft/deberta-large-mnli": 18,
    "allenai/scibert_scivocab_uncased": 8,
}


@dataclass
class BertScores:
    precision: list[float]
    recall: list[float]
    f1: list[float]


def check_directory(directory: str | os.PathLike) -> Path:
    path = Path(directory)
    if not (path / "config.json").is_file():
        raise InputError(f"--bertscore {path}: no config.json (expected a Hugging Face model directory)")
    return path


def _default_layers(directory: Path) -> int | None:
    import json

    try:
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    for name in (config.get("_name_or_path"), directory.name):
        if isinstance(name, str):
            for known, layers in DEFAULT_LAYERS.items():
                if name == known or name.rstrip("/").endswith("/" + known) or name == known.split("/")[-1]:
                    return layers
    return None


class BertScorer:
    """A BERTScore model loaded once from `directory` (local files only, never a download)."""

    def __init__(self, directory: str | os.PathLike, layers: int | None = None, device: str = "cpu"):
        from transformers import AutoModel, AutoTokenizer

        path = check_directory(directory)
        if layers is None:
            layers = _default_layers(path)
            if layers is None:
                raise InputError(
                    f"--bertscore {path}: bert-score has no default layer for this model; "
                    "pass --bertscore-layers N (e.g. 17 for roberta-large)"
                )
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), use_fast=False, local_files_only=True)
            model = AutoModel.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else exc.__class__.__name__
            raise InputError(f"--bertscore {path}: cannot load the model: {detail}") from None
        self.model = _cut(model, layers, path).to(device).eval()
        self.layers = layers
        self.device = device
        self.source = str(path)

    def encode(self, text: str) -> list[int]:
        from transformers import GPT2Tokenizer, RobertaTokenizer

        tok = self.tokenizer
        text = text.strip()
        if not text:
            # [CLS][SEP] (<s></s>); transformers 5 tokenizers no longer have build_inputs_with_special_tokens.
            build = getattr(tok, "build_inputs_with_special_tokens", None)
            return build([]) if build is not None else tok.encode("", add_special_tokens=True)
        kwargs = {"add_prefix_space": True} if isinstance(tok, (GPT2Tokenizer, RobertaTokenizer)) else {}
        return tok.encode(text, add_special_tokens=True, max_length=tok.model_max_length, truncation=True, **kwargs)

    @torch.inference_mode()
    def embed(self, texts: list[str], batch_size: int = 64) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """text -> (unit-norm token embeddings [L, D], weights [L]) for each distinct text."""
        ids = {t: self.encode(t) for t in dict.fromkeys(texts)}
        order = sorted(ids, key=lambda t: len(ids[t]), reverse=True)
        special = {self.tokenizer.cls_token_id, self.tokenizer.sep_token_id}
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = max(len(ids[t]) for t in batch)
            x = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for i, t in enumerate(batch):
                x[i, : len(ids[t])] = torch.tensor(ids[t], dtype=torch.long)
                mask[i, : len(ids[t])] = 1
            hidden = self.model(x.to(self.device), attention_mask=mask.to(self.device))[0].float().cpu()
            hidden = hidden / hidden.norm(dim=-1, keepdim=True)
            for i, t in enumerate(batch):
                weights = torch.tensor([0.0 if tid in special else 1.0 for tid in ids[t]])
                out[t] = (hidden[i, : len(ids[t])], weights)
        return out

    def score(self, hyps: list[str], refs: list[str], batch_size: int = 64) -> BertScores:
        if len(hyps) != len(refs):
            raise ValueError(f"{len(hyps)} hypotheses but {len(refs)} references")
        table = self.embed(list(refs) + list(hyps), batch_size)
        p_all: list[float] = []
        r_all: list[float] = []
        f_all: list[float] = []
        for start in range(0, len(hyps), batch_size):
            p, r, f = _match(
                [table[t] for t in hyps[start : start + batch_size]],
                [table[t] for t in refs[start : start + batch_size]],
            )
            p_all += p.tolist()
            r_all += r.tolist()
            f_all += f.tolist()
        return BertScores(p_all, r_all, f_all)


def _match(hyp: list[tuple[torch.Tensor, torch.Tensor]], ref: list[tuple[torch.Tensor, torch.Tensor]]):
    """Greedy matching of a batch of pairs, padded to the batch's longest text as the package pads:
    a padded position scores 0, so a best match below 0 against a shorter partner counts as 0."""
    from torch.nn.utils.rnn import pad_sequence

    h = pad_sequence([e for e, _ in hyp], batch_first=True)
    r = pad_sequence([e for e, _ in ref], batch_first=True)
    hw = pad_sequence([w for _, w in hyp], batch_first=True)
    rw = pad_sequence([w for _, w in ref], batch_first=True)
    h_mask = pad_sequence([torch.ones(len(w)) for _, w in hyp], batch_first=True)
    r_mask = pad_sequence([torch.ones(len(w)) for _, w in ref], batch_first=True)
    sim = torch.bmm(h, r.transpose(1, 2)) * torch.bmm(h_mask.unsqueeze(2), r_mask.unsqueeze(1))
    hw = hw / hw.sum(dim=1, keepdim=True)
    rw = rw / rw.sum(dim=1, keepdim=True)
    p = (sim.max(dim=2).values * hw).sum(dim=1)
    rc = (sim.max(dim=1).values * rw).sum(dim=1)
    f = 2 * p * rc / (p + rc)
    empty = h_mask.sum(dim=1).eq(2) | r_mask.sum(dim=1).eq(2)  # [CLS][SEP] only
    p = p.masked_fill(empty, 0.0)
    rc = rc.masked_fill(empty, 0.0)
    return p, rc, f.masked_fill(torch.isnan(f), 0.0)


def _cut(model, layers: int, path: Path):
    """The encoder's first `layers` layers (bert-score's get_model for BERT/RoBERTa/DistilBERT)."""
    if hasattr(model, "decoder") and hasattr(model, "encoder"):
        model = model.encoder
    for owner in (getattr(model, "encoder", None), getattr(model, "transformer", None)):
        if owner is not None and hasattr(owner, "layer"):
            if not 0 <= layers <= len(owner.layer):
                raise InputError(f"--bertscore-layers must be between 0 and {len(owner.layer)} for {path}")
            owner.layer = torch.nn.ModuleList(list(owner.layer)[:layers])
            return model
    raise InputError(f"--bertscore {path}: unsupported architecture (BERT, RoBERTa and DistilBERT encoders are)")
