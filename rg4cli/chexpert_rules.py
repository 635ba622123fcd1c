"""The rules engine behind `rg4 label --backend rules`: CheXpert-style mention labelling.

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
   No Finding (`labeling.finalize_labels`).

All matching runs on the lower-cased report once per compiled pattern (not once
per sentence), so a report costs a few dozen regex scans: thousands per second.
Everything phrase-like lives in the JSON tables; this module holds only mechanics.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from .observations import NEGATIVE, OBSERVATIONS, POSITIVE, UNCERTAIN
from .sentences import split_sentences

PHRASES_RESOURCE = "chexpert_phrases.json"
NO_FINDING = OBSERVATIONS[13]
SUPPORT_DEVICES = OBSERVATIONS[12]

# Cue classes. PNU = pre-negation uncertainty (checked before negation, CheXpert).
PNU, NEG, UNC, UNC_SHORT = "pnu", "neg", "unc", "unc_short"
A_NEG, A_UNC, A_POS = "anchor_neg", "anchor_unc", "anchor_pos"
CUE_VALUE = {PNU: UNCERTAIN, NEG: NEGATIVE, UNC: UNCERTAIN, UNC_SHORT: UNCERTAIN,
             A_NEG: NEGATIVE, A_UNC: UNCERTAIN, A_POS: POSITIVE}

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
        return {"observation": self.observation, "value": self.value, "start": self.start, "end": self.end,
                "sentence_start": self.sentence_start, "sentence_end": self.sentence_end,
                "phrase": self.phrase, "cue": self.cue}


@dataclass
class Analysis:
    """Everything the engine found in one text."""

    raw: dict[str, int | None]        # the 13 aggregated mention labels (No Finding not derived yet)
    mentions: list[Mention]           # mentions of the 13 observations, in text order
    other_findings: list[Mention]     # findings outside the 14 (observation "other"): they block No Finding
    implied: dict[str, int]           # labels implied by phrases ("chf" -> Cardiomegaly uncertain)

    @property
    def blocks_no_finding(self) -> bool:
        return any(m.value in (POSITIVE, UNCERTAIN) for m in self.other_findings)


# ---- phrase syntax -> regex -----------------------------------------------------

def phrase_regex(phrase: str) -> str:
    """Translate one table phrase into a regex (see the table's _doc for the syntax)."""
    if phrase.startswith("re:"):
        return phrase[3:]
    if phrase == "?":
        return r"\?"
    out = []
    for ch in phrase:
        if ch == " ":
            out.append(r"[\s\-]+")
        elif ch == "*":
            out.append(r"\w*")
        elif ch == "(":
            out.append("(?:")
        elif ch in ")|":
            out.append(ch)
        elif ch == "?" and out and out[-1] == ")":
            out.append("?")
        else:
            out.append(re.escape(ch))
    body = "".join(out)
    head = r"(?<!\w)" if (phrase[0].isalnum() or phrase[0] == "(") else ""
    tail = r"(?!\w)" if (phrase[-1].isalnum() or phrase[-1] in "*)?") else ""
    return head + body + tail


def compile_phrases(phrases: list[str]) -> re.Pattern | None:
    """One alternation, longest phrases first so 'pleural effusion' wins over 'effusion'."""
    if not phrases:
        return None
    ordered = sorted(set(phrases), key=lambda p: (-len(p), p))
    return re.compile("|".join(f"(?:{phrase_regex(p)})" for p in ordered))


def compile_named(phrases: list[str]) -> tuple[re.Pattern | None, list[str]]:
    """Like compile_phrases, but each phrase is a named group so a match says which entry hit."""
    if not phrases:
        return None, []
    ordered = sorted(set(phrases), key=lambda p: (-len(p), p))
    return re.compile("|".join(f"(?P<p{i}>{phrase_regex(p)})" for i, p in enumerate(ordered))), ordered


# ---- the tables, compiled once ----------------------------------------------------

@dataclass
class ObservationRules:
    name: str
    mentions: re.Pattern | None
    anchors: re.Pattern | None
    uncertain: re.Pattern | None
    exclude: re.Pattern | None
    implies: dict[str, dict[str, int]]   # lower-cased phrase -> {observation: value}


class RuleSet:
    def __init__(self, table: dict[str, Any]):
        self.table = table
        self.observations: list[ObservationRules] = []
        for name in OBSERVATIONS[:13]:
            spec = table["observations"].get(name, {})
            self.observations.append(ObservationRules(
                name=name,
                mentions=compile_phrases(spec.get("mentions", [])),
                anchors=compile_phrases(spec.get("anchors", [])),
                uncertain=compile_phrases(spec.get("uncertain_mentions", [])),
                exclude=compile_phrases(spec.get("exclude", [])),
                implies={k.lower(): v for k, v in spec.get("implies", {}).items()},
            ))
        self.other = compile_phrases(table.get("other_findings", []))
        unc = table["uncertainty"]
        short = set(unc.get("short_window", []))
        self.short_window = int(unc.get("short_window_words", 4))
        self.pre_window = int(table.get("pre_window_words", 14))
        self.post_window = int(table.get("post_window_words", 10))
        desc = table["anchor_descriptors"]
        pnu = table["pre_negation_uncertainty"]
        neg = table["negation"]
        # (class, direction, pattern); direction "pre" cues precede the mention, "post" follow it.
        self.general_cues: list[tuple[str, str, re.Pattern]] = []
        for cls, direction, phrases in (
            (PNU, "pre", pnu["pre"]), (PNU, "post", pnu["post"]),
            (NEG, "pre", neg["pre"]), (NEG, "post", neg["post"]),
            (UNC, "pre", [p for p in unc["pre"] if p not in short]),
            (UNC, "post", [p for p in unc["post"] if p not in short]),
            (UNC_SHORT, "pre", [p for p in unc["pre"] if p in short]),
            (UNC_SHORT, "post", [p for p in unc["post"] if p in short]),
        ):
            pattern = compile_phrases(phrases)
            if pattern is not None:
                self.general_cues.append((cls, direction, pattern))
        self.descriptor_cues: list[tuple[str, re.Pattern]] = []
        for cls, key in ((A_NEG, "negative"), (A_UNC, "uncertain"), (A_POS, "positive")):
            pattern = compile_phrases(desc.get(key, []))
            if pattern is not None:
                self.descriptor_cues.append((cls, pattern))
        self.terminators = compile_phrases(table.get("terminators", []))
        self.anchor_default = table.get("anchor_default", POSITIVE)
        self.label_implications = table.get("label_implications", [])


def load_table() -> dict[str, Any]:
    text = resources.files("rg4cli.data").joinpath(PHRASES_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    return RuleSet(load_table())


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


def _drop_contained(cues: list[_Cue]) -> list[_Cue]:
    """A cue strictly inside a longer one is part of it ("not" in "not excluded")."""
    if len(cues) < 2:
        return cues
    keep = []
    for c in cues:
        inside = False
        for d in cues:
            if d is not c and d.start <= c.start and c.end <= d.end and (d.end - d.start) > (c.end - c.start):
                inside = True
                break
        if not inside:
            keep.append(c)
    return keep


class RulesEngine:
    def __init__(self, rules: RuleSet | None = None):
        self.rules = rules or default_rules()

    # -- per text --
    def analyse(self, text: str | None) -> Analysis:
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

        # Cues and terminators, bucketed by sentence.
        general: list[list[_Cue]] = [[] for _ in spans]
        for cls, direction, pattern in rules.general_cues:
            for m in pattern.finditer(low):
                if m.end() > m.start():
                    general[sentence_of(m.start())].append(_Cue(cls, direction, m.start(), m.end()))
        descriptors: list[list[_Cue]] = [[] for _ in spans]
        for cls, pattern in rules.descriptor_cues:
            for m in pattern.finditer(low):
                if m.end() > m.start():
                    descriptors[sentence_of(m.start())].append(_Cue(cls, "both", m.start(), m.end()))
        terms: list[list[tuple[int, int]]] = [[] for _ in spans]
        if rules.terminators is not None:
            for m in rules.terminators.finditer(low):
                if m.end() > m.start():
                    terms[sentence_of(m.start())].append((m.start(), m.end()))
        resolved_general: list[list[_Cue] | None] = [None] * len(spans)
        resolved_anchor: list[list[_Cue] | None] = [None] * len(spans)
        resolved_terms: list[list[tuple[int, int]] | None] = [None] * len(spans)

        def cues_for(i: int, anchor: bool) -> tuple[list[_Cue], list[tuple[int, int]]]:
            if resolved_general[i] is None:
                resolved_general[i] = _drop_contained(general[i])
                both = general[i] + descriptors[i]
                resolved_anchor[i] = _drop_contained(both) if descriptors[i] else resolved_general[i]
                every = general[i] + descriptors[i]
                # A terminator inside a cue is part of the cue ("likely" in "is likely").
                resolved_terms[i] = [t for t in terms[i]
                                     if not any(c.start <= t[0] and t[1] <= c.end and (c.end - c.start) > (t[1] - t[0])
                                                for c in every)]
            return (resolved_anchor[i] if anchor else resolved_general[i]), resolved_terms[i]  # type: ignore[return-value]

        mentions: list[Mention] = []
        implied: dict[str, int] = {}
        for obs in rules.observations:
            excluded = [(m.start(), m.end()) for m in obs.exclude.finditer(low)] if obs.exclude else []
            found: list[tuple[int, int, str]] = []  # (start, end, kind)
            for kind, pattern in (("mention", obs.mentions), ("uncertain", obs.uncertain), ("anchor", obs.anchors)):
                if pattern is None:
                    continue
                for m in pattern.finditer(low):
                    s, e = m.start(), m.end()
                    if e <= s or any(a < e and s < b for a, b in excluded):
                        continue
                    # An anchor or inherent-uncertain phrase inside a real mention adds nothing.
                    if any(fs < e and s < fe for fs, fe, _ in found):
                        continue
                    found.append((s, e, kind))
            for s, e, kind in found:
                i = sentence_of(s)
                value, cue = self._classify(low, s, e, i, kind, cues_for)
                mention = Mention(obs.name, value, s, e, spans[i][0], spans[i][1], text[s:e], cue)
                mentions.append(mention)
                if obs.implies and value in (POSITIVE, UNCERTAIN):
                    for target, v in obs.implies.get(low[s:e], {}).items():
                        implied[target] = _combine(implied.get(target), v)
        mentions.sort(key=lambda m: (m.start, OBSERVATIONS.index(m.observation)))

        others: list[Mention] = []
        if rules.other is not None:
            covered = [(m.start, m.end) for m in mentions]
            for m in rules.other.finditer(low):
                s, e = m.start(), m.end()
                if e <= s or any(a < e and s < b for a, b in covered):
                    continue
                i = sentence_of(s)
                value, cue = self._classify(low, s, e, i, "mention", cues_for)
                others.append(Mention("other", value, s, e, spans[i][0], spans[i][1], text[s:e], cue))

        for m in mentions:
            raw[m.observation] = _combine(raw[m.observation], m.value)
        return Analysis(raw, mentions, others, implied)

    def _classify(self, low: str, s: int, e: int, i: int, kind: str, cues_for) -> tuple[int, str | None]:
        rules = self.rules
        cues, terms = cues_for(i, kind == "anchor")

        def words(a: int, b: int) -> int:
            return len(_WORD_RE.findall(low, a, b)) if b > a else 0

        def blocked(a: int, b: int) -> bool:
            return any(a <= ts and te <= b for ts, te in terms)

        in_scope: list[tuple[int, _Cue]] = []  # (distance in characters, cue)
        for c in cues:
            if c.direction in ("pre", "both") and c.start < s and c.end <= e:
                # A cue may run into the mention ("no pleural" + "pleural effusion").
                limit = rules.short_window if c.cls == UNC_SHORT else rules.pre_window
                if words(c.end, s) <= limit and not blocked(c.end, s):
                    in_scope.append((max(0, s - c.end), c))
            elif c.direction in ("post", "both") and c.start >= e:
                limit = rules.short_window if c.cls == UNC_SHORT else rules.post_window
                if words(e, c.start) <= limit and not blocked(e, c.start):
                    in_scope.append((c.start - e, c))
        if kind == "anchor":
            if not in_scope:
                return rules.anchor_default, None
            _, best = min(in_scope, key=lambda dc: (dc[0], dc[1].direction != "post"))
            return CUE_VALUE[best.cls], low[best.start:best.end]
        for cls in (PNU, NEG, UNC, UNC_SHORT):
            hits = [(d, c) for d, c in in_scope if c.cls == cls]
            if hits:
                _, best = min(hits, key=lambda dc: dc[0])
                return CUE_VALUE[cls], low[best.start:best.end]
        if kind == "uncertain":
            return UNCERTAIN, None
        return POSITIVE, None


def _combine(old: int | None, new: int | None) -> int | None:
    """CheXpert's aggregation of several mentions: positive > uncertain > negative."""
    if old is None:
        return new
    if new is None:
        return old
    rank = {POSITIVE: 2, UNCERTAIN: 1, NEGATIVE: 0}
    return old if rank[old] >= rank[new] else new


combine_values = _combine
