"""Token-level loss weighting (paper §TLW, eq. 10): sentence weights → token weights → loss.

`rg4 weights` writes `sentence_weights: [{start, end, weight, score}]` in character
offsets of the target text, independent of any tokenizer. Here they land on the
decoder's tokens through the tokenizer's offset mapping: a token takes the largest
weight among the sentences its characters overlap (a word piece that straddles
two sentences counts for both), 1 when it overlaps none (the
"findings:" marker, spaces, EOS). `lam` (λ, `--lam`) replaces the weight of every
emphasised sentence (weight > 1) when given; otherwise the records' own weights are
used as written.

Three losses, over the target tokens (label != -100) of a batch:

- `paper`: L = (1/N) Σ_j c_j · CE_j, with c_j ∈ {1, λ} and N the number of target
  tokens. This is eq. 10's per-token loss −c_j log softmax(o^j) with the usual mean
  reduction of a language-model loss; normalising by N (not by Σ_j c_j) keeps λ an
  absolute emphasis: an emphasised token's gradient is λ times larger whatever the
  rest of the batch holds, and a report whose every sentence is emphasised still
  differs from plain CE (with Σ c_j it would not).
- `official` (the released code's loss, exactly): ΣCE / (n + 0.001) + (λ − 1) ·
  Σ_emph CE / (n_emph + 0.001), n and n_emph counting the target tokens (resp. the
  emphasised ones) whose CE is non-zero, as its `count_nonzero` does (λ = 1.75 gives
  the released `sentence_ratio` 0.75); the second term is 0 for a batch without
  emphasised tokens.
- `off`: mean CE over all target tokens.

The default of `rg4 train` is `official` with `--preset paper` (the released recipe) and
`paper` with `--preset tiny`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F

from rg4cli.errors import InputError
from rg4cli.paper import TLW_LAMBDA

TLW_MODES = ("paper", "official", "off")
IGNORE_INDEX = -100
# A sentence weight scales its tokens' loss; far above the paper's λ = 1.75 it only overflows the loss.
MAX_WEIGHT = 100.0


def check_sentence_weights(value, text: str, *, source: str | None = None, line: int | None = None) -> list[dict]:
    """Validate a record's `sentence_weights` against the target text it indexes."""

    def bad(problem: str) -> InputError:
        return InputError(problem, source=source, line=line, field="sentence_weights")

    if value is None:
        return []
    if not isinstance(value, list):
        raise bad(f"expected a list of {{start, end, weight}}, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise bad(f"item {i}: expected an object, got {type(item).__name__}")
        start, end, weight = item.get("start"), item.get("end"), item.get("weight")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            raise bad(f"item {i}: start and end must be integers")
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not 0 < weight <= MAX_WEIGHT:
            raise bad(f"item {i}: weight must be a number in (0, {MAX_WEIGHT:g}], got {weight!r}")
        if not 0 <= start < end <= len(text):
            raise bad(
                f"item {i}: span [{start}, {end}) lies outside the target text (length {len(text)}); "
                "were the weights computed on a different text? (rg4 weights --text findings+impression)"
            )
        out.append({"start": start, "end": end, "weight": float(weight)})
    return out


def token_weights(
    offsets: Sequence[tuple[int, int]], spans: Iterable[dict], *, lam: float | None = None
) -> list[float]:
    """Weight per token from character spans.

    `offsets` are (start, end) character offsets of each token in the target text;
    (0, 0) marks a token with no characters (special tokens), which gets 1.
    """
    rows = torch.tensor(list(offsets), dtype=torch.long).reshape(-1, 2)
    return token_weight_row(rows, spans, lam=lam).tolist()


def token_weight_row(offsets: torch.Tensor, spans: Iterable[dict], *, lam: float | None = None) -> torch.Tensor:
    """`token_weights` on a [T, 2] offsets tensor -> float32 [T], in a few tensor ops (the
    training step calls it per example; a Python loop over tokens cost ~2% of a tiny step)."""
    table = torch.tensor(
        [(s["start"], s["end"], lam if lam is not None and s["weight"] > 1 else s["weight"]) for s in spans],
        dtype=torch.float64,
    ).reshape(-1, 3)
    if not len(table):
        return torch.ones(len(offsets), dtype=torch.float32)
    start, end = offsets[:, :1], offsets[:, 1:]
    hit = (end > start) & (start < table[:, 1]) & (end > table[:, 0])  # [T, spans]
    best = torch.where(hit, table[:, 2], torch.tensor(float("-inf"), dtype=torch.float64)).amax(-1)
    return torch.where(hit.any(-1), best, torch.ones_like(best)).to(torch.float32)


def weighted_token_loss(ce: torch.Tensor, weights: torch.Tensor, mode: str, lam: float = TLW_LAMBDA) -> torch.Tensor:
    """Combine per-token CE values (1-D, target tokens only) with their weights."""
    if mode not in TLW_MODES:
        raise InputError(f"--tlw must be one of {', '.join(TLW_MODES)}, got {mode!r}")
    if ce.numel() == 0:
        return ce.sum()
    if mode == "off":
        return ce.mean()
    weights = weights.to(ce.dtype)
    if mode == "paper":
        return (weights * ce).sum() / ce.numel()
    # The released code: loss.sum() / (count_nonzero(loss) + 0.001) for both terms, its key
    # term over loss * score with score 1 on the emphasised tokens.
    key = ce * (weights > 1).to(ce.dtype)
    average = ce.sum() / (torch.count_nonzero(ce) + 0.001)
    return average + (lam - 1.0) * key.sum() / (torch.count_nonzero(key) + 0.001)


def lm_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor | None,
    mode: str,
    lam: float = TLW_LAMBDA,
    *,
    shift: bool = True,
) -> torch.Tensor:
    """Language-model loss with token weights.

    logits [B, T, V]; labels [B, T] (IGNORE_INDEX outside the target); weights [B, T]
    aligned with labels. With `shift` (the Hugging Face convention) position t's logits
    predict label t+1.
    """
    if shift:
        logits = logits[:, :-1, :]
        labels = labels[:, 1:]
        weights = weights[:, 1:] if weights is not None else None
    mask = labels != IGNORE_INDEX
    ce = F.cross_entropy(logits[mask].float(), labels[mask], reduction="none")
    w = weights[mask] if weights is not None else torch.ones_like(ce)
    return weighted_token_loss(ce, w, "off" if weights is None else mode, lam)
