"""Report sections: the MIMIC-CXR free-text parser and rg4's marked target text.

MIMIC-CXR reports are free text with upper-case headers ("FINDINGS:", "IMPRESSION:",
...). Real reports vary: headers in mixed case, on their own line or inline, with
synonyms ("CLINICAL HISTORY", "REASON FOR EXAM", "FINDINGS AND IMPRESSION",
"CONCLUSION"). Each canonical section takes the text up to the next known header.
"""

from __future__ import annotations

import re

# header (as written, upper-cased, single spaces) -> canonical section
HEADER_SYNONYMS: dict[str, str] = {
    "EXAMINATION": "examination",
    "EXAM": "examination",
    "INDICATION": "indication",
    "INDICATIONS": "indication",
    "REASON FOR EXAM": "indication",
    "REASON FOR EXAMINATION": "indication",
    "REASON FOR STUDY": "indication",
    "HISTORY": "history",
    "CLINICAL HISTORY": "history",
    "CLINICAL INFORMATION": "history",
    "CLINICAL INDICATION": "indication",
    "TECHNIQUE": "technique",
    "PROCEDURE": "technique",
    "COMPARISON": "comparison",
    "COMPARISONS": "comparison",
    "FINDINGS": "findings",
    "FINDING": "findings",
    "IMPRESSION": "impression",
    "IMPRESSIONS": "impression",
    "FINDINGS AND IMPRESSION": "impression",
    "FINDINGS/IMPRESSION": "impression",
    "CONCLUSION": "impression",
    "CONCLUSIONS": "impression",
    "SUMMARY": "impression",
    "NOTIFICATION": "notification",
    "RECOMMENDATION": "recommendation",
    "RECOMMENDATIONS": "recommendation",
    "RECOMMENDATION(S)": "recommendation",
    "WET READ": "wet_read",
    "ADDENDUM": "addendum",
}
SECTION_NAMES = ("examination", "indication", "history", "technique", "comparison", "findings", "impression")

_HEADER_RE = re.compile(
    r"(?:(?<=\n)|^|(?<=[.\s]))\s*("
    + "|".join(sorted((re.escape(h).replace(r"\ ", r"\s+") for h in HEADER_SYNONYMS), key=len, reverse=True))
    + r")\s*:",
    re.IGNORECASE,
)
_FINAL_REPORT_RE = re.compile(r"^\s*FINAL REPORT\s*$", re.IGNORECASE | re.MULTILINE)
_SPACE_RE = re.compile(r"\s+")


def parse_sections(text: str) -> dict[str, str | None]:
    """Split a free-text report into its sections (all names present, None if absent).

    Whitespace inside a section is collapsed to single spaces. A repeated header
    (e.g. two IMPRESSION blocks) is appended, not overwritten. Text before the first
    header (the "FINAL REPORT" banner, wet reads) is not a section.
    """
    text = _FINAL_REPORT_RE.sub("", text or "")
    out: dict[str, str | None] = {name: None for name in SECTION_NAMES}
    matches = list(_HEADER_RE.finditer(text))
    for i, m in enumerate(matches):
        header = _SPACE_RE.sub(" ", m.group(1).upper())
        name = HEADER_SYNONYMS[header]
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = _SPACE_RE.sub(" ", text[m.end() : end]).strip()
        if name not in out:
            continue  # notification, wet read, ...: known so they end the previous section
        if not body:
            continue
        out[name] = body if out[name] is None else out[name] + " " + body
    return out


# ---- rg4's target text -------------------------------------------------------
# The LLM learns and writes "findings: … impression: …" (only the present sections),
# like the official data's "finding :" / "impression :" markers, so generated text
# splits back into the two fields.
_MARK_RE = re.compile(r"\b(findings?|impressions?)\s*:", re.IGNORECASE)


def join_sections(findings: str | None, impression: str | None) -> str:
    parts = []
    if findings and findings.strip():
        parts.append("findings: " + findings.strip())
    if impression and impression.strip():
        parts.append("impression: " + impression.strip())
    return " ".join(parts)


def split_sections(text: str) -> tuple[str | None, str | None]:
    """Inverse of join_sections; unmarked text counts as findings."""
    text = text or ""
    marks = list(_MARK_RE.finditer(text))
    if not marks:
        body = text.strip()
        return (body or None), None
    findings: list[str] = []
    impression: list[str] = []
    lead = text[: marks[0].start()].strip()
    if lead:
        findings.append(lead)
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = text[m.end() : end].strip()
        if body:
            (impression if m.group(1).lower().startswith("impression") else findings).append(body)
    return (" ".join(findings) or None), (" ".join(impression) or None)
