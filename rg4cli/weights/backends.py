"""Token-level loss weights (TLW, paper §Token-Level Loss Weighting and Alg. 1) per sentence.

The paper's procedure, for one report T:
1. label T (CheXbert); for each of the first 13 observations whose label is
   positive (1) or uncertain (-1), Integrated Gradients of the labeler over T's tokens;
2. c_i = max over those labels of the attribution of token i (c_i starts at -1);
3. smooth c with a Gaussian kernel g_k ~ exp(-k^2 / 2 sigma^2);
4. split c into sentences: a sentence with a token whose score exceeds the threshold
   (0.4) gets weight lambda (1.75) on all its tokens, every other sentence 1.

rg4 writes the result per sentence in character offsets of the text the generator
learns (`sentence_weights: [{start, end, weight, score}]`), so weights do not depend
on the labeler's tokenizer nor on the generator's: `rg4 train` maps them onto its
own tokens.

Choices the paper leaves open, and rg4's defaults (each one a parameter):
- Labels: the record's `labels` field when present (e.g. from `rg4 label`), else the
  backend's own labeler (the BERT labeler's heads for `ig`, the rules labeler for
  `rules`). Observation 14 (No Finding) is never attributed.
- Attribution target: the raw logit of the label's class in its head (class 1
  positive for a positive label, class 3 uncertain for an uncertain one; CheXbert's
  class order 0 blank, 1 positive, 2 negative, 3 uncertain).
- IG: over the word-piece embeddings, baseline [PAD] embeddings with [CLS]/[SEP]
  kept (`baseline="zero"`: zero vectors), Gauss-Legendre quadrature with `steps`
  nodes; token attribution = sum over the embedding dimension (see attribution.py).
- Sign: signed by default (a token that argues against the label scores below 0,
  matching Alg. 1's c_i = -1 start); `absolute=True` uses |attribution|.
- Smoothing: over the report's word pieces ([CLS]/[SEP] excluded), sigma in word
  pieces (default 1; 0 turns it off); the kernel is truncated at 3 sigma and
  renormalised to sum 1 where it overhangs the report's ends. With the default
  per-label normalisation each label's map is smoothed before the max over labels;
  smoothing is linear, so this differs from Alg. 1's order only where two labels'
  maps overlap.
- Normalisation (after smoothing): each label's smoothed map is divided by its
  largest |value| before the max over labels (`normalize="label"`, default: scores
  in [-1, 1], and every attributed label's strongest region reaches 1, so a weakly
  predicted label still marks its sentence); `normalize="report"` takes the max
  over labels, smooths, and divides by the report's largest |score|. Normalising
  after smoothing keeps the threshold relative to the strongest region whatever
  sigma is (smoothing a one-token peak with sigma 1 would otherwise cut it to 0.4).
- Word piece -> characters: the tokenizer's offsets; a word piece belongs to the
  sentence (rg4cli.text.sentences.split_sentences) that contains its first character;
  a sentence's score is the largest smoothed score of its word pieces.
- Reports with no positive/uncertain label among the 13, and sentences past the
  labeler's length limit (512 word pieces for CheXbert; what `rg4 train` saved for
  its own labelers), get weight 1 and score null.
- The labeler runs in eval mode (no dropout), in float32.
Rules backend (offline, no BERT): a sentence gets lambda when the rules labeler finds
a positive or uncertain mention of one of the report's positive/uncertain
observations (of the 13) in it; its score is 1.0, other sentences 0.0.
"""

from __future__ import annotations

import bisect
import copy
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rg4cli.errors import InputError, Rg4Error
from rg4cli.model.classifiers import Classifier
from rg4cli.text.sentences import split_sentences
from rg4cli.vocab import LABEL_TO_CHEXBERT_CLASS, NEGATIVE, OBSERVATIONS, POSITIVE, THIRTEEN, UNCERTAIN
from rg4cli.weights.attribution import IGRequest, integrated_gradients
from rg4cli.weights.settings import NORMALIZATIONS, WeightingOptions

ATTRIBUTED = (POSITIVE, UNCERTAIN)
N_CLASSES = 4  # classes per head of the first 13 CheXbert heads


# ---- labels --------------------------------------------------------------------


def check_labels(labels: Any) -> str | None:
    """Why a record's `labels` value is unusable, or None when it is fine."""
    if not isinstance(labels, dict):
        return f"expected an object of observation -> 1/0/-1/null, got {type(labels).__name__}"
    for obs, value in labels.items():
        if obs not in OBSERVATIONS:
            return f"unknown observation {obs!r}"
        if value is not None and (isinstance(value, bool) or value not in (POSITIVE, NEGATIVE, UNCERTAIN)):
            return f"{obs}: expected 1, 0, -1 or null, got {value!r}"
    return None


def attribution_targets(labels: dict[str, Any]) -> list[tuple[str, int]]:
    """(observation, CheXbert class) for each positive/uncertain label among the first 13."""
    return [(obs, LABEL_TO_CHEXBERT_CLASS[labels[obs]]) for obs in THIRTEEN if labels.get(obs) in ATTRIBUTED]


