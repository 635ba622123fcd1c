"""`rg4 report` from the command line, and its page in a real headless Chromium (skipped without one)."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image, ImageStat
from typer.testing import CliRunner

from rg4cli.cli.app import app
from rg4cli.vocab import INPUT_SETTINGS

from ..cdp import Chromium, find_chromium
from ..lib.jsonl import read_jsonl, write_jsonl
from ..report_run import make_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"))


def _report(run, out, *extra):
    args = ["report", str(run.gen), "--ref", str(run.ref), "--score", f"gen={run.score}", "--train", str(run.train)]
    return CliRunner().invoke(app, [*args, "--image-root", str(run.root), "-o", str(out), *extra])


def test_writes_the_page_and_says_where(run, tmp_path):
    res = _report(run, tmp_path / "r.html")
    assert res.exit_code == 0, res.stderr
    assert res.stdout == ""
    assert f"12 studies -> {tmp_path / 'r.html'}" in res.stderr
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_page_on_stdout_without_output(run):
    res = CliRunner().invoke(app, ["report", str(run.gen), "-q"])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith("<!DOCTYPE html>") and "no --ref given" in res.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere.jsonl"], "nowhere.jsonl"),
        (["{gen}", "--score", "{ref}"], "not JSON"),
        (["{gen}", "--score", "{gen}.missing"], "no such file"),
        (["{gen}", "--train", "{root}"], "no train_config.json"),
        (["{gen}", "--thumb-size", "4"], "--thumb-size"),
        (["{gen}", "-o", "{gen}"], "gen.judged.jsonl"),
    ],
)
def test_bad_inputs_are_one_line_and_exit_2(run, args, message):
    args = [a.format(gen=run.gen, ref=run.ref, root=run.root) for a in args]
    res = CliRunner().invoke(app, ["report", *args])
    assert res.exit_code == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rg4 report: error:") and message in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_missing_images_and_references_are_notes_not_errors(run, tmp_path):
    records = read_jsonl(run.gen)
    records[0]["frontal"] = "img/missing.png"
    records[1]["id"] = "not-in-ref"
    gen = write_jsonl(tmp_path / "g.jsonl", records)
    res = CliRunner().invoke(
        app, ["report", str(gen), "--ref", str(run.ref), "--image-root", str(run.root), "-o", str(tmp_path / "r.html")]
    )
    assert res.exit_code == 0, res.stderr
    assert "note: 1 image(s) could not be read" in res.stderr and "note: 1 record(s) have no reference" in res.stderr


# ---- in the browser ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if find_chromium() is None:
        pytest.skip("no chromium on PATH (apt-get install chromium); the browser tests need one")
    with Chromium.launch(timeout=120) as b:
        yield b


@pytest.fixture(scope="module")
def page(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("page") / "report.html"
    res = _report(run, out)
    assert res.exit_code == 0, res.stderr
    return out


def test_loads_offline_without_errors_or_requests(browser, page):
    browser.events.clear()
    browser.open(page.as_uri())
    assert browser.evaluate("document.documentElement.dataset.ready") == "1"
    assert browser.errors() == []
    outside = [u for u in browser.requests() if not u.startswith(("file:", "data:"))]
    assert outside == []
    assert browser.evaluate("document.querySelectorAll('#detail img').length") == 1  # the first study is sn
    assert browser.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0 && i.alt)")


def test_every_setting_in_the_table(browser, page):
    browser.open(page.as_uri())
    shown = browser.evaluate("[...document.querySelectorAll('table.metrics tbody tr')].map(r => r.dataset.setting)")
    assert set(INPUT_SETTINGS) <= set(shown)


def test_filter_hallucination_flagged_shows_exactly_the_flagged(browser, page, run):
    browser.open(page.as_uri())
    assert len(browser.evaluate("window.rg4Report.shown()")) == len(run.ids)
    browser.evaluate("document.getElementById('f-hall').click()")
    assert browser.evaluate("window.rg4Report.shown()") == run.flagged
    rows = browser.evaluate("[...document.querySelectorAll('#list .row')].map(r => r.firstChild.textContent.trim())")
    assert rows == run.flagged
    assert browser.evaluate("document.getElementById('count').textContent") == f"{len(run.flagged)} of 12 studies"
    # the detail of a flagged study highlights its input-agnostic sentence
    assert browser.evaluate("document.querySelectorAll('#detail .hall.unsup').length") >= 1


def test_setting_filter_search_and_keys(browser, page, run):
    browser.open(page.as_uri())
    browser.evaluate(
        "{ const s = document.getElementById('f-setting'); s.value = 'mw'; s.dispatchEvent(new Event('change')) }"
    )
    assert browser.evaluate("window.rg4Report.shown()") == [i for i in run.ids if i.endswith("_mw")]
    browser.evaluate("document.getElementById('list').focus()")
    browser.call(
        "Input.dispatchKeyEvent",
        {"type": "keyDown", "key": "ArrowDown", "code": "ArrowDown", "windowsVirtualKeyCode": 40},
    )
    second = [i for i in run.ids if i.endswith("_mw")][1]
    assert browser.evaluate("document.querySelector('#detail h3').textContent").startswith(second)
    browser.evaluate(
        "const q = document.getElementById('f-search'); q.value = 's004'; window.rg4Report.apply(); "
        "const s = document.getElementById('f-setting'); s.value = ''; s.dispatchEvent(new Event('change'))"
    )
    assert browser.evaluate("window.rg4Report.shown()") == ["s004_sn"]


def test_screenshot_is_not_blank(browser, page):
    browser.open(page.as_uri())
    browser.evaluate("document.getElementById('studies').scrollIntoView()")
    image = Image.open(io.BytesIO(browser.screenshot())).convert("L")
    stat = ImageStat.Stat(image)
    assert image.size[0] >= 800 and stat.stddev[0] > 20
    assert len(image.getcolors(1 << 16) or []) > 50


def test_page_validates_as_json_data(page):
    html = page.read_text()
    data = json.loads(re.search(r'id="rg4-data">(.*?)</script>', html, re.S).group(1))
    assert len(data) == 12


def test_print_hides_the_controls_and_keeps_the_study(browser, page):
    browser.open(page.as_uri())
    browser.call("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        shown = browser.evaluate(
            "['.controls', '#list', '#detail', 'table.metrics'].map(q => getComputedStyle(document.querySelector(q)).display)"
        )
    finally:
        browser.call("Emulation.setEmulatedMedia", {"media": ""})
    assert shown[:2] == ["none", "none"] and "none" not in shown[2:]
