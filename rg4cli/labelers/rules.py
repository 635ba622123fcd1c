"""The rules engine behind `rg4 label --backend rules`: CheXpert-style mention labeling.

What it does, per report (the conventions of the CheXpert labeler and NegBio, with
regular-expression scopes in place of a dependency parse):
1. find mentions of each observation (phrase tables in data/chexpert_phrases.json);
   "anchors" such as "heart size" or "mediastinal contours" are neutral names whose
   value comes from the nearest descriptor ("normal", "stable", "enlarged");
2. classify each mention: pre-negation uncertainty ("cannot be excluded", "no new"),
   then negation ("no", "without", "has resolved"), then uncertainty ("may",
   "possible", "X versus Y"); a cue reaches a mention only inside its scope: the same
   sentence, no terminator ("but", "however", "which", ";") between them, and at most
   a window of words apart;
3. aggregate per observation (positive beats uncertain beats negative) and derive
   No Finding (`labelers.backends.finalize_labels`).

Speed: the phrase tables are matched in one pass over the report (labelers.phrases.Scanner),
then bucketed into sentences (benchmarks/bench_label.py measures it). Everything phrase-like
lives in the JSON tables; this module holds only mechanics.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from rg4cli.labelers.phrases import A_NEG, A_POS, A_UNC, NEG, NEG_NEAR, PNU, UNC, UNC_SHORT, RuleSet, default_rules
from rg4cli.text.sentences import split_sentences
from rg4cli.vocab import NEGATIVE, OBSERVATIONS, POSITIVE, UNCERTAIN

CUE_VALUE = {
    PNU: UNCERTAIN,
    NEG: NEGATIVE,
    NEG_NEAR: NEGATIVE,
    UNC: UNCERTAIN,
    UNC_SHORT: UNCERTAIN,
    A_NEG: NEGATIVE,
    A_UNC: UNCERTAIN,
    A_POS: POSITIVE,
}

_WORD_RE = re.compile(r"\w+")


@dataclass(frozen=True)
class Mention:
    """One phrase that named an observation, with the value it gave and why.

    `start`/`end` are the character span of the phrase in the text given to the
    labeler, `sentence_start`/`sentence_end` that of its sentence; `cue` is the
    negation/uncertainty/descriptor text that decided the value (None: positive
    because nothing in scope said otherwise).
    """

    observation: str
    value: int
    start: int
    end: int
    sentence_start: int
    sentence_end: int
    phrase: str
    cue: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "observation": self.observation,
            "value": self.value,
            "start": self.start,
            "end": self.end,
            "sentence_start": self.sentence_start,
            "sentence_end": self.sentence_end,
            "phrase": self.phrase,
            "cue": self.cue,
        }


@dataclass
class Analysis:
    """Everything the engine found in one text."""

    raw: dict[str, int | None]  # the 13 aggregated mention labels (No Finding not derived yet)
    mentions: list[Mention]  # mentions of the 13 observations, in text order
    other_findings: list[Mention]  # findings outside the 14 (observation "other"): they block No Finding
    implied: dict[str, int]  # labels implied by phrases ("chf" -> Cardiomegaly uncertain)
    # Phrases that leave No Finding blank whatever a cue says of them (table: no_finding_blockers).
    no_finding_blockers: list[str] = field(default_factory=list)

    @property
    def blocks_no_finding(self) -> bool:
        return bool(self.no_finding_blockers) or any(m.value in (POSITIVE, UNCERTAIN) for m in self.other_findings)


# ---- the engine ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cue:
    cls: str
    direction: str  # "pre", "post" or "both" (descriptors)
    start: int
    end: int


def _lower(text: str) -> str:
    low = text.lower()
    # Offsets must line up with the caller's text; a few characters change length when
    # lower-cased (e.g. "İ"), so fall back to a per-character map then.
    return low if len(low) == len(text) else "".join(c.lower()[:1] or c for c in text)


class _Spans:
    """Containment and overlap queries on a fixed set of spans (they may overlap), each O(log n).

    The spans are sorted by start with a running maximum of their ends, so "is there a
    span starting at or before x that reaches past y" is one bisection: no pairwise
    loops, whatever the length of the text.
    """

    __slots__ = ("starts", "reach")

    def __init__(self, spans: Iterable[tuple[int, int]]):
        ordered = sorted(spans)
        self.starts = [a for a, _ in ordered]
        self.reach = list(accumulate((b for _, b in ordered), max))

    def _reach(self, count: int) -> int:
        return self.reach[count - 1] if count else -1

    def covers(self, s: int, e: int) -> bool:
        """Some span (a, b) has a <= s and e <= b."""
        return self._reach(bisect.bisect_right(self.starts, s)) >= e

    def covers_longer(self, s: int, e: int) -> bool:
        """Some span strictly longer than (s, e) has a <= s and e <= b."""
        return (
            self._reach(bisect.bisect_left(self.starts, s)) >= e or self._reach(bisect.bisect_right(self.starts, s)) > e
        )

    def overlaps(self, s: int, e: int) -> bool:
        """Some span (a, b) has a < e and s < b."""
        return self._reach(bisect.bisect_left(self.starts, e)) > s


def _drop_contained(cues: list[_Cue]) -> list[_Cue]:
    """A cue strictly inside a longer one of the same direction is part of it ("no" in "no evidence of").

    Cues of opposite directions both stay: in "there may be an effusion" the post cue
    "may be" must not hide the pre cue "may". Order is kept.
    """
    if len(cues) < 2:
        return cues
    by_direction: dict[str, list[tuple[int, int]]] = {"pre": [], "post": [], "both": []}
    for c in cues:
        by_direction[c.direction].append((c.start, c.end))
    # A cue can be hidden by one of its own direction or a "both" one; a "both" cue by any.
    hiders = {
        "pre": _Spans(by_direction["pre"] + by_direction["both"]),
        "post": _Spans(by_direction["post"] + by_direction["both"]),
    }
    hiders["both"] = _Spans(by_direction["pre"] + by_direction["post"] + by_direction["both"])
    return [c for c in cues if not hiders[c.direction].covers_longer(c.start, c.end)]


@dataclass
class _Scope:
    """The cues and terminators of one sentence, indexed for the window around a mention."""

    cues: list[_Cue]
    term_starts: list[int]  # terminator starts, ascending
    term_reach: list[int]  # term_reach[n]: the earliest end among terminators n, n+1, ...
    pre_ends: list[int]  # ends of the cues that can precede a mention, ascending
    pre_index: list[int]  # their positions in `cues`
    post_starts: list[int]  # starts of the cues that can follow a mention, ascending
    post_index: list[int]

    @classmethod
    def build(cls, cues: list[_Cue], terms: list[tuple[int, int]]) -> _Scope:
        pre = sorted((c.end, n) for n, c in enumerate(cues) if c.direction != "post")
        post = sorted((c.start, n) for n, c in enumerate(cues) if c.direction != "pre")
        terms = sorted(terms)
        reach = list(accumulate((b for _, b in reversed(terms)), min))[::-1]
        return cls(
            cues,
            [a for a, _ in terms],
            reach,
            [x for x, _ in pre],
            [n for _, n in pre],
            [x for x, _ in post],
            [n for _, n in post],
        )

    def blocked(self, a: int, b: int) -> bool:
        """A terminator lies within [a, b]."""
        n = bisect.bisect_left(self.term_starts, a)
        return n < len(self.term_starts) and self.term_reach[n] <= b

    def near(self, pre_from: int, s: int, e: int, post_to: int) -> list[_Cue]:
        """Cues ending in [pre_from, e] or starting in [e, post_to], in their original order."""
        picked = set(
            self.pre_index[bisect.bisect_left(self.pre_ends, pre_from) : bisect.bisect_right(self.pre_ends, e)]
        )
        picked.update(
            self.post_index[bisect.bisect_left(self.post_starts, e) : bisect.bisect_right(self.post_starts, post_to)]
        )
        return [self.cues[n] for n in sorted(picked)]


class RulesEngine:
    def __init__(self, rules: RuleSet | None = None):
        self.rules = rules or default_rules()

    # -- per text --
    def analyse(self, text: str | None) -> Analysis:
        """Mentions and labels of one text; time and memory linear in its length (every
        span query is a bisection over sorted spans, every scope a bounded window of words)."""
        raw: dict[str, int | None] = {name: None for name in OBSERVATIONS[:13]}
        if not text or not text.strip():
            return Analysis(raw, [], [], {})
        low = _lower(text)
        spans = split_sentences(text)
        if not spans:
            return Analysis(raw, [], [], {})
        starts = [s for s, _ in spans]
        rules = self.rules

        def sentence_of(pos: int) -> int:
            return max(0, bisect.bisect_right(starts, pos) - 1)

        found = rules.scanner.scan(low)
        # Cues and terminators, bucketed by sentence.
        exceptions = _Spans(found[("cue_exception",)])
        general: list[list[_Cue]] = [[] for _ in spans]
        for cls, direction in rules.cue_channels:
            for cs, ce in found[("cue", cls, direction)]:
                # "not seen on the prior" says nothing about today's study: drop cues inside it.
                if exceptions.covers(cs, ce):
                    continue
                general[sentence_of(cs)].append(_Cue(cls, direction, cs, ce))
        descriptors: list[list[_Cue]] = [[] for _ in spans]
        for cls in rules.descriptor_channels:
            for cs, ce in found[("descriptor", cls)]:
                descriptors[sentence_of(cs)].append(_Cue(cls, "both", cs, ce))
        terms: list[list[tuple[int, int]]] = [[] for _ in spans]
        for ts, te in found[("terminator",)]:
            terms[sentence_of(ts)].append((ts, te))
        # A list terminator (", small ...", "and the ...") ends a scope unless the sentence goes on
        # as a list joined by "or"/"nor" ("no effusion, large pneumothorax, or consolidation").
        last_joiner = [-1] * len(spans)
        for js, _ in found[("list_joiner",)]:
            last_joiner[sentence_of(js)] = js
        for ts, te in found[("list_terminator",)]:
            i = sentence_of(ts)
            if last_joiner[i] < te:
                terms[i].append((ts, te))
        scopes: dict[tuple[int, bool], _Scope] = {}

        def scope_of(i: int, anchor: bool) -> _Scope:
            key = (i, anchor)
            if key not in scopes:
                every = general[i] + descriptors[i]
                # A terminator inside a cue is part of the cue ("likely" in "is likely").
                cue_spans = _Spans((c.start, c.end) for c in every)
                kept_terms = [t for t in terms[i] if not cue_spans.covers_longer(*t)]
                general_cues = _drop_contained(general[i])
                cues = _drop_contained(every) if anchor and descriptors[i] else general_cues
                scopes[key] = _Scope.build(cues, kept_terms)
            return scopes[key]

        words = _WordIndex(low)
        mentions: list[Mention] = []
        implied: dict[str, int] = {}
        for obs in rules.observations:
            excluded = _Spans(found[("exclude", obs.name)])
            hits: list[tuple[int, int, str]] = []  # (start, end, kind)
            taken = _Spans(())
            for kind in ("mention", "uncertain", "anchor", "negated_only"):
                new = [
                    (s, e, kind)
                    for s, e in found[(kind, obs.name)]
                    # An anchor or inherent-uncertain phrase inside a real mention adds nothing.
                    if not excluded.overlaps(s, e) and not taken.overlaps(s, e)
                ]
                if new:
                    hits += new
                    taken = _Spans((s, e) for s, e, _ in hits)
            for s, e, kind in hits:
                i = sentence_of(s)
                value, cue = self._classify(low, s, e, kind, scope_of(i, kind == "anchor"), words)
                if kind == "negated_only" and value != NEGATIVE:
                    continue
                mention = Mention(obs.name, value, s, e, spans[i][0], spans[i][1], text[s:e], cue)
                mentions.append(mention)
                if obs.implies and value in (POSITIVE, UNCERTAIN):
                    for target, v in obs.implies.get(low[s:e], {}).items():
                        implied[target] = combine_values(implied.get(target), v)
        mentions.sort(key=lambda m: (m.start, OBSERVATIONS.index(m.observation)))

        others: list[Mention] = []
        if found[("other",)]:
            # A mention of the 13 or an excluded phrase ("normal interstitial markings") covers it.
            covered = _Spans([(m.start, m.end) for m in mentions] + found[("other_exclude",)])
            for s, e in found[("other",)]:
                if covered.overlaps(s, e):
                    continue
                i = sentence_of(s)
                value, cue = self._classify(low, s, e, "mention", scope_of(i, False), words)
                others.append(Mention("other", value, s, e, spans[i][0], spans[i][1], text[s:e], cue))

        for m in mentions:
            raw[m.observation] = combine_values(raw[m.observation], m.value)
        blockers = [text[s:e] for s, e in found[("no_finding_blocker",)]]
        return Analysis(raw, mentions, others, implied, blockers)

    def _classify(
        self, low: str, s: int, e: int, kind: str, scope: _Scope, words: _WordIndex
    ) -> tuple[int, str | None]:
        rules = self.rules
        pre_reach = max(rules.pre_window, rules.short_window)
        post_reach = max(rules.post_window, rules.near_window, rules.short_window)
        in_scope: list[tuple[int, _Cue]] = []  # (distance in characters, cue)
        for c in scope.near(words.reach_back(s, pre_reach), s, e, words.reach_forward(e, post_reach)):
            short = c.cls == UNC_SHORT
            if c.direction in ("pre", "both") and c.start < s and c.end <= e:
                # A cue may run into the mention ("no pleural" + "pleural effusion").
                if short and low.find(",", c.end, s) >= 0:
                    continue  # "X or Y" joins neighbours, not list items across a comma
                if words.count(c.end, s) <= (rules.short_window if short else rules.pre_window) and not scope.blocked(
                    c.end, s
                ):
                    in_scope.append((max(0, s - c.end), c))
            elif c.direction in ("post", "both") and c.start >= e:
                if short and _comma_before_tail(low, e, c.start):
                    continue  # "opacity, atelectasis versus pneumonia": the opacity is not in doubt
                # "X is normal" reaches only its subject, except for anchors, whose descriptors reach
                # across lists ("heart size, mediastinal contour, and vasculature are within normal limits").
                near = c.cls == NEG_NEAR and kind != "anchor"
                limit = rules.short_window if short else rules.near_window if near else rules.post_window
                if words.count(e, c.start) <= limit and not scope.blocked(e, c.start):
                    in_scope.append((c.start - e, c))
        if kind == "anchor":
            if not in_scope:
                return rules.anchor_default, None
            # "Stable"/"unchanged" says how the anchor compares with before, not what it is: a size
            # descriptor in scope decides ("heart size is unchanged and within normal limits": normal).
            sized = [dc for dc in in_scope if dc[1].cls in (A_NEG, A_POS, NEG_NEAR)]
            pool = sized if sized and any(c.cls == A_UNC for _, c in in_scope) else in_scope
            _, best = min(pool, key=lambda dc: (dc[0], dc[1].direction != "post"))
            return CUE_VALUE[best.cls], low[best.start : best.end]
        for cls in (PNU, NEG, NEG_NEAR, UNC, UNC_SHORT):
            hits = [(d, c) for d, c in in_scope if c.cls == cls]
            if hits:
                _, best = min(hits, key=lambda dc: dc[0])
                return CUE_VALUE[cls], low[best.start : best.end]
        if kind == "uncertain":
            return UNCERTAIN, None
        return POSITIVE, None


class _WordIndex:
    """The words (\\w+ runs) of a text, for counting words between two offsets in O(log n)."""

    __slots__ = ("starts", "ends", "size")

    def __init__(self, low: str):
        self.starts: list[int] = []
        self.ends: list[int] = []
        for m in _WORD_RE.finditer(low):
            self.starts.append(m.start())
            self.ends.append(m.end())
        self.size = len(low)

    def count(self, a: int, b: int) -> int:
        """Words touching [a, b) (a word cut by either end counts), 0 when b <= a."""
        if b <= a:
            return 0
        return bisect.bisect_left(self.starts, b) - bisect.bisect_right(self.ends, a)

    def reach_back(self, pos: int, n: int) -> int:
        """The smallest a with count(a, pos) <= n."""
        k = bisect.bisect_left(self.starts, pos) - n - 1
        return self.ends[k] if k >= 0 else 0

    def reach_forward(self, pos: int, n: int) -> int:
        """The largest b with count(pos, b) <= n."""
        k = bisect.bisect_right(self.ends, pos) + n
        return self.starts[k] if k < len(self.starts) else self.size


def _comma_before_tail(low: str, a: int, b: int) -> bool:
    """A comma in low[a:b] once trailing commas and spaces are stripped."""
    comma = low.find(",", a, b)
    if comma < 0:
        return False
    end = b
    while end > comma and low[end - 1] in ", ":
        end -= 1
    return low.find(",", a, end) >= 0


def combine_values(old: int | None, new: int | None) -> int | None:
    """CheXpert's aggregation of several mentions: positive > uncertain > negative."""
    if old is None:
        return new
    if new is None:
        return old
    rank = {POSITIVE: 2, UNCERTAIN: 1, NEGATIVE: 0}
    return old if rank[old] >= rank[new] else new
