"""Text preparation for NLG metrics.

`r2gen_clean` is the R2Gen-family cleaning (R2Gen's `clean_report_mimic_cxr`, kept
by R2GenGPT and the LLM-RG4 code) that published MIMIC-CXR BLEU/ROUGE/METEOR/CIDEr
numbers are computed on, step by step:

1. newlines -> spaces; runs of "_" -> one "_"; runs of spaces -> one space;
   runs of "." -> one "."; numbered-list marks ("1. ", ". 2. " ... ". 5. ",
   " 2. " ... " 5. ") removed; ":" becomes " :" (the R2GenGPT / LLM-RG4 variant
   keeps section markers as a token, "findings : ..."); strip; lowercase;
2. split into sentences on ". ";
3. per sentence: drop `"`, `/`, `\\`, `'`; strip; lowercase; delete each of
   `. , ? ; * ! % ^ & _ + ( ) [ ] { }` (no re-strip, no space collapsing: a
   deleted " , " leaves two spaces, as in the original);
4. join with " . " and end with " ." -- empty sentences are kept (the original's
   filter `!= []` never drops a string), so "clear. ." gives "clear .  ." and BLEU
   sees the extra "." token exactly as the published numbers did.

On raw text the result equals the R2GenGPT / LLM-RG4 `clean_report` (MIMIC branch)
string for string, double spaces included (ROUGE-L splits on " ", so they count);
runs of "_", " " and "." are collapsed in the same finite number of rounds.

Two deliberate differences, both on text the original was never meant to see:

* empty or blank text gives "" (the original gives " .");
* text already in the cleaned form (`is_r2gen_clean`: lowercase, none of the
  characters the cleaner deletes, no line break, every "." a token of its own, every
  ":" after a space) is returned unchanged. Re-running the original on its own
  output is not a no-op: the last sentence's "." is deleted and re-added, leaving a
  trailing double space (one empty ROUGE-L token per report), and "findings :"
  becomes "findings  :". Leaving cleaned text alone makes the cleaning idempotent
  (`r2gen_clean(r2gen_clean(x)) == r2gen_clean(x)`, because every output of the
  original is in cleaned form) and scores pre-tokenised files -- what R2Gen-family
  code writes, decoded from its tokenizer, possibly cut before the final "." --
  exactly as their authors did. Whitespace tokens never differ from the original's,
  except that text already cleaned but ending without " ." gets no "." added.

`space_before_period` is the other common preparation (CvT2DistilGPT2's
`COCOCaptionMetrics.score`, reused by later MIMIC-CXR code): a space before every
".", runs of spaces collapsed to one, nothing else.

Scorers then split on whitespace (no PTB tokenizer), as those papers do.
"""

from __future__ import annotations

import re

_STRIP_CHARS_RE = re.compile(r"[.,?;*!%^&_+()\[\]{}]")
# What the cleaner removes anywhere (quotes, slashes, the sentence-cleaner's set but
# ".", line breaks): none of it survives in its output.
_NOT_IN_CLEANED_RE = re.compile(r"[,?;*!%^&_+()\[\]{}\"/\\'\n]")
# A "." or ":" glued to the previous character, or a "." glued to the next one.
_GLUED_RE = re.compile(r"\S[.:]|\.\S")
_SPACES_RE = re.compile(" +")


def _collapse(text: str, pair: str, rounds: int) -> str:
    # The original chains str.replace a fixed number of times (7 for "__", 6 for
    # "  ", 8 for ".."); doing the same keeps even absurdly long runs identical.
    for _ in range(rounds):
        text = text.replace(pair, pair[0])
    return text


def _report_cleaner(text: str) -> list[str]:
    t = text.replace("\n", " ")
    t = _collapse(t, "__", 7)
    t = _collapse(t, "  ", 6)
    t = _collapse(t, "..", 8)
    t = t.replace("1. ", "")
    for n in "2345":
        t = t.replace(f". {n}. ", ". ")
    for n in "2345":
        t = t.replace(f" {n}. ", ". ")
    t = t.replace(":", " :")
    return t.strip().lower().split(". ")


def _sent_cleaner(sentence: str) -> str:
    s = sentence.replace('"', "").replace("/", "").replace("\\", "").replace("'", "").strip().lower()
    return _STRIP_CHARS_RE.sub("", s)


def published_r2gen_clean(text: str) -> str:
    """The R2GenGPT / LLM-RG4 `clean_report` (MIMIC branch) as published, "" for blank text."""
    if not text or not text.strip():
        return ""
    return " . ".join(_sent_cleaner(s) for s in _report_cleaner(text)) + " ."


def is_r2gen_clean(text: str) -> bool:
    """True when `text` has the form `published_r2gen_clean` writes (so it is left alone)."""
    return text == text.lower() and not _NOT_IN_CLEANED_RE.search(text) and not _GLUED_RE.search(text)


def r2gen_clean(text: str) -> str:
    """`published_r2gen_clean`, except that text already in cleaned form is returned as is."""
    if not text or not text.strip():
        return ""
    if is_r2gen_clean(text):
        return text
    return published_r2gen_clean(text)


def space_before_period(text: str) -> str:
    """A space before every ".", runs of spaces collapsed (CvT2DistilGPT2's preparation).

    Exactly `re.sub(" +", " ", text.replace(".", " ."))`: commas stay attached, case,
    line breaks and leading / trailing spaces are kept.
    """
    return _SPACES_RE.sub(" ", (text or "").replace(".", " ."))
