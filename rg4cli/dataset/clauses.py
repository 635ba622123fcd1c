"""The rules rewriter's grammar: the edits that cut or rewrite input-agnostic content.

Two layers, applied in order to one flagged sentence (rg4cli.dataset.rewriters.RulesRewriter):

- CLAUSE_RULES: clause-level edits that keep the finding. A comparison clause coordinated
  with a finding goes ("the wire is fractured but unchanged" -> "the wire is fractured"),
  a reference to other imaging goes ("a node seen on CT of ___ accounts for ..."), a
  resolved or removed finding becomes its present-tense negation ("the effusion has
  resolved" -> "No effusion."), a placement becomes a presence ("there has been placement
  of an ET tube" -> "there is an ET tube").
- REWRITE_RULES: phrase-level edits (comparison adverbs and adjectives, "compared to the
  prior", "status post", view phrases).

Each rule names the category it edits; `apply_rules` records every change as an edit
{sentence, removed, replacement, category, edit} so a record shows what was cut. The
patterns are grammar (comparison phrases, temporal adverbs, participles of other imaging),
never sentences of a particular corpus. What the judge flags (judges.phrases) decides
which sentences are edited and whether an edit was enough.
"""

from __future__ import annotations

import re
from collections.abc import Callable

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
            r"\b(is|are)\s+no\s+longer\s+(seen|visualized|visible|present|evident|identified|"
            r"appreciated|demonstrated)\b",
            _I,
        ),
        r"\1 not \2",
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
            rf"\bthere\s+(?:has\s+been|is|are)\s+(?:an?\s+)?(?:{_DEGREE}?(?:{_ADV}\s+)?(?:interval\s+)?"
            rf"(?:increase|decrease|improvement|worsening|progression|reduction|change)|interval\s+(?:development|"
            rf"appearance|enlargement))\s+(?:in|of)\s+(?:the\s+)?",
            _I,
        ),
        "there is ",
    ),
    (
        ("pc",),
        re.compile(
            rf"\b(?:{_DEGREE}?(?:{_ADV}\s+)?(?:interval\s+)?(?:increase|decrease|improvement|worsening|"
            rf"progression|reduction)|interval\s+(?:development|appearance|enlargement))\s+(?:in|of)\s+"
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
            rf"of|is|are|was|were|though|although|but|given|when|as)\b)",
            _I,
        ),
        "",
    ),
    (
        ("pc",),
        re.compile(
            r"\b(larger|smaller|lower|higher|greater|bigger|worse|better|more|less)\b(\s+in\s+"
            r"(?:size|volume|extent))?(?=\s*[.;,]|\s*$|\s+than\s+(?:on\s+|in\s+)?(?:the\s+)?(?:prior|previous|"
            r"before|earlier|last|preceding)\b)",
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
            r"mastectomy|vats|\w+(?:ectomy|otomy|ostomy|plasty)|surgeries)\b[^,;.]*",
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
            r"(?:frontal|lateral|pa|ap|portable|single|two|both|(?:left\s+|right\s+)?(?:lateral\s+)?decubitus|"
            r"oblique|(?:apical\s+)?lordotic|left\s+lateral|right\s+lateral)"
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
        " ",
    ),
    (
        ("view",),
        re.compile(
            r"\b(?:on|in|from)\s+(?:the\s+|this\s+)?(?:frontal|lateral|pa|ap|portable|single|two|both|"
            r"upright|supine|semi-?upright|(?:left\s+|right\s+)?(?:lateral\s+)?decubitus|oblique|"
            r"(?:apical\s+)?lordotic|left\s+lateral|right\s+lateral)(?:\s+and\s+lateral)?"
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
_DOUBLE_PUNCT_RE = re.compile(r"([,;:])\s*([,;:.])|(\.)\s*\.+")
_LEAD_RE = re.compile(
    r"^(?:[\s,;:\-]|and\b|but\b|or\b|with\b|which\b|however\b|that\b|though\b|although\b|while\b|whereas\b)+", _I
)
# A comparison preposition left at the end once its object went ("unchanged from ___" with the
# date removed), or a preposition or conjunction an edit left dangling.
_DANGLING_RE = re.compile(
    r"(?:\s+(?:to|than|as|from|since|on)\s+(?:before|prior|previous(?:ly)?))?(?:\s+(?:of|to|in|on|at|by|for|from|"
    r"with|as|than|since|compared|and|or|but|the|a|an|which|that|into|onto|over|per|within|between|"
    r"when|while|though|although|after|before|is|are))+\s*(?=[.!?]?$)",
    _I,
)
# "size is present and appears enlarged" -> "size appears enlarged"; "X, which is present." -> "X."
_PRESENT_AND_RE = re.compile(
    r"\s+(?:is|are)\s+present\s+and\s+(?=(?:appears?|is|are|measures?|has|have|shows?|seems?|demonstrates?)\b)", _I
)
_PRESENT_AND_ADJ_RE = re.compile(
    r"\b(is|are)\s+present\s+and\s+(?=(?:\w+ly\s+)?(?:enlarged|normal|top-normal|within|unremarkable|clear|small|large|"
    r"prominent|tortuous|elevated|intact|mild|moderate|severe|minimal|low|high|widened|calcified|at|in)\b)",
    _I,
)
_WHICH_PRESENT_RE = re.compile(r"\s*,?\s*(?:which|that)\s+(?:is|are)\s+present(?=\s*[.;,]|\s*$)", _I)
_ONE_WORD_RE = re.compile(r"^([A-Za-z][\w-]*)([.!?]?)$")
_TRAIL_RE = re.compile(r"(?:[\s,;:\-]|\band|\bbut|\bor|\bwith|\bwhich|\bthan|\bthe|\ba)+(?=[.!?]?$)", _I)
_LIST_MARK_RE = re.compile(r"^(\d{1,2}[.)]\s+)")


def _tidy(sentence: str, original: str) -> str:
    s = _SPACE_RE.sub(" ", sentence).strip()
    mark = ""
    m = _LIST_MARK_RE.match(s)
    if m:
        mark, s = m.group(1), s[m.end() :]
    s = _DOUBLE_PUNCT_RE.sub(lambda m: m.group(3) or (m.group(2) if m.group(2) == "." else m.group(1)), s)
    s = _PUNCT_SPACE_RE.sub(r"\1", s)
    s = _LEAD_RE.sub("", s)
    s = _TRAIL_RE.sub("", s).strip()
    s = _PRESENT_AND_RE.sub(" ", s)
    s = _PRESENT_AND_ADJ_RE.sub(r"\1 ", s)
    s = _WHICH_PRESENT_RE.sub("", s)
    s = _DANGLING_RE.sub("", s).strip()
    s = _TRAIL_RE.sub("", s).strip()
    s = re.sub(r"\bis present is present\b", "is present", s)
    s = re.sub(r"\b(a|an|the)\s+(?=[.,;]|$)", "", s, flags=_I)
    s = re.sub(r"\ba\s+(?=[aeiou])", "an ", s)
    s = re.sub(r"\ban\s+(?=[b-df-hj-np-tv-z])", "a ", s, flags=_I)
    if s and s[-1] not in ".!?":
        end = original.rstrip()[-1:] if original.rstrip()[-1:] in ".!?" else "."
        s += end
    one = _ONE_WORD_RE.match(s)
    if one and one.group(1).lower() not in _FILLER:  # "Cardiomegaly." -> "There is cardiomegaly."
        word = one.group(1)
        s = (
            ("there are " if word.lower().endswith("s") and not word.lower().endswith("sis") else "there is ")
            + s[0].lower()
            + s[1:]
        )
    if s[:1].islower() and (original[:1].isupper() or mark):
        s = s[0].upper() + s[1:]
    return mark + s


# ---- clause-level edits (applied before REWRITE_RULES) ---------------------------------
_PRIORS = (
    rf"(?:{_PRIOR}s?|priors|multiple\s+priors|comparison|(?:the\s+)?(?:most\s+recent|recent|outside|scout)\s+"
    rf"(?:chest\s+)?{_EXAM})"
)
_REF2 = (
    rf"(?:(?:the\s+|a\s+|an\s+|all\s+|multiple\s+|several\s+)?{_PRIORS}\b(?:(?:\s+[\w-]+){{0,2}}?\s+{_EXAM})?{_DATE})"
)
_SAME = (
    r"(?:unchanged|unaltered|stable|similar|identical|comparable|constant|not\s+(?:significantly\s+|substantially\s+|"
    r"appreciably\s+)?changed|without\s+(?:significant\s+|substantial\s+)?change|little\s+changed)"
)
_ASPECT = r"(?:\s+(?:in|with\s+respect\s+to)\s+(?:size|appearance|position|positioning|extent|configuration|location))?"
_CMP_PREP = r"(?:(?:as\s+|when\s+)?compared\s+(?:to|with)|in\s+comparison\s+(?:to|with)|from|to|with|since|than|versus)"
_IMAGING = (
    r"(?:(?:the\s+|a\s+|an\s+)?(?:(?:recent|prior|previous|earlier|outside|same-day|subsequent|recent\s+outside|"
    r"concurrent|concurrently\s+obtained|subsequently\s+obtained)\s+)*(?:chest\s+|abdominal\s+|torso\s+)?"
    r"(?:ct|cta|cts|mri|pet(?:-ct)?|ultrasound|fluoroscopy|scan|scans|imaging|study|studies|exam|examination|"
    r"radiograph|radiographs|film|films|priors?|comparison)\b"
    r"(?:\s+(?:of|from|dated|on|performed\s+on|obtained\s+on)\s+(?:___|\d[\d/.-]*|yesterday|today|[a-z]+\s+\d{1,2}))?)"
)
_SEEN = (
    r"(?:seen|noted|shown|demonstrated|described|identified|visualized|assessed|evaluated|characterized|"
    r"depicted|imaged|appreciated|visible|evident)"
)
_WHEN = (
    r"(?:\s+(?:(?:of|from|dated|obtained|performed|taken|done)(?:\s+(?:on|at))?|on|at)(?:\s+(?:___|\d[\d/:.-]*|yesterday|today|"
    r"earlier(?:\s+today)?|this\s+morning|(?:\w+\s+)?(?:hours?|days?|weeks?|months?|years?)\s+(?:ago|prior|earlier)))?|"
    r"\s+(?:\w+\s+)?(?:hours?|days?|weeks?|months?|years?)\s+(?:ago|prior|earlier))?"
)
_CHANGE_PRED = (
    r"(?:unchanged|stable|similar|identical|comparable|constant|new|newly\s+\w+|increased|decreased|improved|"
    r"worse|worsened|increasing|decreasing|improving|worsening|larger|smaller|persistent|progressed|"
    r"not\s+(?:\w+ly\s+)?changed|without\s+(?:\w+\s+)?change|little\s+changed|(?:more|less)\s+(?:conspicuous|"
    r"prominent|apparent|evident|pronounced|dense|extensive|visible|marked))"
)
_CMP_TAIL = (
    rf"(?:\s+(?:since|(?:as\s+|when\s+)?compared\s+(?:to|with)|in\s+comparison\s+(?:to|with)|than)\s+(?:the\s+|a\s+)?"
    rf"(?:[\w-]+\s+)?{_EXAM}{_WHEN}|"
    rf"\s+{_CMP_PREP}(?:\s+{_REF2}|\s+(?:___|yesterday|\d[\d/.-]*))?|\s+(?:the\s+)?{_PRIOR}\s+{_EXAM}|\s+over\s+(?:the\s+)?(?:last|past)\s+"
    r"(?:\d+|few|several)?\s*(?:hours?|days?|weeks?|months?|years?)|\s+in\s+the\s+interval)?"
)
_BOUNDARY = (
    r"(?=\s*[.;,]|\s*$|\s+(?:and|but|though|although|with|given|likely|probably|possibly|which|allowing|since|"
    r"the|there|no|best|better|most|more|consistent|compatible|suggest\w*|concerning|representing|reflecting|"
    r"at|in|on|within|along|over|throughout|overlying|projecting|measuring|now|however|whereas|while|or|may|"
    r"could|might|as)\b)"
)
_COPULA_PLURAL = re.compile(r"^(?:are|were|have|remain|appear|seem)\b", _I)


def _present(m: re.Match) -> str:
    return "are present" if _COPULA_PLURAL.match(m.group(0)) else "is present"


def _no_subject(m: re.Match) -> str:
    return f"no {m.group('x')}."


# (category, kind, pattern, replacement): kind "cut" removes the span, "replace" rewrites it.
CLAUSE_RULES: list[tuple[str, str, re.Pattern, str | Callable]] = [
    # "in comparison with the study of ___," / "compared to the radiograph from 2 hours ago" (no "prior")
    (
        "pc",
        "cut",
        re.compile(
            rf"\b(?:(?:as|when)\s+)?(?:in\s+comparison|compared|comparison)\s+(?:is\s+made\s+)?(?:to|with)\s+"
            rf"(?:the\s+|a\s+|an\s+)?(?:(?:{_PRIOR}|most\s+recent|recent|scout|outside)\s+)*"
            rf"(?:(?:chest|torso|abdominal|portable|frontal|lateral)\s+)*{_EXAM}(?:\s+(?:from|of)\s+(?:a|an|the)\s+"
            rf"(?:\w+\s+)?{_EXAM})?{_WHEN}\s*[,;:]?",
            _I,
        ),
        "",
    ),
    # "the wire is fractured but unchanged (from the prior)" -> "the wire is fractured"
    (
        "pc",
        "cut",
        re.compile(
            rf"\s*,?\s+(?:but|and)\s+(?:(?:is|are|remains?|appears?|has\s+been|have\s+been|(?:may|might|could)\s+be)\s+)?"
            rf"(?:otherwise\s+)?(?:{_ADV}\s+)?(?:{_SAME}|{_CHANGE_PRED}){_ASPECT}{_CMP_TAIL}(?=\s*[.;,]|\s*$)",
            _I,
        ),
        "",
    ),
    # "a nodule ... unchanged from multiple priors and consistent with" -> "a nodule ... consistent with"
    (
        "pc",
        "cut",
        re.compile(
            rf"(?<!\bis)(?<!\bare)(?<!\bwas)(?<!\bwere)\s*,?\s+(?:{_ADV}\s+)?(?:{_SAME}|{_CHANGE_PRED}){_ASPECT}\s+"
            rf"{_CMP_PREP}\s+{_REF2}(?:\s+and(?=\s))?",
            _I,
        ),
        "",
    ),
    # "X is new / unchanged / worse (compared to the prior)" -> "X is present"
    (
        "pc",
        "replace",
        re.compile(
            rf"\b(?:is|are|was|were|remains?|appears?|seems?)\s+(?:also\s+)?(?:{_ADV}\s+)?{_CHANGE_PRED}"
            rf"(?:\s+(?:and|or|to)\s+(?:{_ADV}\s+)?{_CHANGE_PRED})?{_ASPECT}{_CMP_TAIL}{_BOUNDARY}",
            _I,
        ),
        _present,
    ),
    # "edema has improved (over the last 24 hours)", "effusions have newly appeared" -> "... is/are present"
    (
        "pc",
        "replace",
        re.compile(
            rf"\b(?:has|have)\s+(?:also\s+)?(?:{_ADV}\s+)?(?:newly\s+)?(?:appeared|developed|increased|decreased|"
            rf"improved|worsened|progressed|enlarged|diminished|grown|changed|evolved|regressed|"
            rf"continued\s+to\s+\w+)(?:\s+(?:slightly|mildly|minimally|markedly|significantly|substantially|"
            rf"somewhat|further))?{_ASPECT}{_CMP_TAIL}{_BOUNDARY}",
            _I,
        ),
        _present,
    ),
    # "opacities persist(s) (likely reflecting ...)" -> "opacities are present ..."
    (
        "pc",
        "replace",
        re.compile(
            r"\b(persists?|continues?)(?=\s*[.;,]|\s*$|\s+(?:likely|probably|possibly|which|and|with|more|most|in|"
            r"at|consistent|compatible|suggest\w*|concerning|representing|reflecting|along|over|within)\b)",
            _I,
        ),
        lambda m: "is present" if m.group(1).lower().endswith("s") else "are present",
    ),
    # "the heart is stably / persistently enlarged" -> "the heart is enlarged"
    ("pc", "cut", re.compile(r"\b(?:stably|persistently|progressively|increasingly|newly)\s+(?=\w)", _I), ""),
    # "unchanged position of the port" -> "the port"
    (
        "pc",
        "cut",
        re.compile(rf"\b{_SAME}\s+(?:position|positioning|appearance|size|configuration)\s+of\s+", _I),
        "",
    ),
    # "there has been (interval) resolution / removal of X" -> "there is no X"
    (
        "pc",
        "replace",
        re.compile(
            r"\bthere\s+(?:has\s+been|is)\s+(?:an?\s+)?(?:interval\s+)?(?:\w+\s+)?(?:resolution|clearance|"
            r"clearing|removal)\s+of\s+(?:the\s+)?",
            _I,
        ),
        "there is no ",
    ),
    # "the ET tube has been pulled back" -> "the ET tube is in place"
    (
        "pc",
        "replace",
        re.compile(
            r"\b(?:has|have)\s+been\s+(?:\w+ly\s+)?(?:advanced|withdrawn|pulled\s+back|repositioned|retracted|"
            r"exchanged|replaced)(?:\s+(?:by|approximately)\s+[\d.]+\s*(?:cm|mm))?(?=\s*[.;,]|\s*$)",
            _I,
        ),
        lambda m: "are in place" if m.group(0).lower().startswith("have") else "is in place",
    ),
    # "opacities are again seen grossly unchanged and likely reflect" -> "opacities are again seen and likely reflect"
    (
        "pc",
        "cut",
        re.compile(
            rf"\b(seen|noted|identified|visualized|demonstrated|visible|evident)\s+(?:{_ADV}\s+)?"
            rf"(?:{_SAME}|{_CHANGE_PRED}){_ASPECT}{_CMP_TAIL}{_BOUNDARY}",
            _I,
        ),
        r"\1",
    ),
    # "unchanged are the X", "also unchanged is the position of X" -> "the X", "X"
    (
        "pc",
        "cut",
        re.compile(
            rf"^(?:also\s+)?(?:{_ADV}\s+)?{_SAME}\s+(?:is|are)\s+(?:the\s+)?(?:(?:position|appearance|size)\s+of\s+"
            rf"(?:the\s+)?)?",
            _I,
        ),
        "",
    ),
    # "... again seen similar in position terminating ..." -> "... again seen terminating ..."
    (
        "pc",
        "cut",
        re.compile(rf"(?<=\w)\s+(?:{_ADV}\s+)?{_SAME}\s+in\s+(?:position|positioning|location|appearance|size)\b", _I),
        "",
    ),
    # "X is similar to the prior (CT of ___)" -> "X is present"
    (
        "pc",
        "replace",
        re.compile(
            rf"\b(?:is|are|was|were|remains?|appears?)\s+(?:{_ADV}\s+)?{_SAME}{_ASPECT}\s+{_CMP_PREP}\s+{_REF2}",
            _I,
        ),
        _present,
    ),
    # "(which is) better seen on the recent chest CT of ___" -> ""
    (
        "pc",
        "cut",
        re.compile(
            rf"\s*,?\s*(?:(?:which|that)\s+(?:is|are|was|were)\s+|as\s+)?(?:not\s+)?(?:(?:also|better|best|well|again|"
            rf"previously|partially)\s+)?{_SEEN}\s+(?:(?:better|best|again|previously)\s+)?(?:on|in|at|by)\s+"
            rf"{_IMAGING}",
            _I,
        ),
        "",
    ),
    # "on CTs dating back to ___" / "dating back to ___"
    ("pc", "cut", re.compile(r"\s*(?:on\s+\w+\s+)?dating\s+back\s+(?:to\s+)?(?:___|\d[\d/.-]*)?", _I), ""),
    # "since yesterday('s examination)", "since ___"
    (
        "pc",
        "cut",
        re.compile(
            r"\bsince\s+(?:yesterday(?:'?s)?|___|the\s+last\s+\w+|last\s+\w+|\d[\d/.-]*|this\s+morning|"
            r"earlier\s+today|admission)(?:\s+(?:study|exam|examination|radiograph|film|imaging))?\s*,?",
            _I,
        ),
        "",
    ),
    # "X (appears to) have (nearly completely) resolved" / "X has been removed" -> "No X."
    (
        "pc",
        "replace",
        re.compile(
            r"^(?:(?:the|a|an|this|these)\s+)?(?:(?:previously|formerly|recently)\s+(?:seen|noted|present|described|"
            r"reported)\s+)?"
            r"(?P<x>[^,;]+?)\s+(?:has|have|appears?\s+to\s+have|seems?\s+to\s+have)\s+(?:since\s+)?"
            r"(?:(?:\w+ly|nearly|almost|also)\s+)*(?:resolved|cleared|been\s+(?:removed|discontinued|withdrawn|"
            rf"extubated))(?:\s+\w+ly)?{_CMP_TAIL}\s*\.?\s*$",
            _I,
        ),
        _no_subject,
    ),
    # "there has been (interval) placement of X" -> "there is X"
    (
        "pp",
        "replace",
        re.compile(
            r"\bthere\s+(?:has|have)\s+been\s+(?:an?\s+|the\s+)?(?:interval\s+)?(?:placement|insertion|"
            r"re-?positioning|advancement|exchange)\s+of\s+",
            _I,
        ),
        "there is ",
    ),
    # "the tube has been advanced and now terminates" -> "the tube terminates"
    (
        "pc",
        "cut",
        re.compile(
            r"\s+(?:has|have)\s+been\s+(?:\w+ly\s+)?(?:advanced|withdrawn|pulled\s+back|repositioned|retracted|"
            r"placed|inserted|exchanged|replaced)(?:\s+(?:by|to|approximately)\s+[^,.;]*?)?\s+and\s+(?:now\s+)?"
            r"(?=\w+s\b)",
            _I,
        ),
        " ",
    ),
    # "X has been placed" -> "X is in place"
    (
        "pp",
        "replace",
        re.compile(r"\b(?:has|have)\s+been\s+(?:placed|inserted)(?=\s*[.;,]|\s*$)", _I),
        lambda m: "are in place" if m.group(0).lower().startswith("have") else "is in place",
    ),
    # "in unchanged position", "unchanged in position" -> "in position" / "in place"
    (
        "pc",
        "replace",
        re.compile(
            rf"\bin\s+(?:{_SAME}|(?:{_SAME}\s+and\s+)?(?:standard|appropriate|satisfactory))\s+"
            r"(?=(?:standard\s+|appropriate\s+)?(?:position|positioning|location|placement)\b)",
            _I,
        ),
        "in ",
    ),
    (
        "pc",
        "replace",
        re.compile(
            rf"\b(is|are|remains?|appears?)\s+(?:{_ADV}\s+)?{_SAME}\s+in\s+(?:position|positioning|location)\b", _I
        ),
        lambda m: ("are" if _COPULA_PLURAL.match(m.group(1)) else "is") + " in place",
    ),
    # "X has/have not (significantly) changed" -> "X is present"
    (
        "pc",
        "replace",
        re.compile(r"\b(?:has|have)\s+not\s+(?:\w+ly\s+)?changed(?:\s+in\s+the\s+interval)?\b", _I),
        _present,
    ),
    # "X is (also) less conspicuous" -> "X is present"
    (
        "pc",
        "replace",
        re.compile(
            r"\b(?:is|are|appears?|seems?|remains?|looks?)\s+(?:also\s+)?(?:slightly\s+|somewhat\s+|much\s+)?"
            r"(?:less|more)\s+(?:conspicuous|prominent|apparent|evident|pronounced|dense|extensive|visible|marked)\b"
            rf"(?:\s+than\s+(?:on\s+|in\s+)?(?:{_REF2}|before))?(?!\s+than)",
            _I,
        ),
        _present,
    ),
    # "still" / "also again" as adverbs: "there still is", "is still enlarged"
    ("pc", "cut", re.compile(r"\bstill\s+(?=\w)", _I), ""),
    # a procedure named only as the source of a device: "cholecystectomy clips" -> "clips"
    (
        "pp",
        "cut",
        re.compile(
            r"\b(?:surgical|post-?surgical|operative|cabg|bypass|\w+ectomy|vertebroplasty|kyphoplasty|arthroplasty|"
            r"(?:spinal\s+|spine\s+)?(?:fusion|fixation))\s+(?=(?:clips?|staples?|sutures?|wires?|hardware|plates?|screws?|rods?|"
            r"cement|material|anchors?|drains?)\b)",
            _I,
        ),
        "",
    ),
    # "2 views of the chest the lungs are clear" -> "the lungs are clear"
    (
        "view",
        "cut",
        re.compile(
            r"^(?:the\s+)?(?:[\w-]+\s+){0,5}?(?:views?|radiographs?|images?|projections?|films?)\s+(?:of\s+the\s+chest\s+)?"
            r"(?:(?:were|was|are|is)\s+(?:obtained|provided|acquired|submitted|performed|reviewed)\s+)?"
            r"(?=(?:the|there|no|a|an)\s)",
            _I,
        ),
        "",
    ),
    # "... in standard positions no change." -> "... in standard positions."
    (
        "pc",
        "cut",
        re.compile(
            r"\s*,?\s*(?:with\s+)?no\s+(?:significant\s+|interval\s+|appreciable\s+|relevant\s+)*change\s*(?=[.;]|$)",
            _I,
        ),
        "",
    ),
    # "median sternotomy wires" -> "sternal wires"
    ("pp", "replace", re.compile(r"\b(?:median\s+)?sternotomy\s+(?=(?:wires?|sutures?|clips?)\b)", _I), "sternal "),
    # "re-expansion edema" and the like: the prefix names an earlier state
    ("pc", "cut", re.compile(r"\bre-?expansion\s+(?=(?:pulmonary\s+|lung\s+)?edema\b)", _I), ""),
]


def _record(edits: list | None, sentence: str, category: str, kind: str):
    def note(m: re.Match, new: str) -> str:
        if edits is not None and m.group(0) != new:
            edits.append(
                {
                    "sentence": sentence.strip(),
                    "removed": m.group(0).strip(),
                    "replacement": new.strip(),
                    "category": category,
                    "edit": kind if new.strip() else "cut",
                }
            )
        return new

    return note


def apply_rules(sentence: str, cats: set[str], edits: list | None = None) -> str:
    """The sentence after every clause and phrase rule of the flagged categories, edits recorded."""
    s = sentence
    for cat, kind, pattern, repl in CLAUSE_RULES:
        if cat in cats:
            s = _sub(pattern, repl, s, _record(edits, sentence, cat, kind))
    for rule_cats, pattern, repl in REWRITE_RULES:
        if cats.intersection(rule_cats):
            s = _sub(pattern, repl, s, _record(edits, sentence, rule_cats[0], "replace"))
    return s


def _sub(pattern: re.Pattern, repl: str | Callable, s: str, note: Callable) -> str:
    if callable(repl):
        return pattern.sub(lambda m: note(m, repl(m)), s)
    return pattern.sub(lambda m: note(m, m.expand(repl)), s)


# Where a sentence splits into clauses when a flagged one must go: punctuation, and the
# conjunctions that start a clause (reports often come without commas).
CLAUSE_SPLIT_RE = re.compile(
    r"(?<=[;,])\s+|\s+-\s+|(?<=:)\s+|\s+(?=(?:but|however|although|though|whereas|while)\s)"
    r"|\s+(?=and\s+(?:there|no|this|these|it|which|is|are|has|have)\b)"
    r"|\s+(?=(?:which|that)\s+(?:is|are|was|were|has|have|had|may|might|could|likely|probably)\b)"
    r"|\s+(?=(?:with|without)\s)",
    _I,
)
# A communication clause goes on its own: only strong boundaries split it off.
COMM_SPLIT_RE = re.compile(r"(?<=;)\s+|(?<=,)\s+(?=(?:and|but)\s)|\s+-\s+", _I)
