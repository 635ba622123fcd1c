"""Generators for the rewrite loop: `rules` (offline default), `openai`, `hf`.

Each has `.name` and `.rewrite(tasks) -> [RewriteReply]` (rg4cli.dataset.rewrite_loop), one reply
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

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from rg4cli.dataset.rewrite_loop import (
    DROP_FAILED,
    RewriteReply,
    RewriteTask,
    build_messages,
    memoize_find,
    parse_reply,
)
from rg4cli.errors import InputError, Rg4Error
from rg4cli.llm.clients import HFClient, OpenAIClient
from rg4cli.text.sections import join_sections
from rg4cli.text.sentences import split_sentences

GENERATORS = ("rules", "openai", "hf")


# =====================================================================================
# rules
# =====================================================================================
_I = re.IGNORECASE
_PRIOR = r"(?:most\s+recent\s+|recent\s+|last\s+)?(?:prior|previous|preceding|earlier|old|outside)"
_EXAM = (
    r"(?:chest\s+)?(?:study|studies|exam|exams|examination|examinations|radiograph|radiographs|film|films|"
    r"image|images|imaging|ct|cta|x-?ray|x-?rays|one|ones|views?)\b"
)
_DATE = r"(?:\s+(?:of|from|dated|on|at|obtained|performed|taken)(?:\s+(?:on|at))?\s+[^,.;]*?)?"
_REF = rf"(?:the\s+|a\s+|an\s+|all\s+)?{_PRIOR}\b(?:\s+{_EXAM})?{_DATE}"
_ADV = (
    r"(?:slightly|mildly|minimally|markedly|significantly|substantially|somewhat|further|much|essentially|"
    r"grossly|relatively|largely|overall|probably|likely|very|only)"
)
_CHANGE_ADJ = (
    r"(?:unchanged|stable|persistent|persisting|increased|increasing|decreased|decreasing|improved|"
    r"improving|worsened|worsening|enlarging|progressive|progressing|diminished|diminishing|"
    r"new|newly|re-?demonstrated|redemonstrated|similar|re-?accumulated|recurrent|"
    r"resolving|evolving|continued|interval|residual)"
)
_DEGREE = (
    r"(?:(?:significant|slight|mild|minimal|marked|substantial|further|some|continued|overall|"
    r"considerable|modest|little|no\s+significant)\s+)"
)
_COMPARATIVE = {
    "larger": "large",
    "smaller": "small",
    "lower": "low",
    "higher": "high",
    "greater": "large",
    "bigger": "large",
    "worse": "",
    "better": "",
    "more": "",
    "less": "",
}

# (categories, pattern, replacement): applied in order to a flagged sentence.
REWRITE_RULES: list[tuple[tuple[str, ...], re.Pattern, str | Callable]] = [
    # ---- prior comparison -----------------------------------------------------------
    (("pc",), re.compile(rf"\b(?:as\s+|when\s+)?(?:compared|in\s+comparison)\s+(?:to|with)\s+{_REF}\s*[,;:]?", _I), ""),
    (("pc",), re.compile(rf"\bcomparison\s+(?:is\s+made\s+)?(?:to|with)\s+{_REF}\s*[,;:]?", _I), ""),
    (("pc",), re.compile(rf"\b(?:since|from|than|versus|vs\.?)\s+(?:on\s+|in\s+)?{_REF}\s*[,;:]?", _I), ""),
    (("pc",), re.compile(rf"\b(?:on|in|at|within)\s+{_REF}\s*[,;:]?", _I), ""),
    (("pc",), re.compile(r"\b(?:as|than)\s+(?:before|previously|on\s+prior|prior|seen\s+previously)\b\s*,?", _I), ""),
    (("pc",), re.compile(r"\b(?:at|in)\s+the\s+interval\b\s*,?", _I), ""),
    (
        ("pc",),
        re.compile(
            r"\b(?:previously|formerly|recently|again|once\s+again|still|now|yet\s+again)\s+"
            r"(seen|noted|described|demonstrated|identified|visualized|visible|present|evident|"
            r"appreciated|reported|mentioned|shown)\b",
            _I,
        ),
        r"\1",
    ),
    (
        ("pc",),
        re.compile(
            r"\b(seen|noted|described|demonstrated|identified|present)\s+(?:previously|before|again|"
            r"earlier|on\s+prior)\b",
            _I,
        ),
        r"\1",
    ),
    (
        ("pc",),
        re.compile(
            r"\bthe\s+(?:previously|formerly|recently)\s+(?:seen|noted|described|demonstrated|"
            r"identified|reported|mentioned)\s+",
            _I,
        ),
        "the ",
    ),
    (
        ("pc",),
        re.compile(
            r"\b(?:previously|formerly|recently)\s+(?:seen|noted|described|demonstrated|identified|"
            r"reported|mentioned)\s+",
            _I,
        ),
        "",
    ),
    (("pc",), re.compile(r"\bre-?demonstration\s+of\s+(?:the\s+)?", _I), ""),
    (("pc",), re.compile(r"\b(?:is|are|has|have)\s+now\b", _I), lambda m: m.group(0).split()[0]),
    (("pc",), re.compile(r"\bnow\s+(?=\w)", _I), ""),
    (("pc",), re.compile(r"\bre-?demonstrated\b", _I), "seen"),
    (("pc",), re.compile(r"\bre-?demonstrates?\b", _I), "shows"),
    (("pc",), re.compile(r"\bagain\s+(?:shows?|demonstrates?)\b", _I), "shows"),
    (("pc",), re.compile(r"\bagain\b\s*,?", _I), ""),
    (
        ("pc",),
        re.compile(
            r"\b(?:is|are)\s+no\s+longer\s+(seen|visualized|visible|present|evident|identified|"
            r"appreciated|demonstrated)\b",
            _I,
        ),
        r"is not \1",
    ),
    # "X has resolved" -> "No X"
    (
        ("pc",),
        re.compile(
            r"^(?:the\s+)?(?P<x>[^,;]+?)\s+(?:has|have)\s+(?:almost\s+|nearly\s+|completely\s+|"
            r"largely\s+|since\s+)?resolved\s*\.?$",
            _I,
        ),
        lambda m: f"No {m.group('x')}.",
    ),
    # "X are stable and within normal limits" -> "X are within normal limits"
    (
        ("pc",),
        re.compile(
            rf"\b(is|are|was|were|remains?|appears?)\s+(?:{_ADV}\s+)?(?:unchanged|stable|similar)"
            rf"\s*(?:,\s*)?(?:and\s+)?(?=(?:within|normal|unremarkable|clear|top|mildly|moderately|"
            rf"severely|markedly|enlarged|small|large|low|high|elevated|prominent|in\s+normal)\b)",
            _I,
        ),
        lambda m: "are " if m.group(1).lower() in ("are", "were", "remain", "appear") else "is ",
    ),
    # "There is stable, mild cardiomegaly" -> "There is mild cardiomegaly"
    (
        ("pc",),
        re.compile(
            rf"\b(there\s+(?:is|are))\s+(?:{_ADV}\s+)?(?:unchanged|stable|persistent|similar|new|"
            rf"again|still|redemonstrated)\s*,?\s+(?=\w)",
            _I,
        ),
        r"\1 ",
    ),
    # "Mild cardiomegaly unchanged." -> "Mild cardiomegaly."
    (
        ("pc",),
        re.compile(
            r"(?<![,;])(?<!\bis)(?<!\bare)(?<!\bwas)(?<!\bwere)(?<!\bappear)(?<!\bappears)(?<!\bremain)"
            r"(?<!\bremains)(?<!\bseem)(?<!\bseems)(?<!\bbeen)(?<!\bbe)\s+(?:(?:essentially|grossly|relatively|"
            r"largely)\s+)?(?:unchanged|stable|persists?|persisting|again\s+(?:seen|noted)|"
            r"re-?demonstrated)\s*(?=[.;]|$)",
            _I,
        ),
        "",
    ),
    # "X is unchanged/stable (in size)", "X remains stable", "X has increased" -> "X is present"
    (
        ("pc",),
        re.compile(
            rf"\b(?:(?:is|are|was|were|has\s+been|have\s+been|remains?|appears?|appear\s+to\s+be|"
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
            rf"given|allowing|accounting)\b))",
            _I,
        ),
        lambda m: "are present" if re.match(r"(?:are|were|have|remain\b|appear\b)", m.group(0), _I) else "is present",
    ),
    (
        ("pc",),
        re.compile(
            r"\b(?:persists?|persisting|remains?|continues?|continue\s+to\s+be)\s+(?=(?:present|"
            r"seen|visible|noted)\b)",
            _I,
        ),
        "is ",
    ),
    (("pc",), re.compile(r"\b(?:persists?|continues?)\s*(?=[.;,]|$)", _I), "is present"),
    (
        ("pc",),
        re.compile(r"\b(remains?|continues?\s+to\s+be|continue\s+to\s+be)\s+", _I),
        lambda m: "is " if m.group(1).lower().startswith(("remains", "continues")) else "are ",
    ),
    (
        ("pc",),
        re.compile(
            rf"\b(?:similar|identical|comparable|unchanged|not\s+(?:significantly\s+)?changed|"
            rf"little\s+changed|no\s+different)\s+(?:to|from|with|compared\s+to)\s+{_REF}",
            _I,
        ),
        "",
    ),
    (
        ("pc",),
        re.compile(
            r"^(?:there\s+(?:is|has\s+been)\s+)?no\s+(?:significant\s+|substantial\s+|interval\s+|"
            r"appreciable\s+|relevant\s+)*change\s+(?:in|of)\s+(?:the\s+|a\s+|an\s+)?(?=\S)",
            _I,
        ),
        "",
    ),
    (
        ("pc",),
        re.compile(
            rf"\bthere\s+(?:has\s+been|is|are)\s+(?:an?\s+)?{_DEGREE}?(?:{_ADV}\s+)?(?:interval\s+)?"
            rf"(?:increase|decrease|improvement|worsening|progression|development|appearance|"
            rf"enlargement|reduction|change)\s+(?:in|of)\s+(?:the\s+)?",
            _I,
        ),
        "there is ",
    ),
    (
        ("pc",),
        re.compile(
            rf"\b{_DEGREE}?(?:{_ADV}\s+)?(?:interval\s+)?(?:increase|decrease|improvement|worsening|"
            rf"progression|development|appearance|enlargement|reduction)\s+(?:in|of)\s+"
            rf"(?:the\s+)?(?:size\s+of\s+(?:the\s+)?)?",
            _I,
        ),
        "",
    ),
    (
        ("pc",),
        re.compile(
            rf"\b(?:{_ADV}\s+)?{_CHANGE_ADJ}(?:\s+(?:and|or|to)\s+{_CHANGE_ADJ})?\s+"
            rf"(?=[a-z(])(?!(?:to|in|from|since|than|and|or|with|compared|position|at|on|"
            rf"of|is|are|was|were)\b)",
            _I,
        ),
        "",
    ),
    (
        ("pc",),
        re.compile(
            r"\b(larger|smaller|lower|higher|greater|bigger|worse|better|more|less)\b(\s+in\s+"
            r"(?:size|volume|extent))?(?=\s*[.;,]|\s*$|\s+than\b)",
            _I,
        ),
        lambda m: _COMPARATIVE[m.group(1).lower()],
    ),
    (("pc",), re.compile(r"\bthan\b\s*(?=[.;,]|$)", _I), ""),
    (("pc",), re.compile(r"\bin\s+the\s+interval\b", _I), ""),
    # ---- prior procedure --------------------------------------------------------------
    (
        ("pp",),
        re.compile(
            r"^(?:the\s+)?(?:patient|pt)\s+(?:is|has\s+been|was)\s+(?:status\s+post|s/p|post)\b"
            r"[^,;]*?(?:[,;]\s*|\s+(?:with|and|there\s+is|there\s+are)\s+|$)",
            _I,
        ),
        "",
    ),
    (("pp",), re.compile(r"\b(?:status\s+post|s/p|s\\p)\s+[^,;]*?(?:[,;]\s*(?:with\s+)?|\s+with\s+|$)", _I), ""),
    (
        ("pp",),
        re.compile(
            r"\b(?:since|after|following|from|due\s+to|related\s+to|consistent\s+with|"
            r"compatible\s+with|reflecting)\s+(?:the\s+|a\s+|an\s+|recent\s+|prior\s+)*"
            r"(?:interval\s+)?(?:placement|insertion|removal|extubation|surgery|operation|procedure|"
            r"resection|cabg|sternotomy|thoracotomy|lobectomy|pneumonectomy|thoracentesis|"
            r"intubation|repair|replacement|biopsy|transplant|ablation|esophagectomy|"
            r"mastectomy|vats)\b[^,;.]*",
            _I,
        ),
        "",
    ),
    (
        ("pp",),
        re.compile(r"\binterval\s+(?:placement|insertion|advancement|repositioning)\s+of\s+(?:the\s+|an?\s+)?", _I),
        "",
    ),
    (
        ("pp",),
        re.compile(
            r"\b(?:post-?operative|post-?surgical|post-?procedural|post-?thoracotomy|"
            r"post-?sternotomy|post-?radiation|post-?treatment)(?:\s+changes?)?\s*(?:of|from|"
            r"related\s+to|after|following)?\s*",
            _I,
        ),
        "",
    ),
    (
        ("pp",),
        re.compile(
            r"\b(?:prior|previous|recent|remote|old)\s+(?=(?:cabg|surgery|sternotomy|thoracotomy|"
            r"lobectomy|resection|procedure|operation|thoracentesis|intubation|placement|"
            r"pneumonectomy|mastectomy|esophagectomy|valve\s+replacement|vats)\b)",
            _I,
        ),
        "",
    ),
    # ---- view -----------------------------------------------------------------------
    # "Frontal and lateral views of the chest show normal heart size." -> "Normal heart size."
    (
        ("view",),
        re.compile(
            r"^(?:the\s+)?(?:[\w-]+\s+){0,6}?(?:views?|radiographs?|images?|projections?)\s+"
            r"(?:of\s+the\s+chest\s+)?(?:(?:with|including)\s+[^.;]{0,80}?\s+)?(?:were\s+obtained\s+"
            r"(?:and\s+)?)?(?:show|shows|demonstrate|demonstrates|reveal|reveals)\s+",
            _I,
        ),
        "",
    ),
    (
        ("view",),
        re.compile(
            r",?\s*(?:as\s+)?(?:best|only|better|well)\s+(?:seen|visualized|visible|appreciated|"
            r"demonstrated|noted|evident|shown)\s+(?:only\s+)?(?:on|in)\s+(?:the\s+)?"
            r"(?:frontal|lateral|pa|ap|portable|single|two|both|left\s+lateral|right\s+lateral)"
            r"(?:\s+and\s+lateral)?\s+(?:view|views|projection|projections|image|images|"
            r"radiograph|radiographs|film|films)\b",
            _I,
        ),
        "",
    ),
    (
        ("view",),
        re.compile(
            r"\s*\b(?:for|given|on|with|due\s+to)\s+(?:the\s+|an?\s+)?(?:AP|PA|portable|supine|"
            r"semi-?upright|upright|frontal|single\s+view)\s+(?:technique|projection|positioning|"
            r"position|view|radiograph|film|study|exam|examination)\b",
            _I,
        ),
        "",
    ),
    (
        ("view",),
        re.compile(
            r"\b(?:on|in|from)\s+(?:the\s+|this\s+)?(?:frontal|lateral|pa|ap|portable|single|two|both|"
            r"upright|supine|semi-?upright|left\s+lateral|right\s+lateral)(?:\s+and\s+lateral)?"
            r"(?:\s+frontal)?\s+(?:view|views|projection|projections|image|images|radiograph|"
            r"radiographs|film|films)(?:\s+only)?\b\s*,?",
            _I,
        ),
        "",
    ),
    (
        ("view",),
        re.compile(
            r"\b(?:the\s+)?(?:lateral|frontal)\s+(?:view|projection|image|radiograph)\s+"
            r"(?:shows|demonstrates|reveals|confirms)\s+",
            _I,
        ),
        "",
    ),
]

# Words that carry nothing clinical on their own: a rewritten sentence made only of
# these (and punctuation) is deleted ("PA and lateral views of the chest were obtained.").
_FILLER = frozenset(
    """
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
""".split()
)
# Normal structures: "Stable mediastinal contour." minus "stable" says nothing.
_ANATOMY = frozenset(
    """
