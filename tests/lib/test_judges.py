"""rg4 hallucination: phrase tables, the setting-aware verdict, summary, DiscBERT loading, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rg4cli.errors import InputError
from rg4cli.judges.backends import (
    CATEGORIES,
    Hit,
    RulesJudge,
    load_phrases,
    make_judge,
    summarize,
)
from rg4cli.judges.verdict import unsupported_categories, verdict, views_supported

RULES = RulesJudge()


def cats(text: str) -> set[str]:
    return {h.category for h in RULES.find(text)}


# ---- phrase tables: each category, positive and negative -------------------------

POSITIVE = {
    "pc": [
        "Compared to the prior study, the heart size is normal.",
        "As compared to ___, there is no significant change.",
        "Cardiomegaly is unchanged.",
        "A calcified granuloma is again seen in the left upper lobe.",
        "Interval improvement of the left basilar opacity.",
        "There is a new right lower lobe opacity since ___.",
        "The nodule was previously described.",
        "Stable mild cardiomegaly.",
        "No significant change from prior.",
        "The right pleural effusion has decreased in size since the previous radiograph.",
        "Persistent left lower lobe atelectasis.",
        "the lungs remain hyperinflated .",
        "Opacity appears similar to prior.",
        "Findings are redemonstrated.",
        "No new focal consolidation.",
        "COMPARISON: Chest radiograph from ___.",
        "The left effusion is slightly larger.",
        "The patient has been extubated.",
        "Left pleural effusion is smaller today.",
        "The previously noted nodule is no longer visualized.",
        "The left lower lobe collapse has re-expanded.",
        "Cardiac silhouette is enlarged but similar.",
        "CT from ___ demonstrated a right upper lobe nodule.",
        "Little change in the appearance of the heart and lungs.",
        "After thoracentesis, the right pleural effusion is smaller.",
        "Tracheostomy tube remains in place.",
        "Lungs are better aerated.",
    ],
    "pp": [
        "The patient is status post median sternotomy and CABG.",
        "Post-operative changes in the right hemithorax.",
        "Since the placement of the chest tube, the pneumothorax is smaller.",
        "Changes after CABG are noted.",
        "s/p left upper lobectomy.",
        "Cholecystectomy clips in the right upper quadrant.",
        "The endotracheal tube has been removed.",
        "Postsurgical changes of the left breast.",
        "Anterior cervical fusion hardware is partially imaged.",
    ],
    "view": [
        "PA and lateral views of the chest were obtained.",
        "Single portable AP view of the chest.",
        "The lateral view is limited by patient motion.",
        "A small effusion is seen only on the lateral view.",
        "Frontal and lateral radiographs of the chest.",
        "Supine AP portable radiograph.",
        "Two views of the chest.",
        "On the frontal view, there is a nodular opacity.",
        "EXAMINATION: CHEST (PA AND LAT).",
        "Evaluation is limited due to significant patient rotation to the right.",
        "Portable chest radiograph shows improved aeration at the right lung base.",
    ],
    "comm": [
        "Findings were discussed with Dr. ___ by telephone at 10:15 on ___.",
        "Dr. ___ was notified of the findings.",
        "The referring physician was paged at 3:30 p.m.",
        "These findings were communicated to the ED team.",
        "Critical result notification documented through the system.",
        "I spoke with the covering resident about the pneumothorax.",
        "findings were called to the ordering physician .",
        "Dr. ___ is aware of the findings.",
        "A message was left with the covering physician.",
        "The above findings were shared with the covering physician.",
        "Clinical team aware.",
    ],
}

NEGATIVE = {
    "pc": [
        "No prior studies available for comparison.",
        "Comparison: none.",
        "There are no previous examinations for comparison.",
        "No previous heart or lung hx.",
        "The patient is hemodynamically stable.",
        "Calcified granulomas suggest prior granulomatous disease.",
        "Increased interstitial markings bilaterally.",
        "Heart size is normal. Lungs are clear.",
        "The right heart border is normal compared to the left.",
        "Recommend follow-up radiograph to document resolution.",
        "Age-indeterminate compression deformity, as no prior studies are available.",
        "Bibasilar opacities, right worse than left, likely atelectasis.",
        "The right effusion is slightly larger than the left.",
        "Recommend comparison with prior films if available.",
        "Comparison examinations would be useful to establish stability.",
        "The most recent study is not available for comparison.",
        "Recommend high-resolution CT for further evaluation.",
        "However, it has considerably more opacity on the right.",
        "The patient is now status post coronary artery bypass grafting.",
        "It remains unclear whether this represents atelectasis or pneumonia.",
        "The left lung is smaller than the right.",
        "Evaluate prior to surgery.",
        "Compared to the right lung, the left lung is more lucent.",
    ],
    "pp": [
        "Heart size is normal.",
        "Advanced emphysema.",
        "Endotracheal tube terminates 4 cm above the carina.",
        "Left PICC tip in the SVC.",
        "Post-traumatic deformity of the right clavicle.",
        "Consider biopsy if clinically indicated.",
        "Status post remote right humerus fracture.",
        "Evaluate prior to surgery.",
        "Right PICC should be advanced 3 cm.",
        "Fracture through the surgical neck of the humerus.",
        "Tracheostomy tube tip 5 cm above the carina.",  # a device on the image, not a procedure
        "Gastrostomy tube in the left upper quadrant.",
    ],
    "view": [
        "Blunting of the lateral costophrenic angle.",
        "Soft tissue mass along the lateral chest wall.",
        "Increased AP diameter of the chest, consistent with emphysema.",
        "The PA is enlarged, suggesting pulmonary hypertension.",
        "Consider decubitus views to evaluate for layering effusion.",
        "Fluid tracks into the right major and minor fissures, oblique fissure thickening.",
        "Healed fracture of the lateral right sixth rib.",
        "Apparent lucency in the lateral aspect of the left upper lobe.",
        "The Swan-Ganz catheter tip terminates in the PA.",
        "A lateral view would be helpful.",
        "If clinically indicated, a PA and lateral could be obtained for further evaluation.",
    ],
    "comm": [
        "Callus formation around the healed rib fracture.",
        "As discussed above, the opacity likely represents atelectasis.",
        "CT may be informative if clinically indicated.",
        "Recommend clinical correlation.",
        "So-called cardiophrenic fat pad.",
        "The study and the report were reviewed by the staff radiologist.",
        "Portable AP upright chest radiograph was obtained at 09:00 on ___.",
    ],
}


@pytest.mark.parametrize("cat,text", [(c, t) for c, ts in POSITIVE.items() for t in ts])
def test_positive_phrasings_are_found(cat, text):
    assert cat in cats(text), [(h.category, h.phrase) for h in RULES.find(text)]


@pytest.mark.parametrize("cat,text", [(c, t) for c, ts in NEGATIVE.items() for t in ts])
def test_negative_phrasings_and_anatomy_are_not_found(cat, text):
    assert cat not in cats(text), [(h.category, h.phrase, h.rule) for h in RULES.find(text)]


def test_hits_carry_phrase_and_sentence_spans():
    text = "Heart size is normal. Compared to the prior study, the effusion is smaller. Dr. ___ was paged."
    hits = RULES.find(text)
    assert all(isinstance(h, Hit) for h in hits)
    for h in hits:
        assert text[h.start : h.end].strip() == h.phrase
        assert h.sentence_start <= h.start < h.end <= h.sentence_end
    pc = [h for h in hits if h.category == "pc"]
    assert text[pc[0].sentence_start : pc[0].sentence_end] == "Compared to the prior study, the effusion is smaller."
    comm = [h for h in hits if h.category == "comm"]
    assert text[comm[0].sentence_start : comm[0].sentence_end] == "Dr. ___ was paged."
    assert [h.start for h in hits] == sorted(h.start for h in hits)


def test_view_hits_name_their_views():
    views = {v for h in RULES.find("PA and lateral views of the chest.") for v in h.views}
    assert {"lateral", "pa"} <= views
    views = {v for h in RULES.find("Single portable AP view of the chest.") for v in h.views}
    assert views == {"single_view", "ap"}


# ---- the verdict, in all four settings --------------------------------------------


@pytest.mark.parametrize(
    "found,views,expected",
    [
        ({"comm": True}, None, {"sn": True, "sw": True, "mn": True, "mw": True}),
        ({"pp": True}, None, {"sn": True, "sw": True, "mn": True, "mw": True}),
        ({"pc": True}, None, {"sn": True, "sw": False, "mn": True, "mw": False}),
        ({"view": True}, ["lateral"], {"sn": True, "sw": True, "mn": False, "mw": False}),
        ({"view": True}, ["two_views", "pa"], {"sn": True, "sw": True, "mn": False, "mw": False}),
        ({"view": True}, ["single_view", "ap"], {"sn": False, "sw": False, "mn": True, "mw": True}),
        ({"view": True}, ["frontal"], {"sn": False, "sw": False, "mn": False, "mw": False}),
        ({"view": True}, ["other"], {"sn": True, "sw": True, "mn": True, "mw": True}),
        ({"view": True}, None, {"sn": True, "sw": True, "mn": False, "mw": False}),
        ({}, None, {"sn": False, "sw": False, "mn": False, "mw": False}),
        (
            {"pc": False, "pp": False, "view": False, "comm": False},
            [],
            {"sn": False, "sw": False, "mn": False, "mw": False},
        ),
    ],
)
def test_verdict_per_setting(found, views, expected):
    assert {s: verdict(found, s, view_detail=views) for s in expected} == expected


def test_negated_lateral_is_a_single_view_statement():
    judge = make_judge()
    for text in ("No lateral view was obtained.", "Lateral view was not obtained."):
        sn, mn = judge.judge([text, text], ["sn", "mn"])
        assert sn["views"] == ["single_view"] and not sn["input_agnostic"]
        assert mn["unsupported"] == ["view"]
    sn, mn = judge.judge(["Opacity better seen on the lateral view."] * 2, ["sn", "mn"])
    assert sn["unsupported"] == ["view"] and not mn["input_agnostic"]


def test_verdict_checks_projection_and_bad_settings():
    assert verdict({"view": True}, "sn", ["pa"], projection="AP") is True
    assert verdict({"view": True}, "sn", ["pa"], projection="PA") is False
    assert verdict({"view": True}, "sn", ["pa"]) is False
    assert unsupported_categories({"pc": True, "comm": True, "view": True}, "sw", ["lateral"]) == ["view", "comm"]
    assert views_supported(["lateral"], "mn")
    with pytest.raises(InputError):
        verdict({"pc": True}, "xx")
    with pytest.raises(InputError):
        verdict({"view": True}, "sn", ["sideways"])


def test_judge_is_setting_aware_per_report_and_per_sentence():
    text = "PA and lateral views of the chest. Unchanged cardiomegaly. Discussed with Dr. ___."
    out = {s: r for s, r in zip(["sn", "sw", "mn", "mw"], make_judge().judge([text] * 4, ["sn", "sw", "mn", "mw"]))}
    for r in out.values():
        assert (r["pc"], r["pp"], r["view"], r["comm"]) == (True, False, True, True)
        assert r["input_agnostic"] is True  # comm is never supported
    assert out["sn"]["unsupported"] == ["pc", "view", "comm"]
    assert out["sw"]["unsupported"] == ["view", "comm"]
    assert out["mn"]["unsupported"] == ["pc", "comm"]
    assert out["mw"]["unsupported"] == ["comm"]
    sents = out["mw"]["sentences"]
    assert [text[s["start"] : s["end"]] for s in sents] == [
        "PA and lateral views of the chest.",
        "Unchanged cardiomegaly.",
        "Discussed with Dr. ___.",
    ]
    assert [s["categories"] for s in sents] == [["view"], ["pc"], ["comm"]]
    assert [s["unsupported"] for s in sents] == [[], [], ["comm"]]
    assert sents[1]["phrases"] == ["Unchanged"]


def test_judge_without_findings_and_without_text():
    res = make_judge().judge(["Heart size is normal. No effusion.", None, ""], ["sn", "mw", "sw"])
    for r in res:
        assert r["input_agnostic"] is False and r["sentences"] == [] and r["unsupported"] == []
    assert [r["setting"] for r in res] == ["sn", "mw", "sw"]


def test_judge_rejects_bad_calls():
    judge = make_judge()
    with pytest.raises(InputError):
        judge.judge(["a", "b"], ["sn"])
    with pytest.raises(InputError):
        judge.judge("text", ["sn"])
    with pytest.raises(InputError):
        judge.judge(["a"], ["zz"])
    with pytest.raises(InputError):
        make_judge("oracle")
    with pytest.raises(InputError):
        make_judge("rules", model="x")
    with pytest.raises(InputError):
        make_judge("discbert")


def test_phrase_tables_are_data_and_can_be_replaced(tmp_path):
    data = load_phrases()
    assert set(data["categories"]) == set(CATEGORIES)
    data = json.loads(json.dumps(data))
    data["categories"]["comm"]["patterns"].append({"name": "carrier_pigeon", "phrases": ["carrier pigeon"]})
    judge = RulesJudge(data)
    assert {h.rule for h in judge.find("Results sent by carrier   pigeon.")} >= {"carrier_pigeon"}
    bad = json.loads(json.dumps(data))
    bad["categories"]["pc"]["patterns"][0] = {"name": "broken", "regex": "(unclosed"}
    with pytest.raises(InputError, match="categories.pc.patterns"):
        RulesJudge(bad)


# ---- summary ------------------------------------------------------------------------


def _field(setting, unsupported, **present):
    found = {c: present.get(c, False) for c in CATEGORIES}
    return {
        "hallucination": {
            **found,
            "unsupported": unsupported,
            "input_agnostic": bool(unsupported),
            "setting": setting,
            "backend": "rules",
            "views": [],
            "sentences": [],
        }
    }


def test_summary_numbers():
    records = [
        _field("sn", ["pc"], pc=True),
        _field(
            "sn",
            [],
        ),
        _field("sw", [], pc=True),
        _field("sw", ["comm"], pc=True, comm=True),
        _field("mw", ["pp"], pp=True),
    ]
    s = summarize(records)
    assert s["reports"] == 5 and s["input_agnostic"] == 3 and s["rate"] == pytest.approx(0.6)
    assert s["present"]["pc"] == pytest.approx(0.6) and s["unsupported"]["pc"] == pytest.approx(0.2)
    assert s["unsupported"]["comm"] == pytest.approx(0.2) and s["present"]["view"] == 0
    assert set(s["by_setting"]) == {"sn", "sw", "mw"}
    assert s["by_setting"]["sn"]["rate"] == pytest.approx(0.5)
    assert s["by_setting"]["sw"]["present"]["pc"] == pytest.approx(1.0)
    assert s["by_setting"]["sw"]["unsupported"]["pc"] == 0
    assert s["by_setting"]["mw"]["rate"] == pytest.approx(1.0)
    assert s["backend"] == "rules"
    assert summarize([])["rate"] is None
    with pytest.raises(InputError):
        summarize([{"id": "x"}])


# ---- DiscBERT backend ----------------------------------------------------------------


def _tiny_bert_dir(tmp_path: Path):
    from rg4cli.model.classifiers import tiny_bert_config
    from rg4cli.model.tokenizers import build_wordpiece_tokenizer

    tok = build_wordpiece_tokenizer(
        ["compared to the prior study heart size normal lungs clear discussed with dr"] * 3, vocab_size=200
    )
    config = tiny_bert_config(len(tok), hidden_size=32, layers=1, heads=2)
    d = tmp_path / "bert"
    tok.save_pretrained(str(d))
    config.save_pretrained(str(d))
    return d, tok, config


@pytest.mark.parametrize("head_outputs", [1, 2])
def test_discbert_official_layout_loads_and_judges(tmp_path, head_outputs):
    from rg4cli.model.classifiers import DISCBERT_HEADS, DiscBertModel

    torch.manual_seed(0)
    bert_dir, _, config = _tiny_bert_dir(tmp_path)
    model = DiscBertModel(config, head_outputs=head_outputs)
    # Heads that ignore the text: pc and view always present, pp and comm never.
    with torch.no_grad():
        for cat, attr in DISCBERT_HEADS.items():
            head = getattr(model, attr)
            head.weight.zero_()
            sign = 1.0 if cat in ("pc", "view") else -1.0
            if head_outputs == 1:
                head.bias.fill_(8.0 * sign)
            else:
                head.bias.copy_(torch.tensor([-4.0 * sign, 4.0 * sign]))
    state = {f"labeler.{k}": v for k, v in model.state_dict().items()}
    ckpt = tmp_path / "discbert.ckpt"
    torch.save({"model": state, "epoch": 3}, ckpt)
    judge = make_judge("discbert", model=str(ckpt), bert=str(bert_dir), batch_size=2)
    texts = ["Heart size normal. Lungs clear.", "Compared to the prior study, PA and lateral views.", None]
    res = judge.judge(texts, ["sw", "sn", "mn"], ["PA", None, None])
    assert [r["backend"] for r in res] == ["discbert"] * 3
    assert (res[0]["pc"], res[0]["pp"], res[0]["view"], res[0]["comm"]) == (True, False, True, False)
    assert res[0]["scores"]["pc"] > 0.99 and res[0]["scores"]["comm"] < 0.01
    # sw: the prior report supports pc; view content that names no view: unsupported with one image.
    assert res[0]["unsupported"] == ["view"] and res[0]["input_agnostic"]
    # The rules name the views: a lateral in sn is unsupported; pc in sn too.
    assert res[1]["views"] == ["lateral", "pa"] and res[1]["unsupported"] == ["pc", "view"]
    assert len(res[0]["sentences"]) == 2  # both sentences flagged by the always-on heads
    assert res[2]["input_agnostic"] is False and res[2]["sentences"] == []
    quick = make_judge("discbert", model=str(ckpt), bert=str(bert_dir), sentence_level=False)
    fast = quick.judge(texts, ["sw", "sn", "mn"], ["PA", None, None])
    assert [r["sentences"] for r in fast] == [[], [], []]
    assert [r["unsupported"] for r in fast] == [r["unsupported"] for r in res]


def test_discbert_rg4_directory_and_bad_checkpoints(tmp_path):
    from rg4cli.model.classifiers import new_classifier, save_classifier_dir

    _, tok, config = _tiny_bert_dir(tmp_path)
    clf = new_classifier("discbert", tok, config)
    out = save_classifier_dir(clf, tmp_path / "disc")
    judge = make_judge("discbert", model=str(out))
    r = judge.judge(["Heart size normal."], ["mw"])[0]
    assert set(r["scores"]) == set(CATEGORIES) and all(0 <= p <= 1 for p in r["scores"].values())
    torch.save({"model": {"labeler.bert.x": torch.zeros(1)}}, tmp_path / "bad.ckpt")
    with pytest.raises(InputError):
        make_judge("discbert", model=str(tmp_path / "bad.ckpt"))
    with pytest.raises(InputError):
        make_judge("discbert", model=str(tmp_path / "missing"))


# ---- CLI ----------------------------------------------------------------------------


STUDIES = [
    {"id": "s1", "frontal": "a.png", "findings": "Unchanged cardiomegaly.", "impression": "Dr. ___ was notified."},
    {
        "id": "s2",
        "frontal": "a.png",
        "lateral": "b.png",
        "prior_report": "Old text.",
        "report": "Compared to prior, stable. On the lateral view no effusion.",
    },
    {"id": "s3", "frontal": "a.png", "report": "Heart size is normal.", "extra": {"keep": 1}},
]


def _runner():
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart already
        return CliRunner()


# ---- rg4 synth: the generator's truth, exactly ---------------------------------------


def test_rules_match_synth_truth_exactly():
    from rg4cli.synth.studies import generate_studies
    from rg4cli.text.sections import join_sections

    studies = generate_studies(60, seed=7)
    truths = [s.truth() for s in studies]
    texts = [join_sections(t["findings"], t["impression"]) for t in truths]
    results = make_judge().judge(texts, ["mn" if t["lateral"] else "sn" for t in truths])
    mismatches = [
        (t["id"], c, t["input_agnostic"][c])
        for t, r in zip(truths, results)
        for c in CATEGORIES
        if r[c] != t["input_agnostic"][c]
    ]
    assert not mismatches
    # The set exercises every category both ways.
    for c in CATEGORIES:
        assert {t["input_agnostic"][c] for t in truths} == {True, False}
    # Per sentence too: the flagged sentences are exactly the generator's input-agnostic ones.
    for t, text, r in zip(truths, texts, results):
        for c in CATEGORIES:
            flagged = sorted(
                text[s["start"] : s["end"]].replace("findings: ", "").replace("impression: ", "")
                for s in r["sentences"]
                if c in s["categories"]
            )
            assert flagged == sorted(t["input_agnostic_sentences"][c]), (t["id"], c)
