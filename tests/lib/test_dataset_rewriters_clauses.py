"""The rules rewriter's clause grammar (rg4cli.dataset.clauses): hand-written cases per category and edit kind."""

from __future__ import annotations

import re

import pytest

from rg4cli.dataset.rewriters import RulesRewriter

REWRITER = RulesRewriter()
ALL = ("pc", "pp", "view", "comm")


def fix(text: str, cats=ALL, setting: str = "sn") -> tuple[str | None, list[dict]]:
    edits: list[dict] = []
    out = REWRITER.rewrite_text(text, list(cats), setting, None, edits=edits)
    return out, edits


def clean(text: str | None) -> str:
    return (text or "").lower().rstrip(".").strip()


# ---- the finding stays, the clause goes ------------------------------------------------

KEEPS = [
    # pc: coordinated comparison
    ("the inferior sternotomy wire is fractured but unchanged.", "the inferior sternal wire is fractured"),
    ("the cardiac silhouette is enlarged but similar compared to prior.", "the cardiac silhouette is enlarged"),
    # pc: attributive comparison adjective
    ("stable mild cardiomegaly.", "mild cardiomegaly"),
    ("unchanged moderate cardiomegaly.", "moderate cardiomegaly"),
    # pc: reference to other imaging
    (
        "a known enlarged right hilar lymph node seen on ct of ___ likely accounts for the increased opacity at the "
        "right hilum.",
        "a known enlarged right hilar lymph node likely accounts for the opacity at the right hilum",
    ),
    # pc: comparison introduction without a date
    (
        "in comparison with the study of ___ there is a small left pleural effusion.",
        "there is a small left pleural effusion",
    ),
    ("compared to the prior study, the heart is enlarged.", "the heart is enlarged"),
    # pc: predicate of change -> presence
    (
        "small bilateral pleural effusions are unchanged since the most recent exam.",
        "small bilateral pleural effusions are present",
    ),
    ("opacity in the right lower lung is new compared to ___.", "opacity in the right lower lung is present"),
    (
        "moderate bibasilar opacities persist likely reflecting atelectasis.",
        "moderate bibasilar opacities are present likely reflecting atelectasis",
    ),
    # pc: temporal adverbs
    ("the heart is stably enlarged.", "the heart is enlarged"),
    (
        "a calcified granuloma is again seen in the left upper lobe.",
        "a calcified granuloma is seen in the left upper lobe",
    ),
    ("there still is a moderate left pleural effusion.", "there is a moderate left pleural effusion"),
    ("left basilar atelectasis, as before.", "left basilar atelectasis"),
    # pc: resolved -> present-tense negation
    ("previously noted left pleural effusion appears to have resolved.", "no left pleural effusion"),
    ("the right picc has been removed.", "no right picc"),
    # pc: devices in unchanged position
    ("the endotracheal tube is in unchanged position.", "the endotracheal tube is in position"),
    (
        "there is a right-sided picc line which is unchanged in positioning.",
        "there is a right-sided picc line which is in place",
    ),
    # pp: placement -> presence; procedure named as a device's source
    (
        "there has been interval placement of an endotracheal tube terminating 3 cm above the carina.",
        "there is an endotracheal tube terminating 3 cm above the carina",
    ),
    ("intact median sternotomy wires are noted.", "intact sternal wires are noted"),
    ("the patient is status post cabg with sternal wires in place.", "sternal wires in place"),
    # view: a view clause cut from a sentence that reports a finding
    ("frontal and lateral views of the chest show a small right pleural effusion.", "a small right pleural effusion"),
    ("there is a small effusion, best seen on the lateral view.", "there is a small effusion"),
    # comm: the communication clause goes, the finding stays
    (
        "small right apical pneumothorax; findings were discussed with dr. ___ at 10:15.",
        "small right apical pneumothorax",
    ),
]


@pytest.mark.parametrize("text,expected", KEEPS)
def test_the_finding_stays_as_a_present_tense_sentence(text, expected):
    out, edits = fix(text)
    assert clean(out) == expected
    assert edits, "every change is recorded"
    assert not REWRITER._cats_in(out, set(ALL)), "what the judge flagged is gone"