# ---- from token scores to sentence weights ---------------------------------------


def token_scores(
    attributions: np.ndarray, sigma: float = 1.0, normalize: str = "label", absolute: bool = False
) -> np.ndarray:
    """(labels, T) attributions -> (T,) per-token scores in [-1, 1] (Alg. 1 lines 1-7).

    label: smooth each label's map, divide it by its largest |value|, max over labels;
    report: max over labels, smooth, divide by the largest |value|. Smoothing is
    linear, so smoothing before the max differs from Alg. 1's order only where two
    labels' maps overlap; normalising after smoothing makes each label's (report's)
    strongest region reach 1 whatever sigma is, so the threshold keeps its meaning.
    """
    attr = np.asarray(attributions, dtype=np.float64)
    if absolute:
        attr = np.abs(attr)
    if attr.shape[0] == 0:
        return np.full(attr.shape[1], -1.0)  # Alg. 1's initial c_i
    if normalize == "label":
        return np.max([_unit(gaussian_smooth(row, sigma)) for row in attr], axis=0)
    if normalize == "report":
        return _unit(gaussian_smooth(attr.max(axis=0), sigma))
    raise ValueError(f"normalize must be one of {', '.join(NORMALIZATIONS)}, got {normalize!r}")


def _unit(scores: np.ndarray) -> np.ndarray:
    scale = np.abs(scores).max() if scores.size else 0.0
    return scores / scale if scale > 0 else np.zeros_like(scores)


def gaussian_smooth(scores: np.ndarray, sigma: float) -> np.ndarray:
    """Smooth along the tokens with a truncated Gaussian, renormalised at the ends."""
    scores = np.asarray(scores, dtype=np.float64)
    if sigma <= 0 or scores.size < 2:
        return scores.copy()
    radius = max(1, int(math.ceil(3 * sigma)))
    k = np.arange(-radius, radius + 1)
    kernel = np.exp(-(k**2) / (2 * sigma**2))
    # Zero-padded "valid" convolution: exactly one output per token for any kernel length.
    num = np.convolve(np.pad(scores, radius), kernel, mode="valid")
    den = np.convolve(np.pad(np.ones_like(scores), radius), kernel, mode="valid")
    return num / den


def sentence_weights_from_tokens(
    text: str, offsets: Sequence[tuple[int, int]], scores: np.ndarray | None, threshold: float, lam: float
) -> list[dict[str, Any]]:
    """Sentence spans of `text` with weight lam where a word piece's score > threshold.

    `offsets` are the (start, end) characters of the scored word pieces, `scores` their
    smoothed scores (None: nothing attributed, every sentence weight 1, score null).
    """
    spans = split_sentences(text)
    best: list[float | None] = [None] * len(spans)
    if scores is not None and len(spans):
        starts = np.array([s for s, _ in spans])
        for (tok_start, tok_end), score in zip(offsets, scores):
            if tok_end <= tok_start:
                continue
            n = int(np.searchsorted(starts, tok_start, side="right")) - 1
            if n < 0 or tok_start >= spans[n][1]:
                continue  # between sentences (bare punctuation)
            best[n] = float(score) if best[n] is None else max(best[n], float(score))
    out = []
    for (start, end), score in zip(spans, best):
        weight = lam if score is not None and score > threshold else 1.0
        out.append({"start": start, "end": end, "weight": weight, "score": None if score is None else round(score, 6)})
    return out


# ---- IG backend ----------------------------------------------------------------


@dataclass
class TokenAttribution:
    """One report's attribution maps over its word pieces ([CLS]/[SEP] dropped)."""

    offsets: list[tuple[int, int]]
    targets: list[tuple[str, int]]
    attributions: np.ndarray  # (len(targets), len(offsets))


