"""The phrase tables of the rules labeler (data/chexpert_phrases.json), compiled once into one
`Scanner`: every phrase list becomes a character trie, and all lists are matched in one pass over
the lower-cased report. Phrase syntax: `expand_phrase`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import compress
from typing import Any

from rg4cli.vocab import OBSERVATIONS, POSITIVE

PHRASES_RESOURCE = "chexpert_phrases.json"

# Cue classes. PNU = pre-negation uncertainty (checked before negation, CheXpert).
PNU, NEG, NEG_NEAR, UNC, UNC_SHORT = "pnu", "neg", "neg_near", "unc", "unc_short"
A_NEG, A_UNC, A_POS = "anchor_neg", "anchor_unc", "anchor_pos"

# ---- phrase syntax -> regex -----------------------------------------------------


def expand_phrase(phrase: str) -> list[str]:
    """Expand '(a|b)' and optional '(x )?' groups: '(is|are) not seen' -> ['is not seen', 'are not seen']."""
    segments: list[list[str]] = []
    i = 0
    literal = []
    while i < len(phrase):
        ch = phrase[i]
        if ch == "(" and ")" in phrase[i:]:
            close = phrase.index(")", i)
            if literal:
                segments.append(["".join(literal)])
                literal = []
            options = phrase[i + 1 : close].split("|")
            i = close + 1
            if i < len(phrase) and phrase[i] == "?":
                options.append("")
                i += 1
            segments.append(options)
            continue
        literal.append(ch)
        i += 1
    if literal:
        segments.append(["".join(literal)])
    out = [""]
    for options in segments:
        out = [head + opt for head in out for opt in options]
    return sorted({" ".join(o.split()) for o in out if o.strip()})


def phrase_regex(phrase: str) -> str:
    """The regex of one plain phrase (no groups) or raw 're:' entry."""
    if phrase.startswith("re:"):
        return phrase[3:]
    body = "".join(_units(phrase))
    head = r"(?<!\w)" if phrase[0].isalnum() else ""
    tail = r"(?!\w)" if (phrase[-1].isalnum() or phrase[-1] == "*") else ""
    return head + body + tail


def compile_phrases(phrases: list[str]) -> re.Pattern | None:
    """One pattern for a list of phrases, matching the longest phrase at each position.

    Plain phrases (groups expanded) are merged into a character trie ("pleural effusion"
    and "pleural thickening" share "pleural "), so the regex engine rejects a position
    after one character test instead of trying every phrase: most of the labeler's
    speed. Raw 're:' entries are tried first, as they are.
    """
    if not phrases:
        return None
    raw = sorted({p for p in phrases if p.startswith("re:")}, key=lambda p: (-len(p), p))
    plain = sorted({e for p in phrases if not p.startswith("re:") for e in expand_phrase(p)})
    parts = [f"(?:{phrase_regex(p)})" for p in raw]
    words = [p for p in plain if p[0].isalnum()]
    signs = [p for p in plain if not p[0].isalnum()]
    if words:
        parts.append(r"(?<!\w)(?:" + _trie_regex(words) + ")")
    if signs:
        parts.append("(?:" + _trie_regex(signs) + ")")
    return re.compile("|".join(parts))


_END = ""  # trie key marking the end of a phrase


def _units(phrase: str) -> list[str]:
    return [r"[\s\-]+" if c == " " else r"\w*" if c == "*" else re.escape(c) for c in phrase]


def _trie_regex(phrases: list[str]) -> str:
    trie: dict = {}
    for phrase in phrases:
        node = trie
        for unit in _units(phrase):
            node = node.setdefault(unit, {})
        # The phrase ends on a word boundary when its last character is part of a word.
        node[_END] = r"(?!\w)" if (phrase[-1].isalnum() or phrase[-1] == "*") else ""
    return _emit(trie)


def _emit(node: dict) -> str:
    # Longer continuations first, then the end of a shorter phrase: the longest match wins.
    alts = [unit + _emit(child) for unit, child in node.items() if unit != _END]
    if _END in node:
        alts.append(node[_END])
    if len(alts) == 1:
        return alts[0]
    return "(?:" + "|".join(alts) + ")"


# ---- one scan for every phrase list -------------------------------------------------


class Scanner:
    """Find the matches of many phrase lists ("channels") in one pass over a text.

    Word-initial plain phrases of all channels go into one pattern that stops at each
    word start and tries every channel's trie in a lookahead, so overlapping matches
    of different channels ("enlarged heart" and "heart") are all seen while the text
    is scanned once. Raw 're:' entries and phrases starting with a sign (";", "?")
    are scanned per channel. Within a channel matches do not overlap (leftmost, then
    longest), as with re.finditer.
    """

    def __init__(self, channels: dict[Any, list[str]]):
        self.keys = list(channels)
        groups = []
        self.residual: dict[Any, re.Pattern] = {}
        for n, key in enumerate(self.keys):
            phrases = channels[key]
            plain = sorted({e for p in phrases if not p.startswith("re:") for e in expand_phrase(p)})
            words = [p for p in plain if p[0].isalnum()]
            rest = [p for p in phrases if p.startswith("re:")] + [p for p in plain if not p[0].isalnum()]
            if words:
                groups.append(f"(?=(?P<c{n}>{_trie_regex(words)})|)")
            if rest:
                self.residual[key] = compile_phrases(rest)  # type: ignore[assignment]  # dict typed for words, holds a pattern
        self.combined = re.compile(r"(?<!\w)(?=\w)" + "".join(groups)) if groups else None
        # Group number (in pattern order) -> channel key; channels without word phrases have no group.
        self.group_order = (
            [self.keys[int(name[1:])] for name in sorted(self.combined.groupindex, key=self.combined.groupindex.get)]
            if self.combined is not None
            else []
        )

    def scan(self, text: str) -> dict[Any, list[tuple[int, int]]]:
        found: dict[Any, list[tuple[int, int]]] = {key: [] for key in self.keys}
        if self.combined is not None:
            keys = self.group_order
            for m in self.combined.finditer(text):
                groups = m.groups()
                if not any(groups):
                    continue
                start = m.start()
                for n in compress(range(len(groups)), groups):
                    spans = found[keys[n]]
                    if spans and spans[-1][1] > start:
                        continue  # inside the previous match of the same channel
                    spans.append((start, start + len(groups[n])))
        for key, pattern in self.residual.items():
            extra = [(m.start(), m.end()) for m in pattern.finditer(text) if m.end() > m.start()]
            if extra:
                merged = sorted(found[key] + extra, key=lambda se: (se[0], -se[1]))
                spans = []
                for se in merged:
                    if not spans or se[0] >= spans[-1][1]:
                        spans.append(se)
                found[key] = spans
        return found


# ---- the tables, compiled once ----------------------------------------------------


@dataclass
class ObservationRules:
    name: str
    implies: dict[str, dict[str, int]]  # lower-cased phrase -> {observation: value}


class RuleSet:
    """The phrase tables, compiled into one Scanner; channel keys are tuples:
    ("mention" | "uncertain" | "anchor" | "negated_only" | "exclude", observation), ("cue", class, "pre" | "post"),
    ("descriptor", class), ("terminator",), ("list_terminator",), ("list_joiner",), ("cue_exception",),
    ("other",)."""

    def __init__(self, table: dict[str, Any]):
        self.table = table
        channels: dict[Any, list[str]] = {}
        self.observations: list[ObservationRules] = []
        for name in OBSERVATIONS[:13]:
            spec = table["observations"].get(name, {})
            channels[("mention", name)] = spec.get("mentions", [])
            channels[("uncertain", name)] = spec.get("uncertain_mentions", [])
            channels[("anchor", name)] = spec.get("anchors", [])
            channels[("exclude", name)] = spec.get("exclude", [])
            channels[("negated_only", name)] = spec.get("negated_only", [])
            self.observations.append(
                ObservationRules(name=name, implies={k.lower(): v for k, v in spec.get("implies", {}).items()})
            )
        channels[("other",)] = table.get("other_findings", [])
        channels[("other_exclude",)] = table.get("other_findings_exclude", [])
        channels[("no_finding_blocker",)] = table.get("no_finding_blockers", [])
        unc = table["uncertainty"]
        short = set(unc.get("short_window", []))
        self.short_window = int(unc.get("short_window_words", 4))
        self.near_window = int(table["negation"].get("post_near_window_words", 3))
        self.pre_window = int(table.get("pre_window_words", 14))
        self.post_window = int(table.get("post_window_words", 10))
        desc = table["anchor_descriptors"]
        pnu = table["pre_negation_uncertainty"]
        neg = table["negation"]
        # Cue direction: "pre" cues precede the mention they reach, "post" cues follow it.
        self.cue_channels: list[tuple[str, str]] = []
        for cls, direction, phrases in (
            (PNU, "pre", pnu["pre"]),
            (PNU, "post", pnu["post"]),
            (NEG, "pre", neg["pre"]),
            (NEG, "post", neg["post"]),
            (NEG_NEAR, "post", neg.get("post_near", [])),
            (UNC, "pre", [p for p in unc["pre"] if p not in short]),
            (UNC, "post", [p for p in unc["post"] if p not in short]),
            (UNC_SHORT, "pre", [p for p in unc["pre"] if p in short]),
            (UNC_SHORT, "post", [p for p in unc["post"] if p in short]),
        ):
            channels[("cue", cls, direction)] = phrases
            self.cue_channels.append((cls, direction))
        self.descriptor_channels: list[str] = []
        for cls, key in ((A_NEG, "negative"), (A_UNC, "uncertain"), (A_POS, "positive")):
            channels[("descriptor", cls)] = desc.get(key, [])
            self.descriptor_channels.append(cls)
        channels[("terminator",)] = table.get("terminators", [])
        channels[("list_terminator",)] = table.get("list_terminators", [])
        channels[("list_joiner",)] = table.get("list_joiners", [])
        channels[("cue_exception",)] = table.get("cue_exceptions", [])
        self.scanner = Scanner(channels)
        self.anchor_default = table.get("anchor_default", POSITIVE)
        self.label_implications = table.get("label_implications", [])


def load_table() -> dict[str, Any]:
    text = resources.files("rg4cli").joinpath("data", PHRASES_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    return RuleSet(load_table())
