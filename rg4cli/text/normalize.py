"""Unicode normalisation of report text before a model or a metric reads it.

The same words typed or exported differently must give the same labels, verdicts and
scores: text is put in NFC (a composed "é", not "e" + a combining accent) and soft hyphens
(U+00AD) and zero-width characters (U+200B-U+200D, U+2060, U+FEFF) are removed, so
"cardio\u00admegaly" reads as "cardiomegaly". The records keep their text as written;
provenance binds annotations to that text.
"""

from __future__ import annotations

import re
import unicodedata

_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_INVISIBLE_RE = re.compile(f"[{_INVISIBLE}]")
_DROP = str.maketrans("", "", _INVISIBLE)


def is_normalized(text: str) -> bool:
    """Whether `normalize_text` leaves `text` as it is."""
    return text.isascii() or (unicodedata.is_normalized("NFC", text) and not _INVISIBLE_RE.search(text))


def normalize_text(text: str) -> str:
    """NFC, without soft hyphens and zero-width characters (ASCII text is returned as it is)."""
    if is_normalized(text):
        return text
    return unicodedata.normalize("NFC", text.translate(_DROP))
