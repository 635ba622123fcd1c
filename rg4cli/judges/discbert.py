"""The DiscBERT judge: BERT + four binary heads, per report and per sentence."""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rg4cli.devices import resolve_device
from rg4cli.errors import InputError
from rg4cli.judges.rules import RulesJudge
from rg4cli.judges.verdict import VIEW_KINDS, _check_batch, _check_setting, _empty_result, unsupported_categories
from rg4cli.text.sentences import split_sentences
from rg4cli.vocab import CATEGORIES


class DiscBertJudge:
    """DiscBERT (BERT + four binary heads on [CLS]): judges each report and each of its sentences.

    Report flags come from the whole text (as the paper scores reports); sentence
    entries from the same model on each sentence, so a rewriter can act on them.
    Which views are named comes from the rules' view phrases (the model has one
    view head, not one per view); see VERDICT_RULE for view content nobody names.
    """

    backend = "discbert"

    def __init__(
        self,
        model: str | Path | Any,
        device: str = "cpu",
        batch_size: int = 32,
        bert: str | Path | None = None,
        threshold: float = 0.5,
        rules: RulesJudge | None = None,
        sentence_level: bool = True,
    ):
        from rg4cli.model.classifiers import Classifier, load_classifier

        if model is None:
            raise InputError("--backend discbert needs --model (an rg4 DiscBERT directory or the official checkpoint)")
        self.classifier = model if isinstance(model, Classifier) else load_classifier(model, "discbert", bert=bert)
        if self.classifier.task != "discbert":
            raise InputError(f"{self.classifier.source} is a {self.classifier.task!r} model, not DiscBERT")
        if batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {batch_size}")
        if not 0.0 < threshold < 1.0:
            raise InputError(f"--threshold must be between 0 and 1, got {threshold}")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.threshold = threshold
        self.rules = rules or RulesJudge()
        self.sentence_level = sentence_level

    def judge(
        self, texts: Sequence[str | None], settings: Sequence[str], projections: Sequence[str | None] | None = None
    ) -> list[dict]:
        from rg4cli.model.classifiers import predict_discbert

        projs = _check_batch(texts, settings, projections)
        for s in settings:
            _check_setting(s)
        # One batched pass over every report and every sentence of every report.
        items: list[str] = []
        plan: list[tuple[int | None, list[tuple[int, int, int]]]] = []
        for text in texts:
            if not text:
                plan.append((None, []))
                continue
            idx = len(items)
            items.append(text)
            sents = []
            for s, e in split_sentences(text) if self.sentence_level else []:
                sents.append((s, e, len(items)))
                items.append(text[s:e])
            plan.append((idx, sents))
        probs = (
            predict_discbert(self.classifier, items, batch_size=self.batch_size, device=self.device) if items else []
        )
        out = []
        for text, setting, proj, (idx, sents) in zip(texts, settings, projs, plan):
            res = _empty_result(setting, self.backend)
            if idx is None:
                out.append(res)
                continue
            p = probs[idx]
            res["scores"] = {c: round(float(p[c]), 4) for c in CATEGORIES}
            for c in CATEGORIES:
                res[c] = p[c] >= self.threshold
            view_hits = [h for h in self.rules.find(text) if h.category == "view"]
            view_starts = [h.start for h in view_hits]  # ordered: find() sorts by start
            named = sorted({v for h in view_hits for v in h.views}, key=VIEW_KINDS.index)
            res["views"] = named
            detail = named if (res["view"] and named) else None
            res["unsupported"] = unsupported_categories(res, setting, detail, proj)
            res["input_agnostic"] = bool(res["unsupported"])
            for s, e, j in sents:
                cats = [c for c in CATEGORIES if probs[j][c] >= self.threshold]
                if not cats:
                    continue
                in_sentence = view_hits[bisect.bisect_left(view_starts, s) : bisect.bisect_left(view_starts, e)]
                sent_named = sorted({v for h in in_sentence for v in h.views}, key=VIEW_KINDS.index)
                found = {c: True for c in cats}
                res["sentences"].append(
                    {
                        "start": s,
                        "end": e,
                        "categories": cats,
                        "unsupported": unsupported_categories(found, setting, sent_named or None, proj),
                        "phrases": [],
                    }
                )
            out.append(res)
        return out
