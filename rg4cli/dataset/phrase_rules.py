"""Phrase-level rules of the rules rewriter: comparison adverbs and adjectives, "compared to
the prior", "status post", view phrases (rg4cli.dataset.clauses applies them after its
clause-level rules). Each rule: (categories, pattern, replacement)."""

from __future__ import annotations

import re
from collections.abc import Callable

from rg4cli.judges.phrases import prefilter

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
            r"re-?demonstrated)\s*(?=[.;,]|$)",
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
            r"post-?sternotomy|post-?radiation|post-?treatment)(?:ly)?\b(?:\s+changes?)?\s*(?:of|from|"
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
            r"(?:of\s+(?:the\s+)?chest\s+)?(?:(?:provided|obtained|submitted|acquired)\s+)?(?:(?:with|including)\s+"
            r"[^.;]{0,80}?\s+)?(?:were\s+obtained\s+(?:and\s+)?)?(?:show|shows|demonstrate|demonstrates|reveal|reveals)\s+",
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

# Each rule is tried only where a match can start (judges.phrases.prefilter): same output, faster.
REWRITE_RULES = [(cats, prefilter(pattern), repl) for cats, pattern, repl in REWRITE_RULES]
