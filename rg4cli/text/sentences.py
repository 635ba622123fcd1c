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
ABBREVIATIONS = frozenset({
    "dr", "drs", "mr", "mrs", "ms", "vs", "v", "e.g", "i.e", "eg", "ie", "approx", "apprx", "st", "no",
    "fig", "ref", "cf", "etc", "al", "min", "max", "prof", "sr", "jr", "mt", "ft", "in", "resp",
})

_CANDIDATE_RE = re.compile(r"[.!?]+(?=[\s\"')\]]|$)|\n\s*\n")
# A numbered-list marker starts an item: "1. ", "2) " at text start or after a space.
_LIST_MARK_RE = re.compile(r"(?:(?<=\s)|^)(\d{1,2})[.)]\s+(?=\S)")
# rg4 target-text markers start a section, hence a sentence.
_SECTION_MARK_RE = re.compile(r"(?:(?<=\s)|^)(?:findings?|impressions?)\s*:", re.IGNORECASE)
_WORD_BEFORE_RE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Return (start, end) character spans of the sentences of `text`, in order."""
    if not text:
        return []
    cuts: set[int] = set()
    list_marks = {m.start(): m for m in _LIST_MARK_RE.finditer(text)}
    list_mark_periods = {m.start(1) + len(m.group(1)) for m in list_marks.values()}
    for m in _CANDIDATE_RE.finditer(text):
        if m.group().startswith("\n"):
            cuts.add(m.end())
            continue
        if m.start() in list_mark_periods:
            continue  # the "1." of a numbered item
        word = _WORD_BEFORE_RE.search(text[: m.start()])
        if m.group() == "." and word and word.group(1).lower().rstrip(".") in ABBREVIATIONS:
            # "Dr. ___" / "vs. prior": not an end, unless a capitalised sentence start follows a non-title word
            if word.group(1).lower() in {"dr", "drs", "mr", "mrs", "ms", "prof", "vs", "v", "e.g", "i.e", "cf", "approx"}:
                continue
            after = text[m.end():].lstrip()
            if not after[:1].isupper():
                continue
        cuts.add(m.end())
    section_ends = set()
    for m in _SECTION_MARK_RE.finditer(text):
        cuts.add(m.start())
        section_ends.add(m.end())
    for start in list_marks:
        # "IMPRESSION: 1. No effusion." stays one sentence with its header.
        if not any(text[e:start].strip() == "" for e in section_ends if e <= start):
            cuts.add(start)
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
