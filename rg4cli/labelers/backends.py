"""The 14 CheXpert observations of a report: the public labeling API of rg4.

`make_labeler(backend="rules" | "chexbert", ...)` returns an object with
`.label(texts) -> [ {observation: 1 | 0 | -1 | None} ]` (keys in
`observations.OBSERVATIONS` order: 1 positive, 0 negative, -1 uncertain, None not
mentioned). `rg4 label`, `rg4 score`, `rg4 weights` and `rg4 build-data` all call it.

- rules (default, offline): `labelers.rules.RulesEngine` over the phrase tables in
  data/chexpert_phrases.json; also `.mentions(text)` (which phrase gave which label,
  with character spans) and `.explain(text)`.
- chexbert: the CheXbert-shaped BERT labeler of `classifiers.py`, from the official
  `chexbert.pth` (with `--bert DIR`) or a directory written by `rg4 train --task labeler`.

`finalize_labels(raw)` holds the CheXpert conventions that turn mention labels into
the 14 (label implications, then No Finding); the synthetic-report generator builds
its truth with it, so truth and labeler agree on conventions by construction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Protocol

from rg4cli.devices import resolve_device
from rg4cli.errors import InputError
from rg4cli.labelers.phrases import default_rules
from rg4cli.labelers.rules import Analysis, Mention, RulesEngine, combine_values
from rg4cli.text.normalize import normalize_text
from rg4cli.vocab import NEGATIVE, NO_FINDING, OBSERVATIONS, POSITIVE, SUPPORT_DEVICES, UNCERTAIN

BACKENDS = ("rules", "chexbert")
# The observations whose positive/uncertain label means "a finding" (CheXpert: all but
# Support Devices and No Finding itself).
FINDING_OBSERVATIONS: tuple[str, ...] = tuple(o for o in OBSERVATIONS[:13] if o != SUPPORT_DEVICES)

__all__ = [
    "BACKENDS",
    "Labeler",
    "Mention",
    "RulesLabeler",
    "CheXbertLabeler",
    "make_labeler",
    "finalize_labels",
    "empty_labels",
]


class Labeler(Protocol):
    backend: str

    def label(self, texts: list[str]) -> list[dict[str, int | None]]: ...


def empty_labels() -> dict[str, int | None]:
    """All 14 observations not mentioned (a record with no text to read)."""
    return {obs: None for obs in OBSERVATIONS}


def finalize_labels(
    raw: dict[str, Any], *, other_finding: bool = False, implications: Iterable[dict[str, Any]] | None = None
) -> dict[str, int | None]:
    """The 14 labels from mention-level labels of the first 13, by CheXpert's conventions.

    - `raw` maps observation -> 1 / 0 / -1 / None; missing keys are None; a No Finding
      value in `raw` is ignored (it is derived, never read).
    - `implications`: label-level rules {"if": obs, "values": [1, -1], "then": obs2,
      "value": v}; they only fill an observation that is not mentioned. Defaults to the
      phrase table's `label_implications` (empty: CheXbert leaves parents blank).
    - No Finding is 1 when none of the 12 finding observations (Support Devices
      excepted) is positive or uncertain and no other finding (`other_finding`, e.g.
      emphysema, scoliosis) was reported positive or uncertain; otherwise None
      (CheXpert and CheXbert never label No Finding negative).
    Pure: returns a new dict in OBSERVATIONS order.
    """
    out: dict[str, int | None] = {}
    for obs in OBSERVATIONS[:13]:
        value = raw.get(obs)
        if value not in (POSITIVE, NEGATIVE, UNCERTAIN, None):
            raise ValueError(f"{obs}: label must be 1, 0, -1 or None, got {value!r}")
        out[obs] = value
    rules = default_rules().label_implications if implications is None else list(implications)
    for rule in rules:
        if out.get(rule["if"]) in tuple(rule.get("values", (POSITIVE, UNCERTAIN))) and out.get(rule["then"]) is None:
            out[rule["then"]] = rule["value"]
    finding = other_finding or any(out[o] in (POSITIVE, UNCERTAIN) for o in FINDING_OBSERVATIONS)
    out[NO_FINDING] = None if finding else POSITIVE
    return out


# Texts longer than this are labelled in sentence-aligned pieces (reports are a few KB).
LONG_TEXT = 1 << 18


def _pieces(text: str, size: int):
    """(offset, piece) of `text` cut after a sentence end (else a line end, else a space) every `size` characters."""
    pos, n = 0, len(text)
    while pos < n:
        end = min(n, pos + size)
        if end < n:
            cut = max(text.rfind(". ", pos, end), text.rfind("\n", pos, end))
            if cut <= pos:
                cut = text.rfind(" ", pos, end)
            end = cut + 1 if cut > pos else end
        yield pos, text[pos:end]
        pos = end


def _shifted(m: Mention, offset: int) -> Mention:
    return dataclasses.replace(
        m,
        start=m.start + offset,
        end=m.end + offset,
        sentence_start=m.sentence_start + offset,
        sentence_end=m.sentence_end + offset,
    )


class RulesLabeler:
    """CheXpert-style rules over phrase tables; fast, offline, explainable."""

    backend = "rules"

    def __init__(self, engine: RulesEngine | None = None):
        self.engine = engine or RulesEngine()

    def analyse(self, text: str | None, *, keep_mentions: bool = True) -> Analysis:
        if text is None:
            return self.engine.analyse(None)
        text = normalize_text(text)
        if len(text) <= LONG_TEXT:
            return self.engine.analyse(text)
        return self._analyse_pieces(text, keep_mentions=keep_mentions)

    def _analyse_pieces(self, text: str, *, keep_mentions: bool) -> Analysis:
        """A very long text, in sentence-aligned pieces of at most LONG_TEXT characters: every rule
        works inside a sentence, and mentions aggregate as they do across the sentences of one
        text, so the labels are those of the whole; memory is bounded by a piece, not the text
        (the mentions are dropped unless asked for)."""
        raw: dict[str, int | None] = {}
        implied: dict[str, int] = {}
        mentions: list[Mention] = []
        others: list[Mention] = []
        blockers: list[str] = []
        for offset, piece in _pieces(text, LONG_TEXT):
            part = self.engine.analyse(piece)
            for obs, value in part.raw.items():
                raw[obs] = combine_values(raw.get(obs), value)
            for obs, value in part.implied.items():
                implied[obs] = combine_values(implied.get(obs), value)
            blockers += part.no_finding_blockers
            if keep_mentions:
                mentions += [_shifted(m, offset) for m in part.mentions]
                others += [_shifted(m, offset) for m in part.other_findings]
            else:  # only whether they block No Finding counts
                others += [m for m in part.other_findings if m.value in (POSITIVE, UNCERTAIN)][:1]
                blockers = blockers[:1]
        return Analysis(raw, mentions, others, implied, blockers)

    def labels_of(self, analysis: Analysis, text: str | None) -> dict[str, int | None]:
        if not text or not text.strip():
            return empty_labels()
        raw = dict(analysis.raw)
        for obs, value in analysis.implied.items():
            raw[obs] = combine_values(raw.get(obs), value)
        return finalize_labels(raw, other_finding=analysis.blocks_no_finding)

    def label_one(self, text: str | None) -> dict[str, int | None]:
        return self.labels_of(self.analyse(text, keep_mentions=False), text)

    def label(self, texts: list[str]) -> list[dict[str, int | None]]:
        return [self.label_one(t) for t in texts]

    def mentions(self, text: str | None) -> list[Mention]:
        """Mentions of the 13 observations, in text order, with the cue that decided each."""
        return self.analyse(text).mentions

    def explain(self, text: str | None) -> dict[str, Any]:
        """Labels plus the phrases behind them (what `rg4 label --explain` writes)."""
        analysis = self.analyse(text)
        return {
            "labels": self.labels_of(analysis, text),
            "mentions": [m.to_dict() for m in analysis.mentions],
            "other_findings": [m.to_dict() for m in analysis.other_findings if m.value in (POSITIVE, UNCERTAIN)],
            "no_finding_blockers": list(analysis.no_finding_blockers),
            "implied": dict(analysis.implied),
        }


class CheXbertLabeler:
    """CheXbert (or a labeler rg4 trained) on CPU or GPU, in batches."""

    backend = "chexbert"

    def __init__(
        self,
        checkpoint: str,
        bert: str | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        text_mode: str = "chexbert",
    ):
        from rg4cli.model.chexbert_input import CHEXBERT_TEXT
        from rg4cli.model.classifiers import load_classifier

        if batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {batch_size}")
        if text_mode not in CHEXBERT_TEXT:
            raise InputError(f"--chexbert-text must be one of {', '.join(CHEXBERT_TEXT)}, got {text_mode!r}")
        self.classifier = load_classifier(checkpoint, "labeler", bert)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.text_mode = text_mode

    def label(self, texts: list[str | None]) -> list[dict[str, int | None]]:
        """Labels per text; an empty or blank report is labelled from [CLS][SEP] as the
        official labeler does, only a missing text (None) gets all-unmentioned labels."""
        from rg4cli.model.classifiers import predict_chexbert

        present = [i for i, t in enumerate(texts) if t is not None]
        out: list[dict[str, int | None]] = [empty_labels() for _ in texts]
        if present:
            predicted = predict_chexbert(
                self.classifier,
                # As the official labeler gives it: BERT's own normaliser already drops the
                # invisible characters normalize_text removes and decomposes accents.
                [texts[i] for i in present],
                batch_size=self.batch_size,
                device=self.device,
                text_mode=self.text_mode,
            )
            for i, labels in zip(present, predicted):
                out[i] = {obs: labels.get(obs) for obs in OBSERVATIONS}
        return out


def make_labeler(
    backend: str = "rules",
    checkpoint: str | None = None,
    bert: str | None = None,
    device: str = "cpu",
    batch_size: int = 32,
    text_mode: str = "chexbert",
) -> RulesLabeler | CheXbertLabeler:
    """The labeler for `backend`: "rules" (offline default) or "chexbert" (needs `checkpoint`;
    `text_mode` names the reference text preparation, `model.chexbert_input.CHEXBERT_TEXT`)."""
    if backend == "rules":
        return RulesLabeler()
    if backend == "chexbert":
        if not checkpoint:
            raise InputError(
                "--backend chexbert needs --labeler-model (the official chexbert.pth with "
                "--labeler-bert DIR, or a directory from `rg4 train --task labeler`)"
            )
        return CheXbertLabeler(checkpoint, bert=bert, device=device, batch_size=batch_size, text_mode=text_mode)
    raise InputError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
