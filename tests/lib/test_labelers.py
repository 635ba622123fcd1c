"""`rg4 label`: rules labeler conventions, finalize_labels, CheXbert checkpoint layout, the CLI."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from rg4cli.cli.app import app
from rg4cli.errors import InputError
from rg4cli.labelers.backends import finalize_labels, make_labeler
from rg4cli.labelers.phrases import Scanner, expand_phrase, load_table
from rg4cli.model.classifiers import CheXbertModel, tiny_bert_config
from rg4cli.model.tokenizers import build_wordpiece_tokenizer
from rg4cli.text.sections import join_sections
from rg4cli.vocab import OBSERVATIONS

from ..conftest import REPORT_CORPUS

RULES = make_labeler("rules")


def lab(text: str) -> dict:
    return RULES.label([text])[0]


# ---- negation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, obs",
    [
        ("No pleural effusion.", "Pleural Effusion"),
        ("There is no evidence of pneumothorax.", "Pneumothorax"),
        ("The lungs are clear without focal consolidation.", "Consolidation"),
        ("The lungs are free of focal airspace disease.", "Lung Opacity"),
        ("The previously seen left effusion has resolved.", "Pleural Effusion"),
        ("Resolved left pleural effusion.", "Pleural Effusion"),
        ("A pneumothorax is not seen.", "Pneumothorax"),
        ("Negative for acute rib fracture.", "Fracture"),
        ("There are no XXXX of a pleural effusion.", "Pleural Effusion"),
        ("No ___ pneumothorax.", "Pneumothorax"),
        ("The endotracheal tube has been removed.", "Support Devices"),
        ("No pulmonary edema.", "Edema"),
    ],
)
def test_negation(text, obs):
    assert lab(text)[obs] == 0


def test_denied_displaced_fracture_leaves_a_nondisplaced_one_open():
    # CheXbert reads "no displaced rib fractures" as uncertain/positive in most IU reports.
    assert lab("Negative for acute displaced rib fracture.")["Fracture"] == -1
    assert lab("No displaced rib fractures.")["Fracture"] == -1
    assert lab("No acute fracture.")["Fracture"] == 0


def test_no_finding_blockers_and_findings_outside_the_14():
    normal = "The lungs are clear. Heart size is normal."
    assert lab(normal)["No Finding"] == 1
    # A report that discusses fractures, even to deny them, is not labeled No Finding (CheXbert).
    assert lab(normal + " No acute fracture.")["No Finding"] is None
    assert lab(normal + " Tracheostomy tube in place.")["No Finding"] is None
    # Findings outside the 14 leave it blank; post-surgical changes and spondylosis do not (CheXbert on IU).
    assert lab(normal + " Degenerative changes of the spine.")["No Finding"] is None
    assert lab(normal + " Thoracic spondylosis.")["No Finding"] == 1
    assert lab(normal + " Sternotomy wires and mediastinal clips.")["No Finding"] == 1
    assert RULES.explain(normal + " No acute fracture.")["no_finding_blockers"] == ["fracture"]


def test_negation_of_anchors_and_normal_descriptors():
    assert lab("Heart size is normal.")["Cardiomegaly"] == 0
    assert lab("The heart is not enlarged.")["Cardiomegaly"] == 0
    got = lab("The cardiomediastinal silhouette is within normal limits.")
    assert got["Enlarged Cardiomediastinum"] == 0 and got["Cardiomegaly"] is None
    got = lab("Normal heart size and mediastinal contours.")
    assert got["Cardiomegaly"] == 0 and got["Enlarged Cardiomediastinum"] == 0


def test_positive_mentions_and_modifiers_stay_positive():
    got = lab("Stable moderate cardiomegaly. Small left pleural effusion. Mild bibasilar atelectasis.")
    assert got["Cardiomegaly"] == 1 and got["Pleural Effusion"] == 1 and got["Atelectasis"] == 1
    assert lab("The heart is mildly enlarged.")["Cardiomegaly"] == 1
    assert lab("Unchanged position of the right internal jugular central venous catheter.")["Support Devices"] == 1


# ---- uncertainty ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text, obs",
    [
        ("Possible left lower lobe pneumonia.", "Pneumonia"),
        ("Pneumonia cannot be excluded.", "Pneumonia"),
        ("Cannot exclude a small left pleural effusion.", "Pleural Effusion"),
        ("Left basilar opacity may represent atelectasis.", "Atelectasis"),
        ("Findings are suggestive of early pulmonary edema.", "Edema"),
        ("Borderline heart size.", "Cardiomegaly"),
        ("Heart size is stable.", "Cardiomegaly"),
        ("Mild pulmonary vascular congestion.", "Edema"),
        ("Questionable tiny right apical pneumothorax.", "Pneumothorax"),
    ],
)
def test_uncertainty(text, obs):
    assert lab(text)[obs] == -1


def test_x_versus_y_makes_both_uncertain_and_opacity_stays_positive():
    got = lab("Left base opacity, atelectasis versus pneumonia.")
    assert got["Atelectasis"] == -1 and got["Pneumonia"] == -1
    assert got["Lung Opacity"] == 1


def test_pre_negation_uncertainty_beats_negation():
    got = lab("No definite consolidation, though early pneumonia cannot be excluded.")
    assert got["Consolidation"] == 0
    assert got["Pneumonia"] == -1


# ---- lists and scopes ----------------------------------------------------------


def test_negated_list():
    got = lab("No effusion, pneumothorax or consolidation.")
    assert got["Pleural Effusion"] == 0 and got["Pneumothorax"] == 0 and got["Consolidation"] == 0
    got = lab(
        "No focal consolidation, suspicious pulmonary opacity, large pleural effusion, or pneumothorax is identified."
    )
    assert [got[o] for o in ("Consolidation", "Lung Opacity", "Pleural Effusion", "Pneumothorax")] == [0, 0, 0, 0]


def test_but_ends_a_negation_scope():
    got = lab("No pneumothorax, but there is a small left pleural effusion.")
    assert got["Pneumothorax"] == 0 and got["Pleural Effusion"] == 1
    got = lab("No focal consolidation; however, there is mild left basilar atelectasis.")
    assert got["Consolidation"] == 0 and got["Atelectasis"] == 1


def test_negation_does_not_cross_sentences():
    got = lab("No pneumothorax. Moderate right pleural effusion.")
    assert got["Pneumothorax"] == 0 and got["Pleural Effusion"] == 1


def test_is_normal_reaches_only_its_subject():
    assert lab("Interstitial markings are normal.")["Lung Opacity"] == 0
    got = lab("Pleural effusion with heart size that is normal.")
    assert got["Pleural Effusion"] == 1 and got["Cardiomegaly"] == 0
    # an anchor's descriptor reaches across a list
    got = lab("Heart size, mediastinal contour, and pulmonary vascularity are within normal limits.")
    assert got["Cardiomegaly"] == 0 and got["Enlarged Cardiomediastinum"] == 0
    assert lab("Normal interstitial markings.")["No Finding"] == 1


def test_not_seen_on_prior_is_not_a_negation():
    assert lab("New left lower lobe opacity, not seen on the prior study.")["Lung Opacity"] == 1


def test_exclusions():
    assert lab("Small pericardial effusion.")["Pleural Effusion"] is None
    assert lab("Calcified granuloma in the right upper lobe.")["Lung Lesion"] is None


# ---- No Finding and implications -------------------------------------------------


def test_no_finding_logic():
    got = lab("The lungs are clear. No acute cardiopulmonary process.")
    assert got["No Finding"] == 1 and all(got[o] is None for o in OBSERVATIONS[:13])
    assert lab("No pneumothorax or effusion. Heart size is normal.")["No Finding"] == 1
    assert lab("Mild cardiomegaly.")["No Finding"] is None
    assert lab("Possible small left effusion.")["No Finding"] is None
    # Support Devices does not count as a finding.
    got = lab("Left chest wall pacemaker with leads in good position. Lungs are clear.")
    assert got["Support Devices"] == 1 and got["No Finding"] == 1
    # A finding outside the 14 leaves No Finding blank (CheXpert), unless negated.
    assert lab("Lungs are clear. Moderate thoracic scoliosis.")["No Finding"] is None
    assert lab("Lungs are clear. No emphysema.")["No Finding"] == 1


def test_chf_implies_uncertain_cardiomegaly():
    got = lab("Findings consistent with CHF.")
    assert got["Edema"] == 1 and got["Cardiomegaly"] == -1
    assert lab("No evidence of CHF.")["Cardiomegaly"] is None


def test_finalize_labels_is_pure_and_derives_no_finding():
    raw = {"Support Devices": 1, "Pleural Effusion": 0, "No Finding": 0}
    before = dict(raw)
    out = finalize_labels(raw)
    assert raw == before
    assert list(out) == list(OBSERVATIONS)
    assert out["No Finding"] == 1 and out["Support Devices"] == 1 and out["Cardiomegaly"] is None
    assert finalize_labels({"Atelectasis": -1})["No Finding"] is None
    assert finalize_labels({}, other_finding=True)["No Finding"] is None
    rule = [{"if": "Consolidation", "values": [1], "then": "Lung Opacity", "value": 1}]
    assert finalize_labels({"Consolidation": 1}, implications=rule)["Lung Opacity"] == 1
    assert finalize_labels({"Consolidation": 1, "Lung Opacity": 0}, implications=rule)["Lung Opacity"] == 0
    with pytest.raises(ValueError):
        finalize_labels({"Edema": 2})


def test_empty_text_labels_nothing():
    assert RULES.label([""])[0] == {o: None for o in OBSERVATIONS}


# ---- mentions / explain ------------------------------------------------------------


def test_mentions_carry_spans_sentences_and_cues():
    text = "Heart size is normal. No pleural effusion. Possible right lower lobe pneumonia."
    ms = RULES.mentions(text)
    by_obs = {m.observation: m for m in ms}
    pe = by_obs["Pleural Effusion"]
    assert text[pe.start : pe.end] == pe.phrase == "pleural effusion" and pe.value == 0 and pe.cue == "no"
    assert text[pe.sentence_start : pe.sentence_end] == "No pleural effusion."
    pna = by_obs["Pneumonia"]
    assert pna.value == -1 and pna.cue == "possible"
    assert by_obs["Cardiomegaly"].value == 0 and by_obs["Cardiomegaly"].cue == "is normal"
    assert [m.start for m in ms] == sorted(m.start for m in ms)


def test_phrase_syntax_and_scanner():
    assert expand_phrase("(is|are) not (well )?seen") == [
        "are not seen",
        "are not well seen",
        "is not seen",
        "is not well seen",
    ]
    sc = Scanner({"a": ["pleural effusion*", "effusion*"], "b": ["effusion"], "c": ["re:\\d+ cm"]})
    found = sc.scan("small pleural effusions, 2 cm")
    assert found["a"] == [(6, 23)] and found["b"] == [] and found["c"] == [(25, 29)]
    assert sc.scan("effusion")["b"] == [(0, 8)]
    table = load_table()
    assert set(table["observations"]) == set(OBSERVATIONS)


def test_synth_reports_match_the_generator_truth():
    from rg4cli.synth.studies import generate_studies

    studies = generate_studies(40, seed=7)
    assert len(studies) >= 60
    wrong = []
    for s in studies:
        got = RULES.label([join_sections(s.findings, s.impression)])[0]
        if got != s.labels:
            wrong.append((s.study_id, {o: (s.labels[o], got[o]) for o in OBSERVATIONS if s.labels[o] != got[o]}))
    assert not wrong, wrong[:3]


# ---- CheXbert backend ----------------------------------------------------------------


def _official_checkpoint(tmp_path, winners: dict[str, int], no_finding: int):
    """A chexbert.pth of exactly the public layout from a tiny BERT, and its --bert dir."""
    tok = build_wordpiece_tokenizer(REPORT_CORPUS, vocab_size=300)
    config = tiny_bert_config(len(tok), hidden_size=32, layers=1, heads=2)
    bert_dir = tmp_path / "bert"
    config.save_pretrained(bert_dir)
    tok.save_pretrained(bert_dir)
    torch.manual_seed(0)
    ref = CheXbertModel(config).eval()
    with torch.no_grad():
        for head in ref.linear_heads:
            head.weight.mul_(0.01)
            head.bias.zero_()
            head.bias[0] = 4.0
        for obs, cls in winners.items():
            ref.linear_heads[OBSERVATIONS.index(obs)].bias[cls] = 8.0
        ref.linear_heads[13].bias[no_finding] = 8.0
    state = {"module." + k: v for k, v in ref.state_dict().items()}
    keys = sorted(state)
    assert "module.linear_heads.0.weight" in keys and "module.linear_heads.13.bias" in keys
    assert state["module.linear_heads.13.weight"].shape[0] == 2 and state["module.linear_heads.0.weight"].shape[0] == 4
    torch.save({"model_state_dict": state, "epoch": 1}, tmp_path / "chexbert.pth")
    return tmp_path / "chexbert.pth", bert_dir, ref


def test_chexbert_checkpoint_layout_labels_as_the_heads_say(tmp_path):
    # classes: 0 blank, 1 positive, 2 negative, 3 uncertain
    pth, bert_dir, ref = _official_checkpoint(
        tmp_path, {"Cardiomegaly": 1, "Pleural Effusion": 2, "Edema": 3}, no_finding=0
    )
    labeler = make_labeler("chexbert", checkpoint=str(pth), bert=str(bert_dir), batch_size=2)
    got = labeler.label(REPORT_CORPUS[:3] + ["", None])
    for row in got[:4]:  # an empty report is labelled from [CLS][SEP], as the official labeler does
        assert list(row) == list(OBSERVATIONS)
        assert row["Cardiomegaly"] == 1 and row["Pleural Effusion"] == 0 and row["Edema"] == -1
        assert row["Atelectasis"] is None and row["No Finding"] is None
    assert got[4] == {o: None for o in OBSERVATIONS}  # no text: nothing labeled, no model call
    # the loaded weights are the saved ones: same logits as the reference model
    enc = labeler.classifier.encode(REPORT_CORPUS[:2])
    for a, b in zip(labeler.classifier.model(**enc), ref(**enc)):
        assert torch.allclose(a, b, atol=1e-6)
    # batching does not change the answer (padding is masked)
    one = make_labeler("chexbert", checkpoint=str(pth), bert=str(bert_dir), batch_size=1)
    assert one.label(REPORT_CORPUS) == labeler.label(REPORT_CORPUS)


def test_chexbert_needs_a_checkpoint_and_a_known_backend():
    with pytest.raises(InputError, match="--labeler-model"):
        make_labeler("chexbert")
    with pytest.raises(InputError, match="--backend"):
        make_labeler("negbio")


# ---- CLI -------------------------------------------------------------------------


def _run(args, stdin=None):
    runner = CliRunner()
    try:
        return CliRunner(mix_stderr=False).invoke(app, ["label", *args], input=stdin)
    except TypeError:  # click >= 8.2 keeps stderr apart already
        return runner.invoke(app, ["label", *args], input=stdin)