# ---- what goes whole -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "pa and lateral views of the chest were obtained.",  # view only
        "findings were discussed with dr. ___ by telephone at 10:15.",  # comm only
        "no change.",  # pc only
        "heart size is unchanged.",  # a structure compared, nothing current left
    ],
)
def test_a_sentence_with_nothing_current_is_deleted(text):
    out, edits = fix(text)
    assert out is None
    assert [e["edit"] for e in edits] == ["sentence"]


# ---- the audit: sentence, span, category, kind ---------------------------------------


def test_each_edit_names_sentence_span_category_and_kind():
    text = "the left clavicle is fractured but unchanged. there is no pneumothorax."
    out, edits = fix(text)
    assert clean(out) == "the left clavicle is fractured. there is no pneumothorax"
    (e,) = edits
    assert e["sentence"] == "the left clavicle is fractured but unchanged."
    assert e["removed"] == "but unchanged"
    assert e["replacement"] == ""
    assert e["category"] == "pc"
    assert e["edit"] == "cut"


def test_edit_kinds_replace_clause_and_sentence():
    _, edits = fix("previously noted left pleural effusion appears to have resolved.")
    assert {e["edit"] for e in edits} == {"replace"} and edits[0]["replacement"] == "no left pleural effusion."
    _, edits = fix("mild cardiomegaly; comparison to prior is limited by rotation.")
    assert "clause" in {e["edit"] for e in edits} or "cut" in {e["edit"] for e in edits}
    _, edits = fix("no change.")
    assert edits[0]["edit"] == "sentence" and edits[0]["category"] == "pc"


def test_sentences_without_flagged_content_keep_their_words():
    out, _ = fix("The lungs are clear; no effusion. Stable mild cardiomegaly.")
    assert out == "The lungs are clear; no effusion. Mild cardiomegaly."


def test_settings_with_a_prior_keep_comparisons():
    text = "stable mild cardiomegaly. findings discussed with dr. ___."
    out, _ = fix(text, cats=("comm",), setting="sw")
    assert clean(out) == "stable mild cardiomegaly"


# ---- no broken text --------------------------------------------------------------------

_BROKEN = re.compile(
    r"^(?:and|or|but|of|to)\b|\b(?:of|to|in|on|at|from|with|than|since|and|or|but)\s*[.!?]?$|,\s*[.!?]?$|[.,;:]\s*[.,;:]",
    re.IGNORECASE,
)


@pytest.mark.parametrize(
    "text",
    [
        "mild cardiomegaly is unchanged from ___.",
        "mild cardiomegaly is similar to before.",
        "the mediastinal contours are relatively unchanged though there is mild congestion which is worse compared to the prior study.",
        "peribronchial opacities are present since ___.",
        "stable cardiomegaly.",
        "The opacity at the left lung base appears stable from prior exam.",
    ],
)
def test_rewritten_sentences_are_not_broken(text):
    out, _ = fix(text)
    for sentence in re.split(r"(?<=\.)\s+", out or ""):
        if sentence:
            assert not _BROKEN.search(sentence), sentence
            assert len(sentence.split()) > 1, sentence
            assert not re.search(r"\b(?:is|are|appears?|remains?)\.$", sentence), sentence


def test_record_carries_edits_through_the_loop():
    from rg4cli.dataset.rewrite_loop import Example, RewriteLoop
    from rg4cli.judges.backends import make_judge

    judge = make_judge("rules")
    loop = RewriteLoop(judge, RulesRewriter(judge), None)
    (out,) = loop.run([Example("a", "sn", "the inferior sternotomy wire is fractured but unchanged.", None)])
    field = out.rewrite_field("rules", "rules")
    assert field["resolved"] and field["edits"][0]["round"] == 1 and field["edits"][0]["section"] == "findings"


def test_stats_report_drop_rate_and_edits_per_category():
    from collections import Counter

    from rg4cli.dataset.assembly import BuildStats, format_table1

    stats = BuildStats(written=Counter(sn=3), dropped=Counter({"labels changed": 1}))
    rewriter = RulesRewriter()
    rewriter.rewrite_text("stable mild cardiomegaly. pa and lateral views were obtained.", list(ALL), "sn")
    js = stats.to_json(None, dict(rewriter.stats))
    assert js["examples"]["drop_rate"] == 0.25
    text = format_table1(js)
    assert "dropped: 25.0% of examples" in text
    assert "rewriter edits per category: pc 1, view 1" in text
