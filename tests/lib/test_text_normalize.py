"""Text normalisation for labelling, judging and the NLG metrics; the warnings rg4 score gives
about its texts (non-normalised text, a corpus too small for CIDEr)."""

from __future__ import annotations

import json
import unicodedata

from rg4cli.labelers import LabelSettings, label_records
from rg4cli.metrics import ScoreSettings, score_files
from rg4cli.text.normalize import is_normalized, normalize_text

NFC = "Mild cardiomegaly. Small right pleural effusion, unchanged. No pneumothorax. Café-au-lait."


def test_normal_form_drops_soft_hyphens_and_zero_width_and_composes():
    assert normalize_text("cardio\u00admegaly") == "cardiomegaly"
    assert normalize_text("effu\u200bsion\ufeff") == "effusion"
    assert normalize_text(unicodedata.normalize("NFD", "café")) == "café"
    assert normalize_text(NFC) is NFC and is_normalized(NFC) and not is_normalized("a\u00adb")


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_a_soft_hyphen_keeps_the_label_and_the_record_keeps_its_text(tmp_path):
    src = _jsonl(tmp_path / "in.jsonl", [{"id": "a", "report": "Moderate cardio\u00admegaly."}])
    label_records(str(src), str(tmp_path / "out.jsonl"), LabelSettings())
    rec = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    assert rec["labels"]["Cardiomegaly"] == 1
    assert rec["report"] == "Moderate cardio\u00admegaly."  # as written


def test_nfc_and_nfd_score_the_same_with_a_warning(tmp_path):
    refs = [{"id": f"r{i}", "findings": NFC + f" Study {i}."} for i in range(3)]
    ref = _jsonl(tmp_path / "ref.jsonl", refs)
    nfd = _jsonl(tmp_path / "nfd.jsonl", [dict(r, findings=unicodedata.normalize("NFD", r["findings"])) for r in refs])
    nfc = _jsonl(tmp_path / "nfc.jsonl", refs)
    logs: list[str] = []
    cfg = ScoreSettings(meteor=False, text="findings", ref_text="findings")
    a = score_files(str(nfd), str(ref), cfg, log=logs.append).summary["overall"]
    b = score_files(str(nfc), str(ref), cfg).summary["overall"]
    assert a["bleu_4"] == b["bleu_4"] > 0.99 and a["rouge_l"] == b["rouge_l"] == 1.0
    assert any("3 text(s) were not in Unicode NFC" in line for line in logs), logs
    assert any("CIDEr over 3 pair(s) says little" in line for line in logs), logs


def test_no_warning_on_normal_text_and_enough_pairs(tmp_path):
    refs = [{"id": f"r{i}", "findings": f"Finding number {i} is stable."} for i in range(60)]
    ref = _jsonl(tmp_path / "ref.jsonl", refs)
    logs: list[str] = []
    score_files(str(ref), str(ref), ScoreSettings(meteor=False), log=logs.append)
    assert not [line for line in logs if "warning" in line], logs
