"""Generators for the rewrite loop: `rules` (offline default), `openai`, `hf`.

Each has `.name` and `.rewrite(tasks) -> [RewriteReply]` (rg4cli.build.rewrite_loop), one reply
per task in task order; a task the generator gives up on gets `RewriteReply(error=...)`
and the loop drops that example (counted), never the run.

- rules: deterministic. In each section, the sentences where the hallucination rules
  judge finds a flagged category are edited: comparison / procedure / view phrases are
  cut out or turned into the plain statement ("unchanged moderate cardiomegaly" ->
  "Moderate cardiomegaly", "X is again seen" -> "X is seen", "compared to the prior
  study, ..." -> "..."); clauses that still carry the category are dropped; a sentence
  with nothing clinical left (a technique line, "No change.", a communication) is
  deleted. Untouched sentences keep their exact characters.
- openai: any OpenAI-compatible chat-completions endpoint (vLLM, TGI, llama.cpp,
  hosted APIs), stdlib HTTP, bounded thread concurrency, retries with exponential
  backoff on 429/5xx/timeouts/connection errors, malformed replies counted and retried.
  Redirects are not followed (the API key would go along to wherever they point), a
  reply is read up to `max_reply_bytes` within `timeout` seconds, and an endpoint that
  keeps failing stops the run (`max_consecutive_failures` examples in a row given up).
- hf: a local transformers causal LM (chat template when the tokenizer has one).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

from rg4cli.errors import InputError, Rg4Error
from rg4cli.build.rewrite_loop import (DROP_FAILED, RewriteReply, RewriteTask, build_messages, memoize_find,
                                       parse_reply)
from rg4cli.text.sections import join_sections
from rg4cli.text.sentences import split_sentences

GENERATORS = ("rules", "openai", "hf")


# =====================================================================================
# rules
# =====================================================================================
_I = re.IGNORECASE
_PRIOR = r"(?:most\s+recent\s+|recent\s+|last\s+)?(?:prior|previous|preceding|earlier|old|outside)"
_EXAM = (r"(?:chest\s+)?(?:study|studies|exam|exams|examination|examinations|radiograph|radiographs|film|films|"
         r"image|images|imaging|ct|cta|x-?ray|x-?rays|one|ones|views?)\b")
_DATE = r"(?:\s+(?:of|from|dated|on|at|obtained|performed|taken)(?:\s+(?:on|at))?\s+[^,.;]*?)?"
_REF = rf"(?:the\s+|a\s+|an\s+|all\s+)?{_PRIOR}\b(?:\s+{_EXAM})?{_DATE}"
_ADV = r"(?:slightly|mildly|minimally|markedly|significantly|substantially|somewhat|further|much|essentially|" \
       r"grossly|relatively|largely|overall|probably|likely|very|only)"
_CHANGE_ADJ = r"(?:unchanged|stable|persistent|persisting|increased|increasing|decreased|decreasing|improved|" \
              r"improving|worsened|worsening|enlarging|progressive|progressing|diminished|diminishing|" \
              r"new|newly|re-?demonstrated|redemonstrated|similar|re-?accumulated|recurrent|" \
              r"resolving|evolving|continued|interval|residual)"
_DEGREE = r"(?:(?:significant|slight|mild|minimal|marked|substantial|further|some|continued|overall|" \
          r"considerable|modest|little|no\s+significant)\s+)"
_COMPARATIVE = {"larger": "large", "smaller": "small", "lower": "low", "higher": "high", "greater": "large",
                "bigger": "large", "worse": "", "better": "", "more": "", "less": ""}

# (categories, pattern, replacement): applied in order to a flagged sentence.
REWRITE_RULES: list[tuple[tuple[str, ...], re.Pattern, str | Callable]] = [
    # ---- prior comparison -----------------------------------------------------------
    (("pc",), re.compile(rf"\b(?:as\s+|when\s+)?(?:compared|in\s+comparison)\s+(?:to|with)\s+{_REF}\s*[,;:]?", _I), ""),
    (("pc",), re.compile(rf"\bcomparison\s+(?:is\s+made\s+)?(?:to|with)\s+{_REF}\s*[,;:]?", _I), ""),
    (("pc",), re.compile(rf"\b(?:since|from|than|versus|vs\.?)\s+(?:on\s+|in\s+)?{_REF}\s*[,;:]?", _I), ""),
    (("pc",), re.compile(rf"\b(?:on|in|at|within)\s+{_REF}\s*[,;:]?", _I), ""),
    (("pc",), re.compile(r"\b(?:as|than)\s+(?:before|previously|on\s+prior|prior|seen\s+previously)\b\s*,?", _I), ""),
    (("pc",), re.compile(r"\b(?:at|in)\s+the\s+interval\b\s*,?", _I), ""),
    (("pc",), re.compile(r"\b(?:previously|formerly|recently|again|once\s+again|still|now|yet\s+again)\s+"
                         r"(seen|noted|described|demonstrated|identified|visualized|visible|present|evident|"
                         r"appreciated|reported|mentioned|shown)\b", _I), r"\1"),
    (("pc",), re.compile(r"\b(seen|noted|described|demonstrated|identified|present)\s+(?:previously|before|again|"
                         r"earlier|on\s+prior)\b", _I), r"\1"),
    (("pc",), re.compile(r"\bthe\s+(?:previously|formerly|recently)\s+(?:seen|noted|described|demonstrated|"
                         r"identified|reported|mentioned)\s+", _I), "the "),
    (("pc",), re.compile(r"\b(?:previously|formerly|recently)\s+(?:seen|noted|described|demonstrated|identified|"
                         r"reported|mentioned)\s+", _I), ""),
    (("pc",), re.compile(r"\bre-?demonstration\s+of\s+(?:the\s+)?", _I), ""),
    (("pc",), re.compile(r"\b(?:is|are|has|have)\s+now\b", _I), lambda m: m.group(0).split()[0]),
    (("pc",), re.compile(r"\bnow\s+(?=\w)", _I), ""),
    (("pc",), re.compile(r"\bre-?demonstrated\b", _I), "seen"),
    (("pc",), re.compile(r"\bre-?demonstrates?\b", _I), "shows"),
    (("pc",), re.compile(r"\bagain\s+(?:shows?|demonstrates?)\b", _I), "shows"),
    (("pc",), re.compile(r"\bagain\b\s*,?", _I), ""),
    (("pc",), re.compile(r"\b(?:is|are)\s+no\s+longer\s+(seen|visualized|visible|present|evident|identified|"
                         r"appreciated|demonstrated)\b", _I), r"is not \1"),
    # "X has resolved" -> "No X"
    (("pc",), re.compile(r"^(?:the\s+)?(?P<x>[^,;]+?)\s+(?:has|have)\s+(?:almost\s+|nearly\s+|completely\s+|"
                         r"largely\s+|since\s+)?resolved\s*\.?$", _I), lambda m: f"No {m.group('x')}."),
    # "X are stable and within normal limits" -> "X are within normal limits"
    (("pc",), re.compile(rf"\b(is|are|was|were|remains?|appears?)\s+(?:{_ADV}\s+)?(?:unchanged|stable|similar)"
                         rf"\s*(?:,\s*)?(?:and\s+)?(?=(?:within|normal|unremarkable|clear|top|mildly|moderately|"
                         rf"severely|markedly|enlarged|small|large|low|high|elevated|prominent|in\s+normal)\b)", _I),
     lambda m: ("are " if m.group(1).lower() in ("are", "were", "remain", "appear") else "is ")),
    # "There is stable, mild cardiomegaly" -> "There is mild cardiomegaly"
    (("pc",), re.compile(rf"\b(there\s+(?:is|are))\s+(?:{_ADV}\s+)?(?:unchanged|stable|persistent|similar|new|"
                         rf"again|still|redemonstrated)\s*,?\s+(?=\w)", _I), r"\1 "),
    # "Mild cardiomegaly unchanged." -> "Mild cardiomegaly."
    (("pc",), re.compile(r"(?<![,;])(?<!\bis)(?<!\bare)(?<!\bwas)(?<!\bwere)(?<!\bappear)(?<!\bappears)(?<!\bremain)"
                         r"(?<!\bremains)(?<!\bseem)(?<!\bseems)(?<!\bbeen)(?<!\bbe)\s+(?:(?:essentially|grossly|relatively|"
                         r"largely)\s+)?(?:unchanged|stable|persists?|persisting|again\s+(?:seen|noted)|"
                         r"re-?demonstrated)\s*(?=[.;]|$)", _I), ""),
    # "X is unchanged/stable (in size)", "X remains stable", "X has increased" -> "X is present"
    (("pc",), re.compile(rf"\b(?:(?:is|are|was|were|has\s+been|have\s+been|remains?|appears?|appear\s+to\s+be|"
                         rf"appears\s+to\s+be|is\s+now|are\s+now)\s+(?:{_ADV}\s+)?(?:unchanged|stable|"
                         rf"similar|persistent|improved|worsened|"
                         rf"not\s+(?:significantly\s+|substantially\s+|appreciably\s+)?changed|"
                         rf"without\s+(?:significant\s+|substantial\s+)?change)|"
                         rf"(?:has|have)\s+(?:{_ADV}\s+)?(?:increased|decreased|improved|worsened|progressed|"
                         rf"enlarged|diminished|grown|changed))"
                         rf"(?:\s+(?:in|with\s+respect\s+to)\s+(?:size|appearance|position|extent|configuration|"
                         rf"severity|location|caliber|magnitude)(?:\s+and\s+(?:size|appearance|position|extent|"
                         rf"configuration))?)?(?:\s+in\s+the\s+interval)?"
                         rf"(?=\s*(?:[.;,]|$|\b(?:and|with|but|from|since|compared|as|when|in\s+the|on|to|"
                         rf"given|allowing|accounting)\b))", _I),
     lambda m: "are present" if re.match(r"(?:are|were|have|remain\b|appear\b)", m.group(0), _I) else "is present"),
    (("pc",), re.compile(r"\b(?:persists?|persisting|remains?|continues?|continue\s+to\s+be)\s+(?=(?:present|"
                         r"seen|visible|noted)\b)", _I), "is "),
    (("pc",), re.compile(r"\b(?:persists?|continues?)\s*(?=[.;,]|$)", _I), "is present"),
    (("pc",), re.compile(r"\b(remains?|continues?\s+to\s+be|continue\s+to\s+be)\s+", _I),
     lambda m: "is " if m.group(1).lower().startswith(("remains", "continues")) else "are "),
    (("pc",), re.compile(rf"\b(?:similar|identical|comparable|unchanged|not\s+(?:significantly\s+)?changed|"
                         rf"little\s+changed|no\s+different)\s+(?:to|from|with|compared\s+to)\s+{_REF}", _I), ""),
    (("pc",), re.compile(r"^(?:there\s+(?:is|has\s+been)\s+)?no\s+(?:significant\s+|substantial\s+|interval\s+|"
                         r"appreciable\s+|relevant\s+)*change\s+(?:in|of)\s+(?:the\s+|a\s+|an\s+)?(?=\S)", _I), ""),
    (("pc",), re.compile(rf"\bthere\s+(?:has\s+been|is|are)\s+(?:an?\s+)?{_DEGREE}?(?:{_ADV}\s+)?(?:interval\s+)?"
                         rf"(?:increase|decrease|improvement|worsening|progression|development|appearance|"
                         rf"enlargement|reduction|change)\s+(?:in|of)\s+(?:the\s+)?", _I), "there is "),
    (("pc",), re.compile(rf"\b{_DEGREE}?(?:{_ADV}\s+)?(?:interval\s+)?(?:increase|decrease|improvement|worsening|"
                         rf"progression|development|appearance|enlargement|reduction)\s+(?:in|of)\s+"
                         rf"(?:the\s+)?(?:size\s+of\s+(?:the\s+)?)?", _I), ""),
    (("pc",), re.compile(rf"\b(?:{_ADV}\s+)?{_CHANGE_ADJ}(?:\s+(?:and|or|to)\s+{_CHANGE_ADJ})?\s+"
                         rf"(?=[a-z(])(?!(?:to|in|from|since|than|and|or|with|compared|position|at|on|"
                         rf"of|is|are|was|were)\b)", _I), ""),
    (("pc",), re.compile(r"\b(larger|smaller|lower|higher|greater|bigger|worse|better|more|less)\b(\s+in\s+"
                         r"(?:size|volume|extent))?(?=\s*[.;,]|\s*$|\s+than\b)", _I),
     lambda m: _COMPARATIVE[m.group(1).lower()]),
    (("pc",), re.compile(r"\bthan\b\s*(?=[.;,]|$)", _I), ""),
    (("pc",), re.compile(r"\bin\s+the\s+interval\b", _I), ""),
    # ---- prior procedure --------------------------------------------------------------
    (("pp",), re.compile(r"^(?:the\s+)?(?:patient|pt)\s+(?:is|has\s+been|was)\s+(?:status\s+post|s/p|post)\b"
                         r"[^,;]*?(?:[,;]\s*|\s+(?:with|and|there\s+is|there\s+are)\s+|$)", _I), ""),
    (("pp",), re.compile(r"\b(?:status\s+post|s/p|s\\p)\s+[^,;]*?(?:[,;]\s*(?:with\s+)?|\s+with\s+|$)", _I), ""),
    (("pp",), re.compile(r"\b(?:since|after|following|from|due\s+to|related\s+to|consistent\s+with|"
                         r"compatible\s+with|reflecting)\s+(?:the\s+|a\s+|an\s+|recent\s+|prior\s+)*"
                         r"(?:interval\s+)?(?:placement|insertion|removal|extubation|surgery|operation|procedure|"
                         r"resection|cabg|sternotomy|thoracotomy|lobectomy|pneumonectomy|thoracentesis|"
                         r"intubation|repair|replacement|biopsy|transplant|ablation|esophagectomy|"
                         r"mastectomy|vats)\b[^,;.]*", _I), ""),
    (("pp",), re.compile(r"\binterval\s+(?:placement|insertion|advancement|repositioning)\s+of\s+(?:the\s+|an?\s+)?",
                         _I), ""),
    (("pp",), re.compile(r"\b(?:post-?operative|post-?surgical|post-?procedural|post-?thoracotomy|"
                         r"post-?sternotomy|post-?radiation|post-?treatment)(?:\s+changes?)?\s*(?:of|from|"
                         r"related\s+to|after|following)?\s*", _I), ""),
    (("pp",), re.compile(r"\b(?:prior|previous|recent|remote|old)\s+(?=(?:cabg|surgery|sternotomy|thoracotomy|"
                         r"lobectomy|resection|procedure|operation|thoracentesis|intubation|placement|"
                         r"pneumonectomy|mastectomy|esophagectomy|valve\s+replacement|vats)\b)", _I), ""),
    # ---- view -----------------------------------------------------------------------
    # "Frontal and lateral views of the chest show normal heart size." -> "Normal heart size."
    (("view",), re.compile(r"^(?:the\s+)?(?:[\w-]+\s+){0,6}?(?:views?|radiographs?|images?|projections?)\s+"
                           r"(?:of\s+the\s+chest\s+)?(?:(?:with|including)\s+[^.;]{0,80}?\s+)?(?:were\s+obtained\s+"
                           r"(?:and\s+)?)?(?:show|shows|demonstrate|demonstrates|reveal|reveals)\s+", _I), ""),
    (("view",), re.compile(r",?\s*(?:as\s+)?(?:best|only|better|well)\s+(?:seen|visualized|visible|appreciated|"
                           r"demonstrated|noted|evident|shown)\s+(?:only\s+)?(?:on|in)\s+(?:the\s+)?"
                           r"(?:frontal|lateral|pa|ap|portable|single|two|both|left\s+lateral|right\s+lateral)"
                           r"(?:\s+and\s+lateral)?\s+(?:view|views|projection|projections|image|images|"
                           r"radiograph|radiographs|film|films)\b", _I), ""),
    (("view",), re.compile(r"\s*\b(?:for|given|on|with|due\s+to)\s+(?:the\s+|an?\s+)?(?:AP|PA|portable|supine|"
                           r"semi-?upright|upright|frontal|single\s+view)\s+(?:technique|projection|positioning|"
                           r"position|view|radiograph|film|study|exam|examination)\b", _I), ""),
    (("view",), re.compile(r"\b(?:on|in|from)\s+(?:the\s+|this\s+)?(?:frontal|lateral|pa|ap|portable|single|two|both|"
                           r"upright|supine|semi-?upright|left\s+lateral|right\s+lateral)(?:\s+and\s+lateral)?"
                           r"(?:\s+frontal)?\s+(?:view|views|projection|projections|image|images|radiograph|"
                           r"radiographs|film|films)(?:\s+only)?\b\s*,?", _I), ""),
    (("view",), re.compile(r"\b(?:the\s+)?(?:lateral|frontal)\s+(?:view|projection|image|radiograph)\s+"
                           r"(?:shows|demonstrates|reveals|confirms)\s+", _I), ""),
]

# Words that carry nothing clinical on their own: a rewritten sentence made only of
# these (and punctuation) is deleted ("PA and lateral views of the chest were obtained.").
_FILLER = frozenset("""
a an the of and or but with without to in on at from for by as is are was were be been being has have had this that
these those there here it its which who whom what when where while also again both either neither each per via
study studies exam examination examinations radiograph radiographs film films image images view views projection
projections chest frontal lateral pa ap portable upright supine semi semi-upright erect single two technique
obtained provided performed submitted acquired taken done available compared comparison prior previous present
seen noted shown demonstrated identified visualized evident appreciated findings finding change changes changed
unchanged stable similar interval since now today significant significantly substantial substantially appreciable
appreciably relevant no not otherwise overall essentially grossly relatively largely slightly further given
reviewed current currently patient pt dr ___ xxxx am pm time called discussed telephone phone communicated
notified paged informed reported conveyed by minutes hours results result these regarding about via who were
""".split())
# Normal structures: "Stable mediastinal contour." minus "stable" says nothing.
_ANATOMY = frozenset("""
heart cardiac cardiomediastinal mediastinal mediastinum hilar hila hilum contour contours silhouette silhouettes
size sizes appearance configuration lung lungs pulmonary thorax thoracic bony bones osseous structures structure
aorta aortic vasculature vascular trachea diaphragm diaphragms hemidiaphragm hemidiaphragms soft tissues tissue
right left bilateral bilaterally upper lower mid middle base bases apex apices zone zones lobe lobes aspect
aeration expansion inflation volumes volume positioning position radiographic appearances
""".split())
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'\-]*|\d+")
# A sentence whose subject has none of these and which only said "is unchanged" has
# nothing left to say ("Heart size is unchanged." -> deleted, not "Heart size is present.").
_FINDING_WORDS = re.compile(
    r"cardiomegaly|effusion|pneumothorax|opacit|consolidat|edema|atelecta|nodul|mass|lesion|fractur|tube|line|"
    r"catheter|pacemaker|pacer|lead|wire|clip|stent|device|drain|port|valve|hernia|granulom|scar|thicken|pneumon|"
    r"infiltrat|calcif|emphysema|enlarge|widen|collapse|deformit|hyperinfla|congest|engorge|air|fluid|density|"
    r"densities|abnormalit|prosthe|hardware|graft|elevat|tortuo|kyphos|scolios|cavit|bulla|bleb|adenopathy|"
    r"lymph|node|aneurysm|dilat|prominen|osteopeni|degenerat|spondylo|cyst|metasta|tumou?r|cancer|neoplas|"
    r"infect|fibros|bronchiect|blunting|obscur|silhouetting|shift|deviat|volume\s+loss|markings|nipple|shadow",
    _I)
_IS_PRESENT_RE = re.compile(r"\bis present\b", _I)


def _contentful(sentence: str) -> bool:
    return any(w.lower() not in _FILLER and w.lower() not in _ANATOMY for w in _WORD_RE.findall(sentence))


_SPACE_RE = re.compile(r"\s+")
_PUNCT_SPACE_RE = re.compile(r"\s+([.,;:)])")
_DOUBLE_PUNCT_RE = re.compile(r"([,;:])\s*([,;:.])")
_LEAD_RE = re.compile(r"^(?:[\s,;:\-]|and\b|but\b|or\b|with\b|which\b|however\b)+", _I)
_TRAIL_RE = re.compile(r"(?:[\s,;:\-]|\band|\bbut|\bor|\bwith|\bwhich|\bthan|\bthe|\ba)+(?=[.!?]?$)", _I)
_LIST_MARK_RE = re.compile(r"^(\d{1,2}[.)]\s+)")


def _tidy(sentence: str, original: str) -> str:
    s = _SPACE_RE.sub(" ", sentence).strip()
    mark = ""
    m = _LIST_MARK_RE.match(s)
    if m:
        mark, s = m.group(1), s[m.end():]
    s = _DOUBLE_PUNCT_RE.sub(lambda m: m.group(2) if m.group(2) == "." else m.group(1), s)
    s = _PUNCT_SPACE_RE.sub(r"\1", s)
    s = _LEAD_RE.sub("", s)
    s = _TRAIL_RE.sub("", s).strip()
    s = re.sub(r"\bis present is present\b", "is present", s)
    s = re.sub(r"\b(a|an|the)\s+(?=[.,;]|$)", "", s, flags=_I)
    s = re.sub(r"\ba\s+(?=[aeiou])", "an ", s)
    s = re.sub(r"\ban\s+(?=[b-df-hj-np-tv-z])", "a ", s, flags=_I)
    if s and not s[-1] in ".!?":
        end = original.rstrip()[-1:] if original.rstrip()[-1:] in ".!?" else "."
        s += end
    if s[:1].islower() and (original[:1].isupper() or mark):
        s = s[0].upper() + s[1:]
    return mark + s


class RulesRewriter:
    """Deterministic rewriter over the hallucination rules judge's phrase finder."""

    name = "rules"

    def __init__(self, finder: Any | None = None):
        if finder is None:
            from rg4cli.judges.backends import make_judge  # the phrase tables live there
            finder = make_judge("rules")
        self.finder = memoize_find(finder)
        self.stats: Counter = Counter()
        self._setting: str | None = None
        self._projection: str | None = None

    def _cats_in(self, text: str, categories: set[str]) -> list:
        """The finder's hits of these categories that the current inputs cannot support
        ("portable AP view" with an AP frontal is supported, so it is not a hit)."""
        return self._keep(self.finder.find(text), categories)

    def _keep(self, hits: Sequence, categories: set[str]) -> list:
        out = []
        for h in hits:
            if h.category not in categories:
                continue
            if h.category == "view" and self._setting is not None and views_supported(
                    list(h.views) if h.views else None, self._setting, self._projection):
                continue
            out.append(h)
        return out

    def rewrite_text(self, text: str | None, categories: Sequence[str], setting: str | None = None,
                     projection: str | None = None, hits: Sequence | None = None) -> str | None:
        """The section with the flagged categories removed or rewritten (None if nothing is left).

        With `setting` (and the frontal `projection`), view phrases the inputs support
        are kept; without, every view phrase of a flagged view category is edited.
        `hits`: the finder's hits on `text` when already known (offsets into `text`).
        """
        if not text:
            return text
        self._setting, self._projection = setting, projection
        cats = set(categories)
        hits = self._cats_in(text, cats) if hits is None else self._keep(hits, cats)
        if not hits:
            return text
        spans = split_sentences(text)
        out: list[str] = []
        pos = 0
        for start, end in spans:
            present = {h.category for h in hits if h.start < end and h.end > start}
            if not present:
                continue
            out.append(text[pos:start])
            fixed = self.fix_sentence(text[start:end], cats, present)
            if fixed is not None:
                out.append(fixed)
            else:
                self.stats["sentences deleted"] += 1
            pos = end
        out.append(text[pos:])
        result = _SPACE_RE.sub(" ", "".join(out)).strip()
        return result or None

    def fix_sentence(self, sentence: str, cats: set[str], present: set[str] | None = None) -> str | None:
        """Rewrite one sentence; None deletes it. `present`: flagged categories known to be in it."""
        if "comm" in cats and ("comm" in present if present is not None else self._cats_in(sentence, {"comm"})):
            # a communication is never rewritten: its clause goes, whole clauses stay
            sentence = self._drop_clauses(sentence, {"comm"}, self._STRONG_CLAUSE_RE)
            if sentence is None:
                return None
        s = sentence
        for rule_cats, pattern, repl in REWRITE_RULES:
            if cats.intersection(rule_cats):
                s = pattern.sub(repl, s)
        s = _tidy(s, sentence)
        if self._cats_in(s, cats):
            s = self._drop_clauses(s, cats)
            if s is None:
                return None
            s = _tidy(s, sentence)
        if not _contentful(s) or self._cats_in(s, cats):
            return None
        if _IS_PRESENT_RE.search(s) and not _FINDING_WORDS.search(s[:_IS_PRESENT_RE.search(s).start()]):
            return None  # "Heart size is present.": the sentence only said "unchanged"
        if s != sentence:
            self.stats["sentences rewritten"] += 1
        return s

    _CLAUSE_RE = re.compile(r"(?<=[;,])\s+|\s+-\s+|(?<=:)\s+", _I)
    _STRONG_CLAUSE_RE = re.compile(r"(?<=;)\s+|(?<=,)\s+(?=(?:and|but)\s)|\s+-\s+", _I)

    def _drop_clauses(self, sentence: str, cats: set[str], splitter: re.Pattern | None = None) -> str | None:
        parts = [p for p in (splitter or self._CLAUSE_RE).split(sentence) if p and p.strip()]
        keep = [p for p in parts if not self._cats_in(p, cats)]
        if len(keep) == len(parts) or not keep:
            return None if not keep else sentence
        s = " ".join(keep)
        return s if _contentful(s) else None

    def _section_hits(self, findings: str | None, impression: str | None) -> tuple[list, list]:
        """Hits per section, from one search of the text the judge read ("findings: F impression: I");
        the loop has just judged that text, so a memoized finder answers from its cache."""
        joined = join_sections(findings, impression)
        f_at = joined.find(findings.strip()) if findings and findings.strip() else -1
        i_at = joined.rfind(impression.strip()) if impression and impression.strip() else -1
        f_hits, i_hits = [], []
        for h in self.finder.find(joined):
            for at, body, bucket in ((f_at, findings, f_hits), (i_at, impression, i_hits)):
                if at >= 0 and at <= h.start and h.end <= at + len(body.strip()):
                    lead = len(body) - len(body.lstrip())
                    bucket.append(h._replace(start=h.start - at + lead, end=h.end - at + lead))
        return f_hits, i_hits

    def rewrite(self, tasks: Sequence[RewriteTask]) -> list[RewriteReply]:
        out = []
        for t in tasks:
            ex = t.example
            f_hits, i_hits = self._section_hits(t.findings, t.impression)
            out.append(RewriteReply(self.rewrite_text(t.findings, t.categories, ex.setting, ex.view, f_hits),
                                    self.rewrite_text(t.impression, t.categories, ex.setting, ex.view, i_hits)))
        return out


