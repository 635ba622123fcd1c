"""The rules judge's phrase tables: loading, checking and compiling them (one regex per category).

The tables (`data/hallucination_phrases.json`) are the one source of phrase knowledge:
the rules judge finds hits with them and the rules rewriter (rg4cli.dataset) cuts what
they flag.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import NamedTuple

from rg4cli.errors import InputError
from rg4cli.judges.verdict import VIEW_KINDS
from rg4cli.vocab import CATEGORIES

PHRASES_FILE = "hallucination_phrases.json"


class Hit(NamedTuple):
    """One matched phrase: category, its span, the span of its sentence, the words."""

    category: str
    start: int
    end: int
    sentence_start: int
    sentence_end: int
    phrase: str
    rule: str = ""
    views: tuple[str, ...] = ()


@dataclass
class _CategoryTable:
    category: str
    regex: re.Pattern
    rules: dict[str, dict]  # group name -> entry
    exclude: re.Pattern | None
    sentence_filters: dict[str, re.Pattern] = field(default_factory=dict)  # group name -> filter


def _entry_regex(entry: dict, where: str) -> str:
    if "regex" in entry:
        return entry["regex"]
    if "phrases" in entry:
        words = [p for p in entry["phrases"] if isinstance(p, str) and p.strip()]
        if not words:
            raise InputError(f"{where}: empty phrase list")
        alts = sorted((r"\s+".join(re.escape(w) for w in p.split()) for p in words), key=len, reverse=True)
        return r"\b(?:" + "|".join(alts) + r")\b"
    raise InputError(f"{where}: an entry needs `regex` or `phrases`")


def _compile(pattern: str, where: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise InputError(f"{where}: bad regular expression: {exc}") from exc


def load_phrases(source: str | Path | dict | None = None) -> dict:
    """The phrase tables as a dict: the packaged file, another JSON file, or a dict."""
    if isinstance(source, dict):
        return source
    if source is None:
        text = resources.files("rg4cli.data").joinpath(PHRASES_FILE).read_text(encoding="utf-8")
        name = PHRASES_FILE
    else:
        p = Path(source)
        if not p.is_file():
            raise InputError(f"no such phrase table: {p}")
        text, name = p.read_text(encoding="utf-8"), str(p)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"bad JSON: {exc.msg} at line {exc.lineno}", source=name) from exc


def _build_tables(data: dict) -> dict[str, _CategoryTable]:
    filters_src = data.get("sentence_filters", {})
    filters = {name: _compile(rx, f"sentence_filters.{name}") for name, rx in filters_src.items()}
    cats = data.get("categories")
    if not isinstance(cats, dict):
        raise InputError("phrase table: no `categories` object")
    tables = {}
    for cat in CATEGORIES:
        spec = cats.get(cat)
        if not spec or not spec.get("patterns"):
            raise InputError(f"phrase table: category {cat!r} has no patterns")
        parts, rules, rule_filters = [], {}, {}
        default_filter = spec.get("unless_sentence")
        for i, entry in enumerate(spec["patterns"]):
            where = f"categories.{cat}.patterns[{i}]"
            rx = _entry_regex(entry, where)
            _compile(rx, where)  # report a bad entry by its own position
            group = f"r{i}"
            parts.append(f"(?P<{group}>{rx})")
            rules[group] = entry
            fname = entry.get("unless_sentence", default_filter)
            if fname:
                if fname not in filters:
                    raise InputError(f"{where}: unknown sentence filter {fname!r}")
                rule_filters[group] = filters[fname]
            for v in entry.get("views", ()):
                if v not in VIEW_KINDS:
                    raise InputError(f"{where}: unknown view kind {v!r}")
        excl = [_entry_regex(e, f"categories.{cat}.exclude[{i}]") for i, e in enumerate(spec.get("exclude", []))]
        tables[cat] = _CategoryTable(
            category=cat,
            regex=_compile(_fast_alternation("|".join(parts)), f"categories.{cat}"),
            rules=rules,
            exclude=_compile(_fast_alternation("|".join(f"(?:{x})" for x in excl)), f"categories.{cat}.exclude")
            if excl
            else None,
            sentence_filters=rule_filters,
        )
    return tables


def prefilter(pattern: re.Pattern) -> re.Pattern:
    """The same compiled regex, tried only where a match can start (`_fast_alternation`);
    the rules rewriter's grammar uses it too."""
    fast = _fast_alternation(pattern.pattern)
    return pattern if fast == pattern.pattern else re.compile(fast, pattern.flags)


def _fast_alternation(pattern: str) -> str:
    """The same pattern, tried only where a match can start (speed: ~2x on report text).

    Python's regex engine tries every branch of a long alternation at every position;
    a leading lookahead on the characters a match can start with (computed from the
    parsed pattern) skips most positions at once. When the start cannot be worked out
    (a branch may start with any word character), the pattern is returned unchanged.
    """
    chars = _first_chars(pattern)
    if not chars or len(chars) > 45:
        return pattern
    cls = "".join(re.escape(c) for c in sorted(chars | {c.upper() for c in chars}))
    return f"(?=[{cls}])(?:{pattern})"


def _first_chars(pattern: str) -> set[str] | None:
    # Why CPython's private parser stays: the standard library has no public way to read a
    # regular expression's structure, and the tables' `regex` entries are free-form, so the
    # characters a match can start with cannot be listed without parsing them. Reading them
    # off the `phrases` entries alone would leave every regex entry unfiltered, and the judge
    # twice as slow (docs/rewriter.md). Any failure (another interpreter, a changed private
    # API) returns None and the plain pattern is used: the same hits, only slower.
    try:
        try:
            import re._constants as sre_c  # Python >= 3.11
            import re._parser as sre_p
        except ImportError:  # pragma: no cover - Python 3.10
            import sre_constants as sre_c  # type: ignore[no-redef]  # the same module, its 3.10 name
            import sre_parse as sre_p  # type: ignore[no-redef]  # the same module, its 3.10 name
        parsed = sre_p.parse(pattern, re.IGNORECASE)
    except Exception:  # noqa: BLE001 - an optimisation only: fall back to the plain pattern
        return None

    def first(items) -> tuple[set[str] | None, bool]:
        """(chars a match of `items` can start with, whether `items` can match empty)."""
        out: set[str] = set()
        for op, av in items:
            if op is sre_c.AT:
                continue
            if op is sre_c.LITERAL:
                return out | {chr(av).lower()}, False
            if op is sre_c.IN:
                for o, a in av:
                    if o is sre_c.LITERAL:
                        out.add(chr(a).lower())
                    elif o is sre_c.RANGE and a[1] - a[0] < 40:
                        out |= {chr(x).lower() for x in range(a[0], a[1] + 1)}
                    elif o is sre_c.CATEGORY and a is sre_c.CATEGORY_DIGIT:
                        out |= set("0123456789")
                    else:
                        return None, False
                return out, False
            if op is sre_c.SUBPATTERN:
                sub, empty = first(av[-1])
            elif op is sre_c.BRANCH:
                sub, empty = set(), False
                for branch in av[1]:
                    b, e = first(branch)
                    if b is None:
                        return None, False
                    sub |= b
                    empty = empty or e
            elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
                sub, empty = first(av[2])
                empty = empty or av[0] == 0
            elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
                continue  # a lookaround consumes nothing; the next item decides
            else:
                return None, False
            if sub is None:
                return None, False
            out |= sub
            if not empty:
                return out, False
        return out, True

    chars, can_be_empty = first(list(parsed))
    if chars is None or can_be_empty:
        return None
    return chars