heart cardiac cardiomediastinal mediastinal mediastinum hilar hila hilum contour contours silhouette silhouettes
size sizes appearance configuration lung lungs pulmonary thorax thoracic bony bones osseous structures structure
aorta aortic vasculature vascular trachea diaphragm diaphragms hemidiaphragm hemidiaphragms soft tissues tissue
right left bilateral bilaterally upper lower mid middle base bases apex apices zone zones lobe lobes aspect
aeration expansion inflation volumes volume positioning position radiographic appearances
""".split()
)
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
    _I,
)
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
        mark, s = m.group(1), s[m.end() :]
    s = _DOUBLE_PUNCT_RE.sub(lambda m: m.group(2) if m.group(2) == "." else m.group(1), s)
    s = _PUNCT_SPACE_RE.sub(r"\1", s)
    s = _LEAD_RE.sub("", s)
    s = _TRAIL_RE.sub("", s).strip()
    s = re.sub(r"\bis present is present\b", "is present", s)
    s = re.sub(r"\b(a|an|the)\s+(?=[.,;]|$)", "", s, flags=_I)
    s = re.sub(r"\ba\s+(?=[aeiou])", "an ", s)
    s = re.sub(r"\ban\s+(?=[b-df-hj-np-tv-z])", "a ", s, flags=_I)
    if s and s[-1] not in ".!?":
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
            if (
                h.category == "view"
                and self._setting is not None
                and views_supported(list(h.views) if h.views else None, self._setting, self._projection)
            ):
                continue
            out.append(h)
        return out

    def rewrite_text(
        self,
        text: str | None,
        categories: Sequence[str],
        setting: str | None = None,
        projection: str | None = None,
        hits: Sequence | None = None,
    ) -> str | None:
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
        if _IS_PRESENT_RE.search(s) and not _FINDING_WORDS.search(s[: _IS_PRESENT_RE.search(s).start()]):
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
            out.append(
                RewriteReply(
                    self.rewrite_text(t.findings, t.categories, ex.setting, ex.view, f_hits),
                    self.rewrite_text(t.impression, t.categories, ex.setting, ex.view, i_hits),
                )
            )
        return out


# =====================================================================================
# LLM generators: the chat clients (rg4cli.llm.clients) plus what a rewrite asks and reads
# =====================================================================================
def unrewritten_error(rewriter: Any) -> Rg4Error | None:
    """The run's failure to report when the generator gave up on examples (exit status 1)."""
    failed = int((getattr(rewriter, "stats", None) or {}).get("failed", 0))
    if not failed:
        return None
    return Rg4Error(
        f"{failed} example(s) could not be rewritten: the {rewriter.name} generator gave up on them "
        f"(dropped as '{DROP_FAILED}', not written to the output; the records written are complete)"
    )


