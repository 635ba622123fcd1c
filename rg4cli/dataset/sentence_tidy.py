"""What is left of a sentence after an edit: its clinical words, and its tidying into a sentence."""

from __future__ import annotations

import re

from rg4cli.dataset.phrase_rules import _I

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
    r"when|while|though|although|after|before|is|are|was|were|appears?|seems?|remains?|be|been|cannot\s+be|it))+\s*(?=[.!?]?$)",
    _I,
)
# "size is present and appears enlarged" -> "size appears enlarged"; "X, which is present." -> "X."
_PRESENT_AND_RE = re.compile(
    r"\s+(?:is|are)\s+present\s+and\s+(?=(?:appears?|is|are|measures?|has|have|shows?|seems?|demonstrates?)\b)", _I
)
_PRESENT_AND_ADJ_RE = re.compile(
    r"\b(is|are)\s+present\s+and\s+(?=(?:\w+ly\s+)?(?:enlarged|normal|top-normal|within|unremarkable|clear|small|large|"
    r"prominent|tortuous|elevated|intact|mild|moderate|severe|minimal|low|high|widened|calcified|at|in|notable|"
    r"remarkable|significant|top|upper|borderline)\b)",
    _I,
)
_WHICH_PRESENT_RE = re.compile(r"\s*,?\s*(?:which|that)\s+(?:is|are)\s+present(?=\s*[.;,]|\s*$)", _I)
_AND_WITHOUT_RE = re.compile(r"\band\s+(?=without\b)", _I)  # "seen and without" once a clause between went
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
    s = _AND_WITHOUT_RE.sub("", s)
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
