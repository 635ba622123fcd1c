"""Empty generated reports: scored as empty text, counted, n unchanged; METEOR does not hang on them."""

from __future__ import annotations

import shutil
import threading

import pytest

from rg4cli.metrics import ScoreSettings, nlg, score_files

from ..conftest import REPORT_CORPUS
from .jsonl import jsonl_arg

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="METEOR needs Java")


@pytest.fixture
def pairs(tmp_path):
    refs = [
        {
            "id": f"s{i}",
            "findings": t.split("impression:")[0].removeprefix("findings: ").strip(),
            "impression": t.split("impression:")[1].strip(),
        }
        for i, t in enumerate(REPORT_CORPUS * 2)
    ]
    hyps = [{"id": r["id"], "report": REPORT_CORPUS[i % 4]} for i, r in enumerate(refs)]
    hyps[1]["report"] = ""  # an empty generation
    hyps[5]["report"] = "  \n "  # a blank one
    hyps[6] = {"id": "s6", "findings": "", "impression": ""}  # empty sections
    return tmp_path, refs, hyps


def test_empty_hypotheses_are_scored_and_counted(pairs):
    tmp, refs, hyps = pairs
    logs: list[str] = []
    res = score_files(
        jsonl_arg(tmp / "h.jsonl", hyps), jsonl_arg(tmp / "r.jsonl", refs), ScoreSettings(meteor=False), log=logs.append
    )
    s = res.summary
    assert s["n"] == 8 and s["empty_hypotheses"] == 3 and s["skipped"]["no_text"] == 0
    assert any("3 empty hypotheses scored as empty text" in line for line in logs)
    rows = {r["id"]: r for r in res.per_report}
    for rid in ("s1", "s5", "s6"):
        assert rows[rid]["bleu_1"] < 1e-6 and rows[rid]["rouge_l"] == 0 and rows[rid]["cider"] == 0
    assert rows["s0"]["bleu_4"] > 0.5
    # the same as scoring "" directly: the empty reports count as zeros in every mean
    direct = nlg.nlg_scores(
        nlg.prepare_texts([h.get("report") or "" for h in hyps]),
        nlg.prepare_texts([f"findings: {r['findings']} impression: {r['impression']}" for r in refs]),
        meteor=False,
    )["overall"].corpus
    assert s["overall"]["rouge_l"] == pytest.approx(direct["rouge_l"])


def test_missing_text_field_is_still_an_error(pairs):
    tmp, refs, hyps = pairs
    hyps[2] = {"id": "s2", "note": "no text field at all"}
    from rg4cli.errors import InputError

    with pytest.raises(InputError, match="no text to score"):
        score_files(jsonl_arg(tmp / "h.jsonl", hyps), jsonl_arg(tmp / "r.jsonl", refs), ScoreSettings(meteor=False))


def test_against_counts_its_own_empties(pairs):
    tmp, refs, hyps = pairs
    other = [dict(h, report="") for h in hyps[:8]]
    s = score_files(
        jsonl_arg(tmp / "h.jsonl", hyps),
        jsonl_arg(tmp / "r.jsonl", refs),
        ScoreSettings(meteor=False),
        against=jsonl_arg(tmp / "o.jsonl", other),
    ).summary
    assert s["against"]["empty_hypotheses"] == 8 and s["against"]["n"] == 8
    assert s["against"]["overall"]["bleu_1"] < 1e-6


@needs_java
def test_meteor_does_not_hang_on_empty_strings():
    hyps = ["", "the heart is normal .", " ", "", "a ||| b", "x\ny"]
    refs = ["the heart is normal .", "", "lungs clear .", "", "a b", "x y"]
    out: dict = {}

    def run():
        out["scores"] = nlg.nlg_scores(hyps, refs, meteor=True)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=300)  # the JVM start takes seconds; a hang would never return
    assert not worker.is_alive(), "METEOR hung"
    each = out["scores"]["overall"].per_report["meteor"]
    assert each[0] == 0 and each[1] == 0 and each[2] == 0 and each[3] == 0 and each[5] == 1.0