class IGWeigher:
    """Integrated Gradients over a CheXbert-shaped labeler -> sentence weights."""

    def __init__(
        self,
        classifier: Classifier,
        settings: WeightingOptions | None = None,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 128,
    ):
        if classifier.task != "labeler":
            raise InputError(f"{classifier.source} is a {classifier.task} model, not a labeler")
        self.classifier = classifier
        self.settings = (settings or WeightingOptions()).check()
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.model = classifier.model.to(self.device).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.tokenizer = classifier.tokenizer
        if not getattr(self.tokenizer, "is_fast", False):
            raise Rg4Error(
                f"the tokenizer of {classifier.source} gives no character offsets (not a fast "
                "tokenizer); IG weights need them to map word pieces onto the text"
            )
        self.embedding = self.model.input_embeddings()

    # score_fn for attribution.py: the 13 heads' logits, flattened head-major.
    def score_fn(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask)
        return torch.cat(logits[:13], dim=1)

    def encode(self, text: str) -> tuple[torch.Tensor, list[tuple[int, int]], torch.Tensor]:
        enc = self.tokenizer(
            text,
            truncation=True,
            max_length=self.classifier.max_length,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        ids = torch.tensor(enc["input_ids"], device=self.device)
        special = torch.tensor(enc["special_tokens_mask"], dtype=torch.bool, device=self.device)
        return ids, [tuple(o) for o in enc["offset_mapping"]], special

    def predict_labels(self, texts: list[str]) -> list[dict[str, Any]]:
        from rg4cli.model.classifiers import predict_chexbert

        return predict_chexbert(self.classifier, texts, device=self.device)

    def attribute(self, texts: Sequence[str], labels: Sequence[dict[str, Any]]) -> list[TokenAttribution]:
        requests, metas = [], []
        for text, lab in zip(texts, labels):
            ids, offsets, special = self.encode(text)
            targets = attribution_targets(lab)
            with torch.no_grad():
                embeds = self.embedding(ids)
                if self.settings.baseline == "pad":
                    pad = self.tokenizer.pad_token_id
                    baseline = self.embedding(torch.where(special, ids, torch.full_like(ids, pad)))
                else:
                    baseline = torch.where(special[:, None], embeds, torch.zeros_like(embeds))
            flat = [OBSERVATIONS.index(obs) * N_CLASSES + cls for obs, cls in targets]
            requests.append(IGRequest(embeds, baseline, flat))
            metas.append((offsets, special, targets))
        maps = integrated_gradients(
            self.score_fn, requests, steps=self.settings.steps, method=self.settings.method, batch_size=self.batch_size
        )
        out = []
        for attr, (offsets, special, targets) in zip(maps, metas):
            keep = (~special).cpu().numpy()
            out.append(
                TokenAttribution(
                    [o for o, k in zip(offsets, keep) if k], targets, attr.detach().cpu().double().numpy()[:, keep]
                )
            )
        return out

    def token_scores(self, attribution: TokenAttribution) -> np.ndarray | None:
        """Alg. 1 lines 2-7: normalised max over labels, smoothed; None if nothing attributed."""
        if not attribution.targets:
            return None
        s = self.settings
        return token_scores(attribution.attributions, s.sigma, s.normalize, s.absolute)

    def weigh(self, texts: Sequence[str], labels: Sequence[dict[str, Any] | None]) -> list[list[dict[str, Any]]]:
        """Sentence weights per text; a None label set is predicted by the labeler itself."""
        labels = list(labels)
        missing = [i for i, lab in enumerate(labels) if lab is None]
        if missing:
            for i, lab in zip(missing, self.predict_labels([texts[i] for i in missing])):
                labels[i] = lab
        s = self.settings
        # A study's four settings mostly share one text (all of them, for raw reports): explain
        # each distinct (text, labels) once and hand every record its own copy.
        keys = [(text, json.dumps(lab, sort_keys=True)) for text, lab in zip(texts, labels)]
        first: dict[tuple[str, str], int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        unique = list(first.values())
        attributions = self.attribute([texts[i] for i in unique], [labels[i] for i in unique])
        weights = {
            keys[i]: sentence_weights_from_tokens(texts[i], att.offsets, self.token_scores(att), s.threshold, s.lam)
            for i, att in zip(unique, attributions)
        }
        return [copy.deepcopy(weights[key]) for key in keys]


# ---- rules backend ---------------------------------------------------------------


def rules_sentence_weights(
    text: str, mentions: Iterable[Any], labels: dict[str, Any] | None, lam: float
) -> list[dict[str, Any]]:
    """A sentence gets lam when it holds a positive/uncertain mention of a target observation.

    `mentions` are the rules labeler's (observation, value, start, end, ...); with
    `labels` given, only observations labeled positive/uncertain there count.
    """
    wanted = set(THIRTEEN) if labels is None else {obs for obs, _ in attribution_targets(labels)}
    spans = split_sentences(text)
    starts = [s for s, _ in spans]
    hit = [False] * len(spans)
    for m in mentions:
        if m.observation not in wanted or m.value not in ATTRIBUTED:
            continue
        # The sentences a mention overlaps, found by bisection (sentences are ordered and disjoint).
        n = max(0, bisect.bisect_right(starts, m.start) - 1)
        while n < len(spans) and spans[n][0] < m.end:
            if m.start < spans[n][1]:
                hit[n] = True
            n += 1
    return [
        {"start": s, "end": e, "weight": lam if h else 1.0, "score": 1.0 if h else 0.0} for (s, e), h in zip(spans, hit)
    ]


class RulesWeigher:
    def __init__(self, settings: WeightingOptions | None = None):
        from rg4cli.labelers.backends import make_labeler

        self.settings = (settings or WeightingOptions()).check()
        self.labeler = make_labeler(backend="rules")

    def weigh(self, texts: Sequence[str], labels: Sequence[dict[str, Any] | None]) -> list[list[dict[str, Any]]]:
        return [
            rules_sentence_weights(text, self.labeler.mentions(text), lab, self.settings.lam)
            for text, lab in zip(texts, labels)
        ]
