"""Text preparation for NLG metrics.

`r2gen_clean` is the R2Gen-family cleaning (R2Gen's `clean_report_mimic_cxr`, kept
by R2GenGPT and the LLM-RG4 code) that published MIMIC-CXR BLEU/ROUGE/METEOR/CIDEr
numbers are computed on, step by step:

1. newlines -> spaces; runs of "_" -> one "_"; runs of spaces -> one space;
   runs of "." -> one "."; numbered-list marks ("1. ", ". 2. " ... ". 5. ",
   " 2. " ... " 5. ") removed; strip; lowercase;
2. split into sentences on ". ";
3. per sentence: drop `"`, `/`, `\\`, `'`; strip; lowercase; delete each of
   `. , ? ; * ! % ^ & _ + ( ) [ ] { }`; ":" becomes " :" (the LLM-RG4 variant keeps
   section markers as a token, "findings : ...");
4. drop empty sentences; join with " . " and end with " .".

Scorers then split on whitespace (no PTB tokenizer), as those papers do.
"""

from __future__ import annotations

import re

_STRIP_CHARS_RE = re.compile(r"[.,?;*!%^&_+()\[\]{}]")
_SPACES_RE = re.compile(r" {2,}")


def _report_cleaner(text: str) -> list[str]:
    t = text.replace("\n", " ")
    t = re.sub(r"_{2,}", "_", t)
    t = _SPACES_RE.sub(" ", t)
    t = re.sub(r"\.{2,}", ".", t)
    t = t.replace("1. ", "")
    for n in "2345":
        t = t.replace(f". {n}. ", ". ")
    for n in "2345":
        t = t.replace(f" {n}. ", ". ")
    return t.strip().lower().split(". ")


def _sent_cleaner(sentence: str) -> str:
    s = sentence.replace('"', "").replace("/", "").replace("\\", "").replace("'", "").strip().lower()
    s = _STRIP_CHARS_RE.sub("", s)
    s = s.replace(":", " :")
    return _SPACES_RE.sub(" ", s).strip()


def r2gen_clean(text: str) -> str:
    sents = [_sent_cleaner(s) for s in _report_cleaner(text or "")]
    sents = [s for s in sents if s]
    return " . ".join(sents) + " ." if sents else ""
