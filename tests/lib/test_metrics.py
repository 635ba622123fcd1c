"""rg4 score: cleaning, NLG equal to pycocoevalcap, CE by hand, joins, Wilcoxon, CLI."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from rg4cli.errors import InputError
from rg4cli.metrics import clinical, meteor_jvm, nlg
from rg4cli.metrics import score as scoring
from rg4cli.text.cleaning import r2gen_clean
from rg4cli.vocab import OBSERVATIONS

from .corpora import labels_with
from .jsonl import jsonl_arg

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="METEOR / PTB need Java")

# ---- text preparation ------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        # sentence split on ". ", punctuation deleted, lowercased, " ." ending
        ("The heart is normal. Lungs are clear.", "the heart is normal . lungs are clear ."),
        # an empty sentence is kept (the published cleaning never drops one): extra "." token
        ("No acute abnormality. .", "no acute abnormality .  ."),
        # a deleted " , " leaves two spaces, as in the original (ROUGE-L splits on " ")
        ("granuloma , histoplasmoma", "granuloma  histoplasmoma ."),
        # ":" becomes " :" before the split; numbered lists lose their marks
        ("FINDINGS: 1. Small effusion. 2. No pneumothorax.", "findings : small effusion . no pneumothorax ."),
        # runs of "_" and "." collapse; quotes, slashes and brackets go; the "_" is deleted
        # after the sentence was stripped, so its space stays
        ("Dr. ___ was paged... Atelectasis/scar (left) 'mild'", "dr .  was paged . atelectasisscar left mild ."),
        ("line one\nline two", "line one line two ."),
        ("", ""),
        ("   ", ""),
    ],
)
def test_r2gen_clean_matches_published_cleaning(raw, cleaned):
    assert r2gen_clean(raw) == cleaned


def test_prepare_none_leaves_text_alone():
    assert nlg.prepare_texts(["The  heart,\nnormal. ", None], "none") == ["The  heart,\nnormal. ", ""]
    with pytest.raises(ValueError):
        nlg.prepare_texts(["x"], "bogus")


@needs_java
def test_ptb_equals_pycocoevalcap_tokenizer():
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    texts = ["Heart: normal. Lungs (clear), no effusion!", "", "Mild cardiomegaly -- stable since 2019."]
    expected = PTBTokenizer().tokenize({i: [{"caption": t}] for i, t in enumerate(texts)})
    assert nlg.prepare_texts(texts, "ptb") == [expected[i][0] for i in range(len(texts))]
    # a line break inside a text must not shift the texts after it
    assert nlg.prepare_texts(["heart\nnormal.", "lungs"], "ptb") == ["heart normal", "lungs"]


# ---- NLG == pycocoevalcap called directly ----------------------------------------

SENTS = [
    "the heart is normal in size",
    "there is no pleural effusion",
    "no pneumothorax is seen",
    "mild cardiomegaly",
    "left basilar atelectasis",
    "the lungs are clear",
    "small right pleural effusion",
    "support devices are unchanged",
    "no focal consolidation",
]


def _corpus(n: int = 24) -> tuple[list[str], list[str]]:
    refs, hyps = [], []
    for i in range(n):
        ref = " . ".join(SENTS[(i + k) % len(SENTS)] for k in range(3)) + " ."
        hyp = " . ".join(SENTS[(i * 2 + k) % len(SENTS)] for k in range(2 + i % 3)) + " ."
        refs.append(r2gen_clean(ref))
        hyps.append(r2gen_clean(hyp))
    hyps[3] = ""  # an empty hypothesis must score, not crash
    return hyps, refs


def _pycocoevalcap_meteor_on(process: meteor_jvm.MeteorProcess, monkeypatch):
    """pycocoevalcap's own Meteor object, talking to our JVM (started with its exact command)."""
    from pycocoevalcap.meteor import meteor as pm

    seen = {}

    class FakePopen:
        def __init__(self, cmd, cwd=None, **kw):
            seen.update(cmd=cmd, cwd=cwd)
            self.stdin, self.stdout = process._proc.stdin, process._proc.stdout

    monkeypatch.setattr(pm.subprocess, "Popen", FakePopen)
    meteor = pm.Meteor()
    # pycocoevalcap's exact command, with only the JVM's garbage collector chosen (no effect on scores)
    expected = [seen["cmd"][0], *meteor_jvm.METEOR_JVM_FLAGS, *seen["cmd"][1:]]
    assert process._proc.args[: len(expected)] == expected
    assert Path(seen["cwd"]) == process._jar_dir
    meteor.__class__ = type("BorrowedMeteor", (pm.Meteor,), {"__del__": lambda self: None})  # not its JVM to stop
    return meteor


