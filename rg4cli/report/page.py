"""The HTML document: skeleton, inline CSS and script (package data), inline JSON data.

Nothing in the page refers outside itself: no URL but `data:` and in-page anchors (the SVG
namespace is an identifier, not a fetch). Data sits in `<script type="application/json">`
blocks with `<` escaped, so no record text can close the element it sits in.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from string import Template

from rg4cli import __version__
from rg4cli.vocab import INPUT_SETTINGS, OBSERVATIONS

_PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="rg4 $version">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>$title</title>
<style>
$css
</style>
</head>
<body>
<header>
<h1>$title</h1>
<p>Written by rg4 $version. $summary</p>
<nav aria-label="Sections"><a href="#run">Run</a><a href="#metrics">Metrics</a><a href="#charts">Charts</a><a href="#studies">Studies</a></nav>
</header>
<main>
$notes
<section id="run" aria-labelledby="run-h"><h2 id="run-h">Run</h2>
$run
</section>
<section id="metrics" aria-labelledby="metrics-h"><h2 id="metrics-h">Metrics</h2>
$metrics
$comparisons
</section>
<section id="charts" aria-labelledby="charts-h"><h2 id="charts-h">Charts</h2>
<div class="charts">
$charts
</div>
</section>
<section id="studies" aria-labelledby="studies-h"><h2 id="studies-h">Studies</h2>
<div class="controls" role="search" aria-label="Filter the studies">
<label>Setting <select id="f-setting"><option value="">all</option>$setting_options</select></label>
<label><input type="checkbox" id="f-mismatch"> label mismatch</label>
<label><input type="checkbox" id="f-hall"> hallucination flagged</label>
<label>Search <input type="search" id="f-search" placeholder="id or words (press /)"></label>
<label>Sort <select id="f-sort"><option value="">input order</option><option value="id">id</option>
<option value="mismatch">most label disagreements</option><option value="hall">hallucination first</option>
<option value="length">longest generated</option></select></label>
<output id="count" aria-live="polite"></output>
</div>
<p class="legend-row">Keys: ↑/↓ or j/k move, PageUp/PageDown, Home/End, / search.</p>
<div class="browser">
<div id="list" class="list" role="listbox" tabindex="0" aria-label="Studies"><div id="list-spacer"></div></div>
<article id="detail" class="detail" aria-live="polite"></article>
</div>
<noscript><p>The study browser needs JavaScript; the tables and charts above do not.</p></noscript>
</section>
</main>
<script type="application/json" id="rg4-observations">$observations</script>
<script type="application/json" id="rg4-data">$data</script>
<script type="application/json" id="rg4-images">$images</script>
<script>
$js
</script>
</body>
</html>
"""
)


def _asset(name: str) -> str:
    return resources.files("rg4cli.report").joinpath("assets").joinpath(name).read_text(encoding="utf-8")


def inline_json(obj: object) -> str:
    """JSON safe inside a <script> element: every `<` escaped, so no `</script>` or `<!--` can end or bend it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def render(title: str, notes: list[str], sections: dict, studies: list[dict], images: dict[str, str]) -> str:
    settings = sorted(
        {s["setting"] for s in studies}, key=lambda s: INPUT_SETTINGS.index(s) if s in INPUT_SETTINGS else 9
    )
    notes_html = (
        '<section aria-label="Notes"><ul class="notes">'
        + "".join(f"<li>{escape(n)}</li>" for n in notes)
        + "</ul></section>"
        if notes
        else ""
    )
    flagged = sum(1 for s in studies if (s.get("h") or {}).get("flag"))
    summary = f"{len(studies)} studies, {flagged} with hallucination flagged."
    return _PAGE.substitute(
        version=escape(__version__),
        title=escape(title),
        summary=escape(summary),
        css=_asset("report.css"),
        js=_asset("report.js"),
        notes=notes_html,
        run=sections["run"],
        metrics=sections["metrics"] or "<p>No score summary given (--score).</p>",
        comparisons=sections["comparisons"],
        charts="\n".join(sections["charts"]) or "<p>No charts: give --score and --train.</p>",
        setting_options="".join(f'<option value="{escape(s)}">{escape(s)}</option>' for s in settings),
        observations=inline_json(list(OBSERVATIONS)),
        data=inline_json(studies),
        images=inline_json(images),
    )
