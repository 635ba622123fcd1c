"""Report text: sections, sentence spans, R2Gen cleaning, study records."""

from __future__ import annotations

import pytest

from rg4cli.errors import InputError
from rg4cli.records.study import Study, resolve_image, setting_of, text_of
from rg4cli.text.cleaning import r2gen_clean
from rg4cli.text.sections import join_sections, parse_sections, split_sections
from rg4cli.text.sentences import sentences, split_sentences

MIMIC_REPORT = """                                 FINAL REPORT
 EXAMINATION:  CHEST (PA AND LAT)

 INDICATION:  ___F with cough  // eval for pneumonia

 TECHNIQUE:  Chest PA and lateral

 COMPARISON:  ___

 FINDINGS:
 
 The heart size is normal.  There is a small left pleural effusion.
 No pneumothorax.
 
 IMPRESSION:
 
 1. Small left effusion.
 2. No pneumonia.
"""


def test_parse_mimic_sections():
    s = parse_sections(MIMIC_REPORT)
    assert s["examination"] == "CHEST (PA AND LAT)"
    assert s["indication"] == "___F with cough // eval for pneumonia"
    assert s["technique"] == "Chest PA and lateral"
    assert s["comparison"] == "___"
    assert s["findings"] == "The heart size is normal. There is a small left pleural effusion. No pneumothorax."
    assert s["impression"] == "1. Small left effusion. 2. No pneumonia."
    assert s["history"] is None


@pytest.mark.parametrize(
    "header,section",
    [
        ("Clinical history", "history"),
        ("REASON FOR EXAM", "indication"),
        ("FINDINGS AND IMPRESSION", "impression"),
        ("Conclusion", "impression"),
        ("impression", "impression"),
    ],
)
def test_header_variants(header, section):
    s = parse_sections(f"{header}: something here.\nNOTIFICATION: Dr. ___ was paged.")
    assert s[section] == "something here."


def test_target_text_round_trip():
    text = join_sections("Heart normal.", "No acute process.")
    assert text == "findings: Heart normal. impression: No acute process."
    assert split_sections(text) == ("Heart normal.", "No acute process.")
    assert split_sections(join_sections(None, "Only impression.")) == (None, "Only impression.")
    assert split_sections("no markers at all") == ("no markers at all", None)


def test_sentence_spans_survive_report_language():
    text = (
        "Dr. ___ was notified at 10:15. A 1.5 cm nodule is seen in the XXXX. "
        "IMPRESSION: 1. No effusion. 2. Small nodule, e.g. granuloma."
    )
    got = sentences(text)
    assert got == [
        "Dr. ___ was notified at 10:15.",
        "A 1.5 cm nodule is seen in the XXXX.",
        "IMPRESSION: 1. No effusion.",
        "2. Small nodule, e.g. granuloma.",
    ]
    for (s, e), sent in zip(split_sentences(text), got):
        assert text[s:e] == sent


def test_sentence_spans_lowercase_generated_text():
    text = "findings: the heart is normal . lungs are clear . impression: no acute process ."
    assert sentences(text) == ["findings: the heart is normal .", "lungs are clear .", "impression: no acute process ."]


def test_r2gen_clean_exact():
    # As R2Gen's sent_cleaner: strip() runs before "_" is deleted, so "___ paged" keeps a
    # leading space and the join leaves two spaces (which ROUGE-L's split(" ") counts).
    assert (
        r2gen_clean("FINDINGS: The heart is normal.  No effusion (small)!\n1. Dr. ___ paged.")
        == "findings : the heart is normal . no effusion small dr .  paged ."
    )
    assert r2gen_clean("") == ""


def test_setting_and_study_validation(tmp_path):
    assert setting_of({"lateral": None, "prior_report": ""}) == "sn"
    assert setting_of({"lateral": "l.jpg", "prior_report": "prior"}) == "mw"
    assert Study.from_record({"id": "a", "frontal": "f.jpg", "prior_report": "x"}).setting == "sw"
    with pytest.raises(InputError, match="frontal: missing field"):
        Study.from_record({"id": "a"}, need_frontal=True, source="in.jsonl", line=4)
    with pytest.raises(InputError, match="view: expected PA or AP"):
        Study.from_record({"id": "a", "view": "LL"})
    with pytest.raises(InputError, match="says 'mw' but the inputs give 'sn'"):
        Study.from_record({"id": "a", "setting": "mw"})
    with pytest.raises(InputError) as err:
        resolve_image(tmp_path, "nope.jpg", source="in.jsonl", line=7)
    assert str(err.value).startswith("in.jsonl:7: frontal: image not found:")


def test_text_of_choices():
    rec = {"id": "a", "findings": "F.", "impression": "I."}
    assert text_of(rec) == "findings: F. impression: I."
    assert text_of({**rec, "report": "R."}) == "R."
    assert text_of(rec, "impression") == "I."
    assert text_of({"id": "x"}) is None
    with pytest.raises(InputError):
        text_of(rec, "bogus")
