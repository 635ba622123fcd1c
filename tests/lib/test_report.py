"""rg4cli.report: the page is self-contained, shows only annotations of the text shown, and notes bad inputs."""

from __future__ import annotations

import json
import re

import pytest

from rg4cli.errors import InputError
from rg4cli.records.provenance import text_digest
from rg4cli.report import ReportSettings, write_report
from rg4cli.report.page import inline_json
from rg4cli.vocab import INPUT_SETTINGS

from ..report_run import make_run
from .jsonl import read_jsonl, write_jsonl


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"))


def _page(run, tmp_path, **kw):
    opts = dict(
        input=str(run.gen),
        ref=str(run.ref),
        scores=(str(run.score),),
        train=(str(run.train),),
        image_root=str(run.root),
        output=str(tmp_path / "r.html"),
    )
    opts.update(kw)
    result = write_report(ReportSettings(**opts))
    return result, (tmp_path / "r.html").read_text(encoding="utf-8") if result.path else result.html


def _studies(html: str) -> list[dict]:
    raw = re.search(r'<script type="application/json" id="rg4-data">(.*?)</script>', html, re.S).group(1)
    return json.loads(raw)


def test_page_refers_to_nothing_outside_itself(run, tmp_path):
    result, html = _page(run, tmp_path)
    assert result.studies == len(run.ids)
    assert not re.search(r"(?i)\b(https?|ftp|wss?):", html)
    markup = re.sub(r"(?s)<script\b.*?</script>", "", html)  # the browser test watches what scripts load
    assert not re.search(r"(?i)\b(src|href|action|poster)\s*=\s*[\"'](?!data:|#)", markup)
    assert "@import" not in html and not re.search(r"url\(\s*['\"]?(?!data:)", html)
    # thumbnails are inline JPEGs, one per image file
    assert html.count("data:image/jpeg;base64,") == len(run.ids) + len(run.ids) // 2


def test_every_setting_in_the_metric_table_and_charts(run, tmp_path):
    _, html = _page(run, tmp_path)
    for s in INPUT_SETTINGS:
        assert f'<tr data-setting="{s}">' in html
    assert html.count('<svg class="chart"') >= 4  # CE, BLEU-4, ROUGE-L, loss, tokens
    assert "Training loss: generator stage 2" in html and "Edema" in html


def test_flags_and_labels_describe_the_texts_shown(run, tmp_path):
    _, html = _page(run, tmp_path)
    studies = _studies(html)
    assert [s["id"] for s in studies if s.get("h", {}).get("flag")] == run.flagged
    for s in studies:
        assert len(s["lg"]) == len(s["lr"]) == 14
        assert s["mm"] == [i for i in range(14) if (s["lg"][i] in "1u") != (s["lr"][i] in "1u")]


def test_annotations_of_another_text_are_not_shown(run, tmp_path):
    records = read_jsonl(run.gen)
    records[0]["report"] = "findings: A different text. impression: Normal."  # its annotations now stale
    stale = write_jsonl(tmp_path / "stale.jsonl", records)
    result, html = _page(run, tmp_path, input=str(stale))
    first = _studies(html)[0]
    assert "h" not in first
    assert any("`hallucination` computed from another text" in n for n in result.notes)
    assert any("labelled here" in n for n in result.notes)


def test_weights_shown_on_the_reference_they_were_computed_on(run, tmp_path):
    refs = read_jsonl(run.ref)
    text = f"findings: {refs[0]['findings']} impression: {refs[0]['impression']}"
    refs[0]["sentence_weights"] = [{"start": 10, "end": 32, "weight": 1.75, "score": 0.9}]
    refs[0]["provenance"] = {"sentence_weights": {"text": "findings+impression", "sha256": text_digest(text)}}
    refs[1]["sentence_weights"] = [{"start": 0, "end": 5, "weight": 1.75, "score": 0.9}]
    refs[1]["provenance"] = {"sentence_weights": {"text": "findings+impression", "sha256": "0" * 16}}
    ref = write_jsonl(tmp_path / "ref.jsonl", refs)
    result, html = _page(run, tmp_path, ref=str(ref))
    studies = _studies(html)
    assert studies[0]["w"] == [[10, 32, 1.75, 0.9]] and "w" not in studies[1]
    assert any("`sentence_weights` of another text" in n for n in result.notes)