@needs_java
def test_nlg_equals_pycocoevalcap_direct_including_subsets(monkeypatch):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    hyps, refs = _corpus()
    groups = {"even": list(range(0, len(hyps), 2)), "tail": list(range(15, len(hyps))), "none": []}
    got = nlg.nlg_scores(hyps, refs, groups=groups)
    meteor = _pycocoevalcap_meteor_on(meteor_jvm.meteor_process(), monkeypatch)
    for name, idx in [("overall", list(range(len(hyps)))), ("even", groups["even"]), ("tail", groups["tail"])]:
        gts = {i: [refs[i]] for i in idx}
        res = {i: [hyps[i]] for i in idx}
        bleu, bleu_each = Bleu(4).compute_score(gts, res, verbose=0)
        rouge, rouge_each = Rouge().compute_score(gts, res)
        cider, cider_each = Cider().compute_score(gts, res)
        met, met_each = meteor.compute_score(gts, res)
        c = got[name].corpus
        assert [c[f"bleu_{n}"] for n in range(1, 5)] == bleu
        assert c["rouge_l"] == pytest.approx(rouge, abs=1e-15)
        assert c["cider"] == cider
        assert c["meteor"] == met
        if name == "overall":
            per = got[name].per_report
            assert [per[f"bleu_{n}"] for n in range(1, 5)] == bleu_each
            assert per["rouge_l"] == list(rouge_each)
            assert per["cider"] == list(cider_each)
            assert per["meteor"] == met_each
    assert all(v is None for v in got["none"].corpus.values())
    assert got["tail"].corpus["cider"] != got["overall"].corpus["cider"]  # IDF from the subset


def _token_soup(seed: int, n: int) -> tuple[list[str], list[list[str]]]:
    """Hypotheses and 1-3 references with repeated n-grams, empty texts and double spaces."""
    import random

    rng = random.Random(seed)
    words = "the a heart lungs are clear no effusion . , is normal".split()
    hyps, refs = [], []
    for _ in range(n):
        hyps.append(" ".join(rng.choice(words) for _ in range(rng.randrange(0, 45))))
        refs.append(
            [" ".join(rng.choice(words) for _ in range(rng.randrange(1, 70))) for _ in range(rng.randrange(1, 4))]
        )
    hyps[1], hyps[2] = "", "the  heart"
    sents = [" . ".join(rng.sample(SENTS, rng.randrange(1, 5))) + " ." for _ in range(n)]
    return hyps + sents[::-1], refs + [[t] for t in sents]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rouge_and_cider_equal_pycocoevalcap_bit_for_bit(seed):
    # rg4's ROUGE-L (bit-parallel LCS) and CIDEr (vectorised over pairs) are re-implementations for
    # speed: every number must be the library's own, overall and on subsets (CIDEr's IDF differs).
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge, my_lcs

    hyps, refs = _token_soup(seed, 150)
    table = nlg._CiderTable(hyps, refs)
    for idx in (list(range(len(hyps))), list(range(0, len(hyps), 3)), [5], list(range(140, 160))):
        gts = {i: refs[i] for i in idx}
        res = {i: [hyps[i]] for i in idx}
        cider, cider_each = Cider().compute_score(gts, res)
        assert table.scores(idx) == (cider, list(cider_each))
        rouge, rouge_each = Rouge().compute_score(gts, res)
        assert nlg._rouge([hyps[i] for i in idx], [refs[i] for i in idx]) == (rouge, list(rouge_each))
    for h, rs in zip(hyps, refs):
        a, b = h.split(" "), rs[0].split(" ")
        assert nlg.lcs_length(a, b) == nlg.lcs_length(b, a) == my_lcs(a, b)


