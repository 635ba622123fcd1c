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

The result equals the R2GenGPT / LLM-RG4 `clean_report` (MIMIC branch) string for
string, double spaces included (ROUGE-L splits on " ", so they count); runs of
"_", " " and "." are collapsed in the same finite number of rounds. One deliberate
difference: empty or blank text gives "" (the original gives " .").

Scorers then split on whitespace (no PTB tokenizer), as those papers do.
"""

from __future__ import annotations

import re

_STRIP_CHARS_RE = re.compile(r"[.,?;*!%^&_+()\[\]{}]")


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


def r2gen_clean(text: str) -> str:
    if not text or not text.strip():
        return ""
    return " . ".join(_sent_cleaner(s) for s in _report_cleaner(text)) + " ."
