"""The rules judge: the phrase tables (judges.phrases) applied to a text, per sentence."""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rg4cli.judges.phrases import Hit, _build_tables, load_phrases
from rg4cli.judges.verdict import VIEW_KINDS, _check_batch, _check_setting, _empty_result, unsupported_categories
from rg4cli.text.sentences import split_sentences
from rg4cli.vocab import CATEGORIES


class RulesJudge:
    """Phrase-table judge: `find` (hits with spans) and `judge` (the record field)."""

    backend = "rules"

    def __init__(self, phrases: str | Path | dict | None = None):
        self.phrases = load_phrases(phrases)
        self.tables = _build_tables(self.phrases)

    def find(self, text: str | None, sentence_spans: list[tuple[int, int]] | None = None) -> list[Hit]:
        """Every phrase of the four categories in `text`, by position, exclusions applied."""
        if not text:
            return []
        spans = sentence_spans if sentence_spans is not None else split_sentences(text)
        starts = [s for s, _ in spans]
        hits: list[Hit] = []
        for cat, table in self.tables.items():
            found = list(table.regex.finditer(text))
            if not found:
                continue
            # Exclusions are looked for only in the sentences that hold a hit (they never
            # cross a sentence): most of a report is never scanned twice.
            # Per sentence, computed once (a long sentence must not be re-scanned per hit): the
            # ends of its exclusion matches (ordered, disjoint) and each filter's verdict.
            excluded: dict[tuple[int, int], tuple[list[tuple[int, int]], list[int]]] = {}
            filtered: dict[tuple[Any, tuple[int, int]], bool] = {}
            for m in found:
                start, end = m.span()
                if start == end:
                    continue
                sent = _sentence_of(spans, starts, start, end, len(text))
                if table.exclude is not None:
                    if sent not in excluded:
                        ex = [x.span() for x in table.exclude.finditer(text, sent[0], sent[1])]
                        excluded[sent] = (ex, [e for _, e in ex])
                    ex, ex_ends = excluded[sent]
                    n = bisect.bisect_right(ex_ends, start)  # the first exclusion ending after `start`
                    if n < len(ex) and ex[n][0] < end:
                        continue
                group = m.lastgroup
                filt = table.sentence_filters.get(group)
                if filt is not None:
                    if (filt, sent) not in filtered:
                        filtered[(filt, sent)] = filt.search(text, sent[0], sent[1]) is not None
                    if filtered[(filt, sent)]:
                        continue
                entry = table.rules[group]
                views = entry.get("views", ())
                if views:
                    views = _projection_views(text[start:end], views)
                hits.append(
                    Hit(
                        cat,
                        start,
                        end,
                        sent[0],
                        sent[1],
                        text[start:end].strip(),
                        entry.get("name", group),
                        tuple(views),
                    )
                )
        hits.sort(key=lambda h: (h.start, CATEGORIES.index(h.category)))
        return hits

    def judge_one(self, text: str | None, setting: str, projection: str | None = None) -> dict:
        _check_setting(setting)
        out = _empty_result(setting, self.backend)
        hits = self.find(text)
        if not hits:
            return out
        views: set[str] = set()
        by_sentence: dict[tuple[int, int], list[Hit]] = {}
        for h in hits:
            out[h.category] = True
            views.update(h.views)
            by_sentence.setdefault((h.sentence_start, h.sentence_end), []).append(h)
        out["views"] = [v for v in VIEW_KINDS if v in views]
        out["unsupported"] = unsupported_categories(out, setting, out["views"], projection)
        out["input_agnostic"] = bool(out["unsupported"])
        for (s, e), group in sorted(by_sentence.items()):
            cats = [c for c in CATEGORIES if any(h.category == c for h in group)]
            sent_views = sorted({v for h in group for v in h.views}, key=VIEW_KINDS.index)
            found = {c: True for c in cats}
            phrases = list(dict.fromkeys(h.phrase for h in group))  # first occurrences, in order
            out["sentences"].append(
                {
                    "start": s,
                    "end": e,
                    "categories": cats,
                    "unsupported": unsupported_categories(found, setting, sent_views, projection),
                    "phrases": phrases,
                }
            )
        return out

    def judge(
        self, texts: Sequence[str | None], settings: Sequence[str], projections: Sequence[str | None] | None = None
    ) -> list[dict]:
        projs = _check_batch(texts, settings, projections)
        return [self.judge_one(t, s, p) for t, s, p in zip(texts, settings, projs)]


_PROJECTION_RE = {
    "pa": re.compile(r"\b(?:PA|postero-?anterior|posterior[- ]anterior)\b", re.I),
    "ap": re.compile(r"\b(?:AP|antero-?posterior|anterior[- ]posterior)\b", re.I),
}


def _projection_views(phrase: str, views: Sequence[str]) -> list[str]:
    """A view phrase also names its projection when it says PA or AP ("single portable AP view")."""
    out = list(views)
    for kind, rx in _PROJECTION_RE.items():
        if kind not in out and rx.search(phrase):
            out.append(kind)
    return out


def _sentence_of(spans: list[tuple[int, int]], starts: list[int], start: int, end: int, length: int) -> tuple[int, int]:
    i = bisect.bisect_right(starts, start) - 1
    if i < 0:
        return (0, spans[0][1]) if spans else (0, length)
    s, e = spans[i]
    if start >= e and i + 1 < len(spans):
        # Between two sentences (e.g. in bare punctuation): the next one holds the words.
        s, e = spans[i + 1]
    return s, max(e, min(end, length))
