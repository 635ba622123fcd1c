"""Sentence splitting with character spans, for report language.

Spans (start, end) index the original string, so labels, hallucination flags and
loss weights found per sentence map back onto the exact characters a model learns.
Report text breaks naive splitters: "Dr. ___", "1.5 cm", "1. ... 2. ..." numbered
lists, de-identification marks ("___", "XXXX"), lower-cased generated text
("the heart is normal . lungs are clear ."), and section markers ("impression:").
"""

from __future__ import annotations

import re

# Tokens that end with a period without ending a sentence.
ABBREVIATIONS = frozenset(
    {
        "dr",
        "drs",
        "mr",
        "mrs",
        "ms",
        "vs",
        "v",
        "e.g",
        "i.e",
        "eg",
        "ie",
        "approx",
        "apprx",
        "st",
        "no",
        "fig",
        "ref",
        "cf",
        "etc",
        "al",
        "min",
        "max",
        "prof",
        "sr",
        "jr",
        "mt",
        "ft",
        "in",
        "resp",
    }
)

_CANDIDATE_RE = re.compile(r"[.!?]+(?=[\s\"')\]]|$)|\n\s*\n")
# A numbered-list marker starts an item: "1. ", "2) " at text start or after a space.
_LIST_MARK_RE = re.compile(r"(?:(?<=\s)|^)(\d{1,2})[.)]\s+(?=\S)")
# rg4 target-text markers start a section, hence a sentence.
_SECTION_MARK_RE = re.compile(r"(?:(?<=\s)|^)(?:findings?|impressions?)\s*:", re.IGNORECASE)
# The token before a candidate end: letters and periods ("Dr", "e.g"), starting with a letter.
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.")
_NEXT_VISIBLE_RE = re.compile(r"\s*(\S?)")
_TITLES = frozenset({"dr", "drs", "mr", "mrs", "ms", "prof", "vs", "v", "e.g", "i.e", "cf", "approx"})


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return (start, end) character spans of the sentences of `text`, in order.

    Linear in the length of `text`: every look-behind or look-ahead from a candidate
    end stops at the nearest whitespace, and whitespace separates candidates.
    """
    if not text:
        return []
    cuts: set[int] = set()
    marks = list(_LIST_MARK_RE.finditer(text))
    list_mark_periods = {m.end(1) for m in marks}
    for m in _CANDIDATE_RE.finditer(text):
        if m.group().startswith("\n"):
            cuts.add(m.end())
            continue
        if m.start() in list_mark_periods:
            continue  # the "1." of a numbered item
        word = _word_before(text, m.start())
        if m.group() == "." and word and word.lower().rstrip(".") in ABBREVIATIONS:
            # "Dr. ___" / "vs. prior": not an end, unless a capitalised sentence start follows a non-title word
            if word.lower() in _TITLES:
                continue
            after = _NEXT_VISIBLE_RE.match(text, m.end()).group(1)
            if not after.isupper():
                continue
        cuts.add(m.end())
    # After a section marker, the first list mark ("IMPRESSION: 1. No effusion.") stays with its header:
    # remember where the first visible character after each marker is.
    header_bodies = set()
    for m in _SECTION_MARK_RE.finditer(text):
        cuts.add(m.start())
        header_bodies.add(_NEXT_VISIBLE_RE.match(text, m.end()).start(1))
    for m in marks:
        if m.start() not in header_bodies:
            cuts.add(m.start())
    spans: list[tuple[int, int]] = []
    prev = 0
    for cut in sorted(cuts) + [len(text)]:
        if cut <= prev:
            continue
        span = _strip_span(text, prev, cut)
        if span is not None:
            spans.append(span)
        prev = cut
    return spans


def _word_before(text: str, end: int) -> str | None:
    """The longest run of letters and periods ending at `end` (or before a newline there), from its
    first letter; None when there is no letter. Scans back only over that run."""
    word = _run_before(text, end)
    if word is None and end > 0 and text[end - 1] == "\n":
        word = _run_before(text, end - 1)
    return word


def _run_before(text: str, end: int) -> str | None:
    i = end
    while i > 0 and text[i - 1] in _WORD_CHARS:
        i -= 1
    while i < end and text[i] == ".":
        i += 1
    return text[i:end] if i < end else None


def _strip_span(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start >= end:
        return None
    # A span of bare punctuation ("." after a de-id mark) belongs to no sentence.
    if not any(ch.isalnum() for ch in text[start:end]) and "_" not in text[start:end]:
        return None
    return start, end


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]
