"""Every relative link in the README, docs/ and benchmarks/README.md leads somewhere.

A link to a file or folder must name one that exists in the repository; a `#anchor` into a
markdown file (or within the same file) must name one of its headings, slugged as GitHub
slugs them. Links inside code (fenced blocks, `inline code`) and to other sites are not links.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(
    [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md", *(ROOT / "docs").glob("**/*.md")]
)
PAGES = [p for p in PAGES if p.exists()]

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
_CODE = re.compile(r"(`+).+?\1", re.S)
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.M)


def _prose(text: str) -> str:
    return _CODE.sub("", _FENCE.sub("", text))


def links(text: str) -> list[str]:
    prose = _prose(text)
    return _INLINE.findall(prose) + _REFERENCE.findall(prose)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for _, heading in _HEADING.findall(_FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for target in links(page.read_text(encoding="utf-8")):
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:, ...
            continue
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not dest.exists():
            problems.append(f"{target}: no such file")
        elif root not in dest.parents and dest != root:
            problems.append(f"{target}: outside the repository")
        elif anchor and dest.suffix == ".md" and unquote(anchor).lower() not in anchors(dest):
            problems.append(f"{target}: no heading #{anchor} in {dest.relative_to(root)}")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_the_readme_stays_an_entry_point():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 150


def test_the_checker_catches_what_it_should(tmp_path):
    page = tmp_path / "a.md"
    (tmp_path / "b.md").write_text("# Title\n\n## Two words: `code`\n\n## Two words: code\n", encoding="utf-8")
    page.write_text(
        "[ok](b.md#two-words-code) [dup](b.md#two-words-code-1) [self](#here) [web](https://x.org/y)\n"
        "[gone](c.md) [bad anchor](b.md#nope) [out](../x.md) `[in code](d.md)`\n\n# Here\n\n```\n[fenced](e.md)\n```\n",
        encoding="utf-8",
    )
    assert slug("Token-level loss weighting (TLW)") == "token-level-loss-weighting-tlw"
    assert slug("The release's scores") == "the-releases-scores"
    assert slug("`make demo` — the method") == "make-demo--the-method"
    assert sorted(broken_links(page, tmp_path)) == [
        "../x.md: no such file",
        "b.md#nope: no heading #nope in b.md",
        "c.md: no such file",
    ]