class OpenAIRewriter(OpenAIClient):
    """Rewrites through an OpenAI-compatible endpoint (OpenAIClient: retries, limits, no redirects).

    A task the client gives up on fails (RewriteReply.error) and the loop drops that example."""

    name = "openai"

    def complete(self, messages: list[dict]) -> tuple[str | None, str | None, str | None]:
        """(findings, impression, error) for one rewrite prompt, with retries."""
        parsed, error = self.ask(messages, parse_reply)
        return (None, None, error) if error is not None else (*parsed, None)

    def _one(self, task: RewriteTask) -> RewriteReply:
        f, i, err = self.complete(build_messages(task, self.system_prompt))
        return RewriteReply(f, i, err)

    def rewrite(self, tasks: Sequence[RewriteTask]) -> list[RewriteReply]:
        if not tasks:
            return []
        return self.run_concurrently(self._one, list(tasks))


class HFRewriter(HFClient):
    """Rewrites with a local causal LM (HFClient); replies parsed like the openai generator's."""

    name = "hf"

    def rewrite(self, tasks: Sequence[RewriteTask]) -> list[RewriteReply]:
        answers = self.ask_batch([build_messages(t, self.system_prompt) for t in tasks], parse_reply)
        return [RewriteReply(*parsed) if error is None else RewriteReply(error=error) for parsed, error in answers]


def views_supported(views, setting, projection):
    from rg4cli.judges.verdict import views_supported as supported

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