@needs_java
def test_meteor_survives_line_breaks_and_separators():
    result: dict = {}

    def run():
        result["scores"] = nlg.nlg_scores(["a b\nc ||| d", "x\r\ny"], ["a b c d", "x y"])

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=600)  # a JVM start on a loaded machine; only a hang takes this long
    assert not worker.is_alive(), "METEOR hung on a newline or '|||'"
    per = result["scores"]["overall"].per_report["meteor"]
    assert len(per) == 2 and all(0 < s <= 1 for s in per)
    assert meteor_jvm.meteor_process() is meteor_jvm.meteor_process()  # one JVM per process


@needs_java
def test_meteor_arithmetic_equals_the_jvm_eval():
    # rg4 scores METEOR's statistics in Python (no round trip after the alignment): the numbers
    # must be the JVM's EVAL answers bit for bit, corpus and segments, for any subset. Segments
    # cover a perfect match (addStats leaves its chunk out), an empty hypothesis, no match at all,
    # stems and function words.
    hyps, refs = _corpus(40)
    hyps += ["the heart is normal .", "", "zebra", "the lungs are clearly expanding .", "no"]
    refs += [
        "the heart is normal .",
        "the heart is normal .",
        "lungs clear",
        "the lung is clear and expanded .",
        "no effusion",
    ]
    mp = meteor_jvm.meteor_process()
    stats = mp.stats(hyps, [[r] for r in refs])
    for subset in (stats, stats[::3], stats[-5:], stats[40:41], stats[1:2]):
        score, each, _ = nlg.meteor_scores(subset, mp)
        assert (score, each) == mp.evaluate(subset)


def test_nlg_without_meteor_and_empty():
    hyps, refs = _corpus(6)
    got = nlg.nlg_scores(hyps, refs, meteor=False)
    assert got["overall"].corpus["meteor"] is None and "meteor" not in got["overall"].per_report
    assert got["overall"].corpus["bleu_1"] > 0
    assert nlg.nlg_scores([], [], meteor=False)["overall"].corpus["cider"] is None


# ---- CE, by hand -----------------------------------------------------------------


# Three report pairs. Under unc_pos (uncertain -> 1):
#   Cardiomegaly:     hyp 1,1,0  ref 1,0,1   -> TP 1 FP 1 FN 1
#   Pleural Effusion: hyp 1,0,-1 ref 1,-1,0  -> (1,0,1) vs (1,1,0): TP 1 FP 1 FN 1
#   Edema:            hyp 0,0,0  ref -1,0,0  -> (0,0,0) vs (1,0,0): TP 0 FP 0 FN 1
#   No Finding:       hyp 0,0,1  ref 0,0,1   -> TP 1
#   others: never mentioned (constant columns)
# Under unc_neg (uncertain -> 0): Effusion (1,0,0) vs (1,0,0): TP 1; Edema all 0.
HYP = [
    labels_with(cardiomegaly=1, pleural_effusion=1),
    labels_with(cardiomegaly=1, pleural_effusion=0),
    labels_with(pleural_effusion=-1, edema=0, no_finding=1),
]
REF = [
    labels_with(cardiomegaly=1, pleural_effusion=1, edema=-1),
    labels_with(pleural_effusion=-1),
    labels_with(cardiomegaly=1, no_finding=1),
]