def test_missing_images_and_references_are_notes(run, tmp_path):
    records = read_jsonl(run.gen)
    records[1]["frontal"] = "img/nowhere.png"
    refs = read_jsonl(run.ref)
    refs = [r for r in refs if r["id"] != records[2]["id"]]
    for r in refs:
        if r["id"] == records[1]["id"]:
            r["frontal"] = "img/nowhere.png"
    result, html = _page(
        run,
        tmp_path,
        input=str(write_jsonl(tmp_path / "g.jsonl", records)),
        ref=str(write_jsonl(tmp_path / "r.jsonl", refs)),
    )
    notes = " | ".join(result.notes)
    assert "1 image(s) could not be read" in notes and "img/nowhere.png" in notes
    assert "1 record(s) have no reference" in notes and records[2]["id"] in notes
    assert "describe other studies" in notes  # the score summary counts 12 pairs, 11 have a reference
    studies = _studies(html)
    assert studies[1]["missing"] == ["frontal"] and studies[2]["ref"] is None
    assert '<ul class="notes">' in html


def test_intervals_and_comparisons_when_the_summary_has_them(run, tmp_path):
    summary = json.loads(run.score.read_text())
    summary["uncertainty"] = {
        "metrics": {
            "by_setting.sn.bleu_4": {"value": 0.1, "low": 0.04, "high": 0.17, "se": 0.03, "signature": "bleu|boot:1000"}
        }
    }
    summary["comparisons"] = [
        {
            "system": "raw",
            "n": 12,
            "trials": 1000,
            "metrics": {
                "overall.bleu_4": {
                    "a": 0.2,
                    "b": 0.1,
                    "delta": 0.1,
                    "p_ar": 0.03,
                    "p_ar_holm": 0.06,
                    "p_boot": 0.02,
                    "wilcoxon_p": 0.04,
                }
            },
        }
    ]
    path = tmp_path / "s.json"
    path.write_text(json.dumps(summary))
    _, html = _page(run, tmp_path, scores=(f"rg4={path}",))
    assert '<span class="ci"> [0.040, 0.170]</span>' in html
    assert "rg4 vs raw" in html and "0.0300" in html and "&lt;metric&gt;|boot:1000" in html


def test_record_text_cannot_close_the_data_element(run, tmp_path):
    records = read_jsonl(run.gen)
    records[0]["report"] = "findings: </script><script>alert(1)</script> <!-- x"
    result, html = _page(run, tmp_path, input=str(write_jsonl(tmp_path / "x.jsonl", records)))
    assert "<script>alert(1)" not in html
    assert inline_json("</script>") == '"\\u003c/script>"'
    assert _studies(html)[0]["gen"].startswith("findings: </script>")


def test_page_to_the_caller_when_no_output_is_named(run, tmp_path):
    result = write_report(ReportSettings(input=str(run.gen), output=None))
    assert result.path is None and result.html.startswith("<!DOCTYPE html>")
    assert any("no --ref given" in n for n in result.notes)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"thumb_size": 5}, "--thumb-size"),
        ({"scores": ("nowhere.json",)}, "no such file"),
        ({"train": ("nowhere",)}, "no such file or directory"),
        ({"text": "summary"}, "--text"),
    ],
)
def test_bad_settings_are_one_line(run, tmp_path, change, message):
    with pytest.raises(InputError, match=re.escape(message)):
        _page(run, tmp_path, **change)


def test_a_json_that_is_not_a_score_summary(run, tmp_path):
    (tmp_path / "other.json").write_text('{"n": 3}')
    with pytest.raises(InputError, match="not a `rg4 score` summary"):
        _page(run, tmp_path, scores=(str(tmp_path / "other.json"),))


def test_a_text_of_the_wrong_type_names_its_line(run, tmp_path):
    records = read_jsonl(run.gen)
    records[2]["report"] = 7
    with pytest.raises(InputError, match=r"x\.jsonl:3: report: expected a string"):
        _page(run, tmp_path, input=str(write_jsonl(tmp_path / "x.jsonl", records)))


def test_train_summary_printed_names_its_directory(run, tmp_path):
    printed = tmp_path / "stage2.summary.json"
    printed.write_text(json.dumps({"out_dir": str(run.train), "steps": 5}))
    _, html = _page(run, tmp_path, train=(str(printed),))
    assert "generator stage 2" in html and "Training loss: generator stage 2" in html


def test_thumbnails_over_the_budget_are_made_smaller(run, tmp_path):
    import base64
    import io

    from PIL import Image

    result, html = _page(run, tmp_path, thumb_budget_mb=0.004)
    found = [re.search(r"over --thumb-budget-mb 0.004: made at (\d+) px instead", n) for n in result.notes]
    size = int(next(m for m in found if m).group(1))
    assert size < 64  # the test images' own size
    uris = re.findall(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)", html)
    assert len(uris) == len(run.ids) + len(run.ids) // 2
    assert max(Image.open(io.BytesIO(base64.b64decode(u))).size[0] for u in uris) == size
