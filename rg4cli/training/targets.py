"""Sentence weights on an R2Gen-cleaned target (the paper preset's `report_text: r2gen`).

`rg4 weights` writes `sentence_weights` as character spans of the raw target
(`join_sections(findings, impression)`). When the model learns the cleaned text
(rg4cli.text.cleaning.r2gen_clean), those spans must move with the characters: this
module runs the cleaning on a string that tracks where each kept character came from,
and maps every span onto the characters of the cleaned text it became.

The tracked cleaning is checked against `r2gen_clean` itself; if the two ever differ
(a character whose lower case is not one character), the spans are not placed and
`clean_spans` returns None: the example then trains without weights.
"""

from __future__ import annotations

from typing import cast

from rg4cli.text.cleaning import _STRIP_CHARS_RE, _report_cleaner, r2gen_clean

NO_SOURCE = -1


class _Tracked:
    """A string with, per character, the index of the raw character it came from."""

    def __init__(self, text: str, origin: list[int]):
        self.text, self.origin = text, origin

    def replace(self, old: str, new: str) -> _Tracked:
        out, org, i = [], [], 0
        while True:
            j = self.text.find(old, i)
            if j < 0:
                break
            out.append(self.text[i:j])
            org.extend(self.origin[i:j])
            out.append(new)
            org.extend(self.origin[j + min(k, len(old) - 1)] for k in range(len(new)))
            i = j + len(old)
        out.append(self.text[i:])
        org.extend(self.origin[i:])
        return _Tracked("".join(out), org)

    def strip(self) -> _Tracked:
        left = len(self.text) - len(self.text.lstrip())
        right = len(self.text.rstrip())
        if right <= left:
            return _Tracked("", [])
        return _Tracked(self.text[left:right], self.origin[left:right])

    def lower(self) -> _Tracked:
        out, org = [], []
        for ch, o in zip(self.text, self.origin):
            low = ch.lower()
            out.append(low)
            org.extend([o] * len(low))
        return _Tracked("".join(out), org)

    def split(self, sep: str) -> list[_Tracked]:
        parts, i = [], 0
        while True:
            j = self.text.find(sep, i)
            if j < 0:
                break
            parts.append(_Tracked(self.text[i:j], self.origin[i:j]))
            i = j + len(sep)
        parts.append(_Tracked(self.text[i:], self.origin[i:]))
        return parts

    def drop_chars(self) -> _Tracked:
        keep = [k for k, ch in enumerate(self.text) if not _STRIP_CHARS_RE.fullmatch(ch)]
        return _Tracked("".join(self.text[k] for k in keep), [self.origin[k] for k in keep])


def clean_with_origin(text: str) -> tuple[str, list[int]]:
    """(r2gen_clean(text), raw index per cleaned character or NO_SOURCE): rg4cli.text.cleaning's own
    report step runs on the tracked string (it only calls replace/strip/lower/split), then its
    per-sentence step is repeated here (a regular-expression deletion the tracked string does itself)."""
    if not text or not text.strip():
        return "", []
    out, org = [], []
    # The cleaner only calls str methods, which _Tracked has, so what it returns is tracked too.
    tracked = cast(str, _Tracked(text, list(range(len(text)))))
    for k, sentence in enumerate(_report_cleaner(tracked)):
        s = cast(_Tracked, sentence)
        for ch in ('"', "/", "\\", "'"):
            s = s.replace(ch, "")
        s = s.strip().lower().drop_chars()
        if k:
            out.append(" . ")
            org.extend([NO_SOURCE] * 3)
        out.append(s.text)
        org.extend(s.origin)
    out.append(" .")
    org.extend([NO_SOURCE] * 2)
    return "".join(out), org


def clean_spans(text: str, spans: list[dict]) -> list[dict] | None:
    """Move sentence-weight spans of `text` onto r2gen_clean(text); None when they cannot be placed."""
    cleaned, origin = clean_with_origin(text)
    if cleaned != r2gen_clean(text):
        return None
    out = []
    for span in spans:
        hits = [k for k, o in enumerate(origin) if span["start"] <= o < span["end"]]
        if hits:
            out.append({**span, "start": hits[0], "end": hits[-1] + 1})
    return out