def test_ce_hand_computed():
    ce = clinical.ce_scores(HYP, REF)
    # micro 14, unc_pos: TP 3, FP 2, FN 3
    assert ce["micro_14_unc_pos"] == pytest.approx({"precision": 3 / 5, "recall": 3 / 6, "f1": 6 / 11})
    # macro 14, unc_pos: F1 per obs: cardio 1/2, effusion 1/2, edema 0, no finding 1, 10 constant columns 0
    assert ce["macro_14_unc_pos"]["f1"] == pytest.approx((0.5 + 0.5 + 0 + 1) / 14)
    assert ce["macro_14_unc_pos"]["precision"] == pytest.approx((0.5 + 0.5 + 0 + 1) / 14)
    assert ce["macro_14_unc_pos"]["recall"] == pytest.approx((0.5 + 0.5 + 0 + 1) / 14)
    # the 5: cardio, edema, effusion (+ atelectasis, consolidation constant): TP 2 FP 2 FN 3
    assert ce["micro_5_unc_pos"] == pytest.approx({"precision": 2 / 4, "recall": 2 / 5, "f1": 4 / 9})
    assert ce["macro_5_unc_pos"]["f1"] == pytest.approx((0.5 + 0.5 + 0) / 5)
    # unc_neg: cardio TP1 FP1 FN1, effusion TP1, no finding TP1 -> TP 3 FP 1 FN 1
    assert ce["micro_14_unc_neg"] == pytest.approx({"precision": 3 / 4, "recall": 3 / 4, "f1": 6 / 8})
    assert ce["macro_5_unc_neg"]["recall"] == pytest.approx((0.5 + 1) / 5)
    assert list(ce) == clinical.ce_keys()


def test_ce_constant_columns_and_per_observation():
    nothing = [labels_with() for _ in range(4)]
    ce = clinical.ce_scores(nothing, nothing)
    assert all(v == {"precision": 0.0, "recall": 0.0, "f1": 0.0} for v in ce.values())
    table = clinical.per_observation(HYP, REF, "unc_pos")
    assert table["Cardiomegaly"] == {
        "tp": 1,
        "fp": 1,
        "fn": 1,
        "tn": 0,
        "support": 2,
        "predicted": 2,
        "precision": 0.5,
        "recall": 0.5,
        "f1": 0.5,
    }
    assert table["Fracture"]["support"] == 0 and table["Fracture"]["f1"] == 0.0
    assert all(v is None for v in clinical.ce_scores([], []).values())


def test_per_report_f1():
    # pair 1 (unc_pos, 14): hyp {cardio, eff} vs ref {cardio, eff, edema}: 2TP, 1FN -> 4/5
    # pair 2: hyp {cardio} vs ref {eff}: 0; pair 3: hyp {eff, NF} vs ref {cardio, NF}: 2/4
    assert clinical.per_report_f1(HYP, REF) == pytest.approx([4 / 5, 0.0, 0.5])
    # neither side positive -> 1.0 (agreement), a false alarm -> 0.0
    assert clinical.per_report_f1([labels_with(), labels_with(edema=1)], [labels_with(), labels_with()]) == [1.0, 0.0]


def test_labels_problem():
    assert clinical.labels_problem(labels_with(edema=1)) is None
    assert "unknown observation" in clinical.labels_problem({"Effusion": 1})
    assert "expected 1, 0, -1 or null" in clinical.labels_problem({"Edema": 2})
    assert "expected 1, 0, -1 or null" in clinical.labels_problem({"Edema": True})
    assert clinical.labels_problem([1, 0]) is not None


# ---- the core: join, settings, hallucination, Wilcoxon ----------------------------