# =====================================================================================
# openai-compatible chat completions
# =====================================================================================
MAX_REPLY_BYTES = 8 << 20   # a chat completion for one report is a few KB; more is a broken server
_READ_CHUNK = 1 << 16


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Answer a 3xx with the 3xx itself: following it would send the Authorization header on."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 - urllib's hook
        return None


def _without_query(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def unrewritten_error(rewriter: Any) -> Rg4Error | None:
    """The run's failure to report when the generator gave up on examples (exit status 1)."""
    failed = int((getattr(rewriter, "stats", None) or {}).get("failed", 0))
    if not failed:
        return None
    return Rg4Error(f"{failed} example(s) could not be rewritten: the {rewriter.name} generator gave up on them "
                    f"(dropped as '{DROP_FAILED}', not written to the output; the records written are complete)")


class _Retryable(Exception):
    def __init__(self, kind: str, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.kind = kind
        self.retry_after = retry_after


class OpenAIRewriter:
    """Rewrites through POST {base_url}/chat/completions, `workers` requests at a time.

    The API key is read from the environment variable `api_key_env` (may be unset for
    local servers) and is only ever put in the Authorization header. 429, 5xx,
    timeouts and connection errors are retried with exponential backoff (honouring
    Retry-After, capped); a reply that is not the JSON object asked for is counted as
    malformed and asked again, as is a reply over `max_reply_bytes` (not read further)
    or one that does not arrive whole within `timeout`. After `max_retries` retries the
    task fails (RewriteReply.error) and the loop drops that example. 401/403/404 and
    redirects stop the run: they are configuration errors that no retry fixes (a
    redirect is never followed, so the key goes to `base_url`'s host only). So does an
    endpoint on which `max_consecutive_failures` examples in a row failed (default: twice
    the workers, at least 8), saying how many examples could not be rewritten.
    """

    name = "openai"

    def __init__(self, base_url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY", workers: int = 4,
                 timeout: float = 120.0, max_retries: int = 5, backoff: float = 1.0, max_backoff: float = 60.0,
                 temperature: float = 0.0, max_tokens: int = 1024, seed: int | None = 0,
                 extra_body: dict | None = None, system_prompt: str | None = None,
                 max_reply_bytes: int = MAX_REPLY_BYTES, max_consecutive_failures: int | None = None):
        if not base_url:
            raise InputError("--base-url is required for openai (the chat-completions endpoint, e.g. "
                             "http://localhost:8000/v1)")
        if not model:
            raise InputError("--model-name is required for openai (the model name the server serves)")
        if not re.match(r"^https?://", base_url):
            raise InputError(f"--base-url must start with http:// or https://, got {base_url!r}")
        self.url = base_url.rstrip("/") + ("" if base_url.rstrip("/").endswith("/chat/completions")
                                           else "/chat/completions")
        self.model = model
        self.api_key_env = api_key_env
        self._key = os.environ.get(api_key_env) or None
        self.workers = max(1, int(workers))
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.extra_body = extra_body or {}
        self.system_prompt = system_prompt
        self.stats: Counter = Counter()
        self._lock = threading.Lock()
        self._fatal: Rg4Error | None = None
        self._rng = random.Random(seed)
        self.max_reply_bytes = max(1, int(max_reply_bytes))
        self.max_consecutive_failures = (max(8, 2 * self.workers) if max_consecutive_failures is None
                                         else max(1, int(max_consecutive_failures)))
        self._failures_in_a_row = 0
        self._opener = urllib.request.build_opener(_NoRedirect)

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIRewriter(url={self.url!r}, model={self.model!r}, key_env={self.api_key_env!r})"

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def _read_reply(self, resp, started: float) -> bytes:
        """The body, at most max_reply_bytes, all of it within `timeout` seconds of the request."""
        declared = resp.headers.get("Content-Length") if resp.headers else None
        if declared and declared.strip().isdigit() and int(declared) > self.max_reply_bytes:
            raise _Retryable("oversized", f"reply of {int(declared)} bytes is over the {self.max_reply_bytes}-byte "
                             "limit")
        chunks, size = [], 0
        while True:
            chunk = resp.read1(_READ_CHUNK)   # returns what one receive gave: a slow drip cannot hold it
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_reply_bytes:
                raise _Retryable("oversized", f"reply over the {self.max_reply_bytes}-byte limit")
            if time.monotonic() - started > self.timeout:
                raise _Retryable("timeouts", f"reply not complete after {self.timeout:g}s")
            chunks.append(chunk)

    def _post(self, messages: list[dict]) -> str:
        body = {"model": self.model, "messages": messages, "temperature": self.temperature,
                "max_tokens": self.max_tokens, **self.extra_body}
        if self.seed is not None:
            body["seed"] = self.seed
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = "Bearer " + self._key
        req = urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST")
        self._count("requests")
        started = time.monotonic()
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = self._read_reply(resp, started)
        except urllib.error.HTTPError as exc:
            code = exc.code
            location = exc.headers.get("Location") if exc.headers else None
            exc.close()   # the body is only informative, and could be any size
            if 300 <= code < 400:
                where = f" to {_without_query(urllib.parse.urljoin(self.url, location))}" if location else ""
                raise Rg4Error(f"{self.url}: HTTP {code}: the server redirects{where}; rg4 does not follow "
                               "redirects (the API key would go along): give the final URL as --base-url") from None
            if code == 429 or 500 <= code < 600:
                retry_after = None
                ra = exc.headers.get("Retry-After") if exc.headers else None
                if ra:
                    try:
                        retry_after = float(ra)
                    except ValueError:
                        retry_after = None
                raise _Retryable("http_429" if code == 429 else "http_5xx", f"HTTP {code}", retry_after) from None
            if code in (401, 403):
                raise Rg4Error(f"{self.url}: HTTP {code}: the server refused the credentials "
                               f"(key from ${self.api_key_env}{'' if self._key else ', which is not set'})") from None
            if code == 404:
                raise Rg4Error(f"{self.url}: HTTP 404: no chat-completions endpoint here "
                               "(--base-url usually ends in /v1)") from None
            raise _Retryable("http_other", f"HTTP {code}") from None
        except (socket.timeout, TimeoutError) as exc:
            raise _Retryable("timeouts", f"timed out after {self.timeout:g}s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                raise _Retryable("timeouts", f"timed out after {self.timeout:g}s") from None
            raise _Retryable("connection_errors", f"connection failed: {exc.reason}") from None
        except (ConnectionError, OSError) as exc:  # reset mid-read, remote closed, ...
            raise _Retryable("connection_errors", f"connection failed: {exc}") from None
        except http.client.HTTPException as exc:   # garbage instead of HTTP, a cut-short body, ...
            raise _Retryable("malformed", f"not an HTTP reply ({exc.__class__.__name__})") from None
        try:
            data = json.loads(raw.decode("utf-8"))
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError):
            raise _Retryable("malformed", "the server's reply is not a chat completion") from None
        if not isinstance(content, str):
            raise _Retryable("malformed", "the completion has no text content")
        return content

    def _sleep_before(self, attempt: int, retry_after: float | None) -> None:
        delay = min(self.max_backoff, self.backoff * (2 ** attempt))
        if retry_after is not None:
            delay = min(self.max_backoff, max(delay, retry_after))
        with self._lock:
            jitter = self._rng.uniform(0, delay * 0.25)
        time.sleep(delay + jitter)

    def ask(self, messages: list[dict], parse: Callable[[str], Any] = parse_reply) -> tuple[Any, str | None]:
        """(parse(reply), None) for one prompt, with retries, or (None, error) once it gives up.

        `parse` raises ValueError on a reply that is not what was asked for (counted as
        malformed and asked again)."""
        last = ""
        for attempt in range(self.max_retries + 1):
            if self._fatal is not None:
                return None, "stopped"
            try:
                parsed = parse(self._post(messages))
                self._count("replies_ok")
                with self._lock:
                    self._failures_in_a_row = 0
                return parsed, None
            except _Retryable as exc:
                self._count(exc.kind)
                last = str(exc)
                retry_after = exc.retry_after
            except ValueError as exc:  # the model did not answer as asked
                self._count("malformed")
                last = f"malformed reply: {exc}"
                retry_after = None
            if attempt < self.max_retries:
                self._count("retries")
                self._sleep_before(attempt, retry_after)
        self._count("failed")
        with self._lock:
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= self.max_consecutive_failures and self._fatal is None:
                self._fatal = Rg4Error(
                    f"{self.url}: the endpoint keeps failing ({self._failures_in_a_row} requests in a row given up "
                    f"after {self.max_retries + 1} tries each; last: {last}): stopped; {self.stats['failed']} "
                    "example(s) could not be done; the records written so far are kept (--resume continues)")
        return None, f"gave up after {self.max_retries + 1} tries: {last}"

    def complete(self, messages: list[dict]) -> tuple[str | None, str | None, str | None]:
        """(findings, impression, error) for one rewrite prompt, with retries."""
        parsed, error = self.ask(messages)
        return (None, None, error) if error is not None else (*parsed, None)

    def run_concurrently(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """fn over items, `workers` at a time, in item order; a stop (auth, redirect, an endpoint
        that keeps failing) is raised once the batch has returned."""
        def guarded(item):
            try:
                return fn(item)
            except Rg4Error as exc:
                with self._lock:
                    self._fatal = self._fatal or exc
                return None

        if self.workers == 1 or len(items) <= 1:
            out = [guarded(x) for x in items]
        else:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
                out = list(pool.map(guarded, items))  # map keeps item order
        if self._fatal is not None:
            raise self._fatal
        return out

    def _one(self, task: RewriteTask) -> RewriteReply:
        f, i, err = self.complete(build_messages(task, self.system_prompt))
        return RewriteReply(f, i, err)

    def rewrite(self, tasks: Sequence[RewriteTask]) -> list[RewriteReply]:
        if not tasks:
            return []
        return self.run_concurrently(self._one, list(tasks))


# =====================================================================================
# local transformers causal LM
# =====================================================================================
class HFRewriter:
    """Rewrites with a local causal LM loaded by `from_pretrained(path)` (greedy decoding).

    The tokenizer's chat template formats the messages when it has one; otherwise a
    plain "System: ... User: ... Assistant:" transcript. Replies are parsed like the
    openai generator's; a malformed reply is retried (sampling, so the retry differs)
    up to `max_retries` times, then the example fails.
    """

    name = "hf"

    def __init__(self, model_path: str, *, device: str = "auto", max_new_tokens: int = 512, max_retries: int = 1,
                 batch_size: int = 4, seed: int = 0, trust_remote_code: bool = False,
                 system_prompt: str | None = None):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - torch/transformers are dependencies
            raise Rg4Error(f"--generator hf needs torch and transformers: {exc}") from None
        if not model_path:
            raise InputError("--model is required for --generator hf (a local model directory)")
        self.torch = torch
        from rg4cli.devices import resolve_device

        device = str(resolve_device(device))  # the one --device resolution (auto -> cuda, mps or cpu)
        self.device = device
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
            self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype,
                                                              trust_remote_code=trust_remote_code).to(device)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot load a causal LM from {model_path}: {exc}") from None
        self.model.eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.tokenizer.padding_side = "left"
        self.max_new_tokens = max_new_tokens
        self.system_prompt = system_prompt
        self.max_retries = max_retries
        self.batch_size = max(1, batch_size)
        self.seed = seed
        self.stats: Counter = Counter()

    def _prompt(self, messages: list[dict]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages) + "Assistant:"

    def _generate(self, prompts: list[str], sample: bool) -> list[str]:
        torch = self.torch
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": sample,
                                  "pad_token_id": self.tokenizer.pad_token_id}
        if sample:
            kwargs.update(temperature=0.7, top_p=0.95)
        with torch.no_grad():
            out = self.model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)

    def ask_batch(self, conversations: Sequence[list[dict]],
                  parse: Callable[[str], Any] | Sequence[Callable[[str], Any]] = parse_reply
                  ) -> list[tuple[Any, str | None]]:
        """(parse(reply), None) per conversation, or (None, error) once it gives up: greedy
        first, then sampled retries of the replies `parse` rejected (ValueError). `parse`
        may be one parser per conversation."""
        parsers = list(parse) if isinstance(parse, (list, tuple)) else [parse] * len(conversations)
        results: list[tuple[Any, str | None]] = [(None, "no reply")] * len(conversations)
        prompts = [self._prompt(messages) for messages in conversations]
        todo = list(range(len(conversations)))
        self.torch.manual_seed(self.seed)
        for attempt in range(self.max_retries + 1):
            still = []
            for b in range(0, len(todo), self.batch_size):
                idx = todo[b:b + self.batch_size]
                texts = self._generate([prompts[k] for k in idx], sample=attempt > 0)
                self.stats["requests"] += len(idx)
                for k, text in zip(idx, texts):
                    try:
                        results[k] = (parsers[k](text), None)
                        self.stats["replies_ok"] += 1
                    except ValueError as exc:
                        self.stats["malformed"] += 1
                        results[k] = (None, f"malformed reply: {exc}")
                        still.append(k)
            todo = still
            if not todo:
                break
            self.stats["retries"] += len(todo)
        self.stats["failed"] += len(todo)
        return results

    def rewrite(self, tasks: Sequence[RewriteTask]) -> list[RewriteReply]:
        answers = self.ask_batch([build_messages(t, self.system_prompt) for t in tasks])
        return [RewriteReply(*parsed) if error is None else RewriteReply(error=error) for parsed, error in answers]


def views_supported(views, setting, projection):
    from rg4cli.judges.backends import views_supported as supported

    return supported(views, setting, projection)


def make_rewriter(name: str, *, finder: Any | None = None, **options: Any):
    """rules | openai (base_url, model, api_key_env, workers, timeout, max_retries, ...) | hf (model_path, ...)."""
    if name == "rules":
        return RulesRewriter(finder)
    if name == "openai":
        return OpenAIRewriter(**options)
    if name == "hf":
        return HFRewriter(**options)
    raise InputError(f"--generator must be one of {', '.join(GENERATORS)}, got {name!r}")