def _keys(obj, prefix=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + k
            yield from _keys(v, prefix + k + ".")


def test_score_files_blocks_settings_hall_and_against(scored_files):
    config = scoring.ScoreSettings(meteor=False)
    res = scoring.score_files(scored_files["good"], scored_files["ref"], config, against=scored_files["bad"])
    s = res.summary
    assert s["n"] == 24 and set(s["by_setting"]) == {"sn", "mn"}
    assert s["by_setting"]["sn"]["n"] == 12 and s["by_setting"]["mn"]["n"] == 12
    assert s["overall"]["meteor"] is None
    # 4 of 24 hypotheses are the wrong report: CE from the records' labels
    assert s["config"]["labels"] == {
        "hyp": {"from_field": 24, "labeled": 0, "stale": 0},
        "ref": {"from_field": 24, "labeled": 0, "stale": 0},
    }
    direct = clinical.ce_scores(
        [r["labels"] for r in scored_files["good_recs"]], [r["labels"] for r in scored_files["refs"]]
    )
    assert {k: s["overall"]["ce"][k] for k in direct} == direct
    assert s["overall"]["hall"] == {
        "n": 24,
        "rate": 8 / 24,
        "present": {"pc": 8 / 24, "pp": 0, "view": 0, "comm": 0},
        "unsupported": {"pc": 8 / 24, "pp": 0, "view": 0, "comm": 0},
    }
    assert s["against"]["overall"]["hall"] is None
    tests = s["against"]["tests"]
    from rg4cli.metrics.model_metrics import MODEL_PER_REPORT_KEYS

    assert set(tests) == set(scoring.PER_REPORT_KEYS) - {"meteor", *MODEL_PER_REPORT_KEYS}
    assert tests["bleu_4"]["higher"] == "input" and tests["bleu_4"]["p_value"] < 0.01
    assert tests["ce_f1_14_unc_pos"]["higher"] == "input" and tests["ce_f1_14_unc_pos"]["mean_diff"] > 0
    from scipy.stats import wilcoxon

    rows = res.per_report
    assert [r["id"] for r in rows] == [f"s{i}" for i in range(24)]
    assert rows[1]["bleu_4"] > rows[0]["bleu_4"] and rows[1]["setting"] == "mn"
    # every key of the summary is documented (stable, listed in --help)
    from rg4cli.metrics.ce_variants import variant_keys

    documented = scoring.SUMMARY_KEYS_DOC
    for key in _keys(s):
        last = key.split(".")[-1]
        if (
            last in OBSERVATIONS
            or key.startswith(("by_setting.", "against.tests."))
            or last in clinical.ce_keys() + variant_keys()
        ):
            continue
        assert last in documented, key
    assert tests["rouge_l"]["p_value"] == pytest.approx(
        wilcoxon(
            [r["rouge_l"] for r in rows], _per_report_of(scored_files["bad"], scored_files["ref"], "rouge_l")
        ).pvalue
    )


def _per_report_of(path, ref, key):
    res = scoring.score_files(path, ref, scoring.ScoreSettings(meteor=False))
    return [r[key] for r in res.per_report]


def test_identical_systems_tie(scored_files):
    s = scoring.score_files(
        scored_files["good"], scored_files["ref"], scoring.ScoreSettings(meteor=False), against=scored_files["good"]
    ).summary
    t = s["against"]["tests"]["bleu_1"]
    assert t["higher"] == "tie" and t["p_value"] is None and t["n_nonzero"] == 0


def test_missing_and_duplicate_ids(scored_files, tmp_path):
    recs = [json.loads(x) for x in open(scored_files["good"])]
    short = jsonl_arg(tmp_path / "short.jsonl", recs[:20] + [{"id": "zz", "report": "x"}])
    with pytest.raises(InputError) as err:
        scoring.score_files(short, scored_files["ref"], scoring.ScoreSettings(meteor=False))
    assert "1 id(s)" in str(err.value) and "4 id(s)" in str(err.value) and "'zz'" in str(err.value)
    s = scoring.score_files(short, scored_files["ref"], scoring.ScoreSettings(meteor=False, on_missing="skip")).summary
    assert s["n"] == 20 and s["skipped"] == {"not_in_ref": 1, "not_in_input": 4, "no_text": 0, "hallucination_stale": 0}
    dup = jsonl_arg(tmp_path / "dup.jsonl", recs + recs[:2])
    with pytest.raises(InputError, match="duplicate id"):
        scoring.score_files(dup, scored_files["ref"], scoring.ScoreSettings(meteor=False))


def test_bad_records_name_file_line_field(scored_files, tmp_path):
    recs = [json.loads(x) for x in open(scored_files["good"])]
    recs[5] = {"id": "s5"}  # no text
    path = jsonl_arg(tmp_path / "notext.jsonl", recs)
    with pytest.raises(InputError) as err:
        scoring.score_files(path, scored_files["ref"], scoring.ScoreSettings(meteor=False))
    assert str(err.value).startswith(f"{path}:6: report: no text")
    s = scoring.score_files(
        path, scored_files["ref"], scoring.ScoreSettings(meteor=False, on_error="skip", on_missing="skip")
    ).summary
    assert s["n"] == 23 and s["skipped"]["no_text"] == 1
    recs = [json.loads(x) for x in open(scored_files["good"])]
    recs[2]["labels"] = {"Effusion": 1}
    path = jsonl_arg(tmp_path / "badlab.jsonl", recs)
    with pytest.raises(InputError, match=r":3: labels: unknown observation"):
        scoring.score_files(path, scored_files["ref"], scoring.ScoreSettings(meteor=False))
    with pytest.raises(InputError, match="--labeler chexbert needs --labeler-model"):
        scoring.score_files(
            scored_files["good"],
            scored_files["ref"],
            scoring.ScoreSettings(meteor=False, relabel=True, labeler="chexbert"),
        )
    with pytest.raises(InputError, match="--tokenize"):
        scoring.score_files(
            scored_files["good"], scored_files["ref"], scoring.ScoreSettings(meteor=False, tokenize="bpe")
        )


def test_labeler_fills_missing_labels(scored_files, tmp_path):
    recs = [{k: v for k, v in json.loads(x).items() if k != "labels"} for x in open(scored_files["good"])]
    path = jsonl_arg(tmp_path / "nolabels.jsonl", recs)
    s = scoring.score_files(path, scored_files["ref"], scoring.ScoreSettings(meteor=False)).summary
    assert s["config"]["labels"]["hyp"] == {"from_field": 0, "labeled": 24, "stale": 0}
    assert s["config"]["labels"]["ref"] == {"from_field": 24, "labeled": 0, "stale": 0}
    assert 0 < s["overall"]["ce"]["micro_14_unc_pos"]["f1"] <= 1


# ---- CLI ---------------------------------------------------------------------------


def test_labeler_labels_each_distinct_text_once():
    calls = []

    class Counting:
        def label(self, texts):
            calls.append(list(texts))
            return [labels_with(edema=1 if "edema" in t else None) for t in texts]

    lab = scoring.LazyLabeler(scoring.ScoreSettings())
    lab._labeler = Counting()
    first = lab.label(["edema.", "clear.", "edema."])
    again = lab.label(["clear.", "edema.", "new edema."])
    assert calls == [["edema.", "clear."], ["new edema."]]
    assert [x["Edema"] for x in first + again] == [1, None, 1, None, 1, 1]
    first[0]["Edema"] = 0  # callers get copies, the cache stays intact
    assert lab.label(["edema."])[0]["Edema"] == 1


def test_settings_from_field_or_inputs_or_none(scored_files, tmp_path):
    refs = [
        {k: v for k, v in r.items() if k not in ("frontal", "lateral", "prior_report")} for r in scored_files["refs"]
    ]
    plain = jsonl_arg(tmp_path / "plain.jsonl", refs)
    s = scoring.score_files(scored_files["good"], plain, scoring.ScoreSettings(meteor=False)).summary
    assert s["by_setting"] == {} and s["overall"]["n"] == 24  # no inputs, no setting field: overall only
    recs = [json.loads(x) for x in open(scored_files["good"])]
    for i, r in enumerate(recs):
        r["setting"] = "sw" if i < 20 else "mw"
    stated = jsonl_arg(tmp_path / "stated.jsonl", recs)
    s = scoring.score_files(stated, plain, scoring.ScoreSettings(meteor=False)).summary
    assert {k: v["n"] for k, v in s["by_setting"].items()} == {"sw": 20, "mw": 4}
    recs[7]["setting"] = "xx"
    bad = jsonl_arg(tmp_path / "badsetting.jsonl", recs)
    with pytest.raises(InputError, match=r":8: setting: expected one of sn, sw, mn, mw"):
        scoring.score_files(bad, plain, scoring.ScoreSettings(meteor=False))
