"""`rg4 weights`: Integrated Gradients (completeness, batched = reference), TLW sentence weights, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from rg4cli.model.classifiers import new_classifier, predict_chexbert, tiny_bert_config
from rg4cli.model.tokenizers import build_wordpiece_tokenizer
from rg4cli.text.sections import join_sections
from rg4cli.text.sentences import split_sentences
from rg4cli.vocab import LABEL_TO_CHEXBERT_CLASS, OBSERVATIONS, THIRTEEN
from rg4cli.weights.attribution import (
    METHODS,
    IGRequest,
    integrated_gradients,
    integrated_gradients_per_label,
    integration_nodes,
    score_difference,
)
from rg4cli.weights.backends import (
    IGWeigher,
    RulesWeigher,
    WeightingOptions,
    attribution_targets,
    check_labels,
    gaussian_smooth,
    rules_sentence_weights,
    sentence_weights_from_tokens,
    token_scores,
)

from ..conftest import REPORT_CORPUS
from .models import random_labeler


def _runner() -> CliRunner:
    try:
        return CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 keeps stderr apart already
        return CliRunner()


# ---- attribution.py ------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_quadrature_integrates_a_smooth_function(method):
    alphas, weights = integration_nodes(50, method)
    assert weights.sum() == pytest.approx(1.0)
    assert np.all((alphas >= 0) & (alphas <= 1))
    assert np.dot(weights, np.exp(alphas)) == pytest.approx(np.e - 1, rel=1e-3)


@pytest.mark.parametrize("method", METHODS)
def test_ig_completeness_attributions_sum_to_the_score_difference(method):
    # A non-trivial (large-init) random labeler: logits move a lot between baseline and input.
    clf = random_labeler(hidden=32, init=0.3, seed=1)
    with torch.no_grad():
        for head in clf.model.linear_heads:
            head.weight.mul_(10.0)
    weigher = IGWeigher(clf, WeightingOptions(steps=50, method=method))
    labels = [{"Cardiomegaly": 1, "Pleural Effusion": -1, "Edema": 1}, {"Pneumothorax": 1}]
    texts = REPORT_CORPUS[1:3]
    maps = weigher.attribute(texts, labels)
    for text, lab, att in zip(texts, labels, maps):
        ids, _, special = weigher.encode(text)
        emb = weigher.embedding
        with torch.no_grad():
            req = IGRequest(
                emb(ids),
                emb(torch.where(special, ids, torch.full_like(ids, clf.tokenizer.pad_token_id))),
                [OBSERVATIONS.index(o) * 4 + c for o, c in attribution_targets(lab)],
            )
        delta = score_difference(weigher.score_fn, req).numpy()
        total = att.attributions.sum(axis=1)
        assert np.abs(delta).max() > 0.2, delta  # the check below means something
        np.testing.assert_allclose(total, delta, rtol=0.02, atol=1e-3)


def test_batched_ig_equals_the_per_label_loop():
    clf = random_labeler(hidden=32, init=0.2, seed=2)
    weigher = IGWeigher(clf, WeightingOptions(steps=12))
    reqs = []
    for text, targets in zip(REPORT_CORPUS, ([5, 7], [], [1, 39, 22], [4 * 9 + 3])):
        ids, _, special = weigher.encode(text)
        with torch.no_grad():
            emb = weigher.embedding(ids)
        reqs.append(IGRequest(emb, torch.where(special[:, None], emb, torch.zeros_like(emb)), targets))
    # batch 7 rows: chunks cut across reports and target counts, reports of different lengths share a chunk
    batched = integrated_gradients(weigher.score_fn, reqs, steps=12, batch_size=7)
    loop = integrated_gradients_per_label(weigher.score_fn, reqs, steps=12)
    assert [tuple(b.shape) for b in batched] == [tuple(l.shape) for l in loop]
    assert batched[1].shape[0] == 0
    scale = max(float(l.abs().max()) for l in loop if l.numel())
    assert scale > 1e-3
    for b, l in zip(batched, loop):
        torch.testing.assert_close(b, l, atol=1e-4, rtol=0)


def test_ig_weigher_explains_each_distinct_text_once(monkeypatch):
    """The settings of a study repeat its text: one attribution per distinct (text, labels), same weights."""
    clf = random_labeler(hidden=32, init=0.3, seed=3)
    weigher = IGWeigher(clf, WeightingOptions(steps=8, threshold=0.0))
    a, b = REPORT_CORPUS[1], REPORT_CORPUS[2]
    la, lb = {"Cardiomegaly": 1, "Edema": -1}, {"Pneumothorax": 1}
    alone = [weigher.weigh([t], [lab])[0] for t, lab in ((a, la), (b, lb), (a, lb))]
    calls = []
    real = weigher.attribute
    monkeypatch.setattr(weigher, "attribute", lambda texts, labels: calls.append(list(texts)) or real(texts, labels))
    got = weigher.weigh([a, b, a, a], [la, lb, dict(la), lb])
    assert calls == [[a, b, a]]  # (a, la) twice -> once; (a, lb) is another question
    assert got == [alone[0], alone[1], alone[0], alone[2]]
    assert any(w["weight"] > 1 for w in got[0])  # the comparison means something
    got[0][0]["weight"] = -1.0
    assert got[2][0]["weight"] != -1.0  # copies, not one shared list


def test_ig_rejects_bad_requests():
    with pytest.raises(ValueError):
        integration_nodes(0)
    with pytest.raises(ValueError):
        integration_nodes(10, "simpson")
    bad = IGRequest(torch.zeros(3, 4), torch.zeros(2, 4), [0])
    with pytest.raises(ValueError):
        integrated_gradients(lambda e, m: e.sum(-1), [bad])


# ---- loss_weights.py: scores -> sentences -----------------------------------------


def test_targets_are_the_positive_and_uncertain_labels_of_the_first_13():
    labels = {o: None for o in OBSERVATIONS}
    labels.update({"Cardiomegaly": 1, "Edema": -1, "Pneumothorax": 0, "No Finding": 1})
    assert attribution_targets(labels) == [("Cardiomegaly", 1), ("Edema", 3)]
    assert check_labels(labels) is None
    assert "unknown observation" in check_labels({"Cardiomegally": 1})
    assert "expected 1, 0, -1 or null" in check_labels({"Edema": 2})
    assert "expected an object" in check_labels([1, 0])


def test_gaussian_smoothing_keeps_constants_and_spreads_peaks():
    flat = np.full(9, 0.7)
    np.testing.assert_allclose(gaussian_smooth(flat, 1.5), flat)  # renormalised at both ends
    peak = np.zeros(15)
    peak[7] = 1.0
    smooth = gaussian_smooth(peak, 1.0)
    assert smooth[7] < 1.0 and smooth[6] == pytest.approx(smooth[8]) and smooth[6] > 0.2
    assert smooth.sum() == pytest.approx(1.0)  # far from the ends: mass kept
    np.testing.assert_array_equal(gaussian_smooth(peak, 0), peak)


def test_token_scores_normalise_each_label_after_smoothing():
    attr = np.array(
        [
            [0.0, 0.0, 4.0, 0.0, 0.0, 0.0],  # strong label, one-token peak
            [0.0, 0.0, 0.0, 0.0, 0.2, 0.2],
        ]
    )  # weak label
    per_label = token_scores(attr, sigma=1.0, normalize="label")
    assert per_label[2] == pytest.approx(1.0) and max(per_label[4:]) == pytest.approx(1.0)
    report = token_scores(attr, sigma=1.0, normalize="report")
    assert report.max() == pytest.approx(1.0) and report[5] < 0.2  # the weak label is drowned
    signed = token_scores(np.array([[1.0, -3.0]]), sigma=0)
    np.testing.assert_allclose(signed, [1 / 3, -1.0])
    np.testing.assert_allclose(token_scores(np.array([[1.0, -3.0]]), sigma=0, absolute=True), [1 / 3, 1.0])
    np.testing.assert_array_equal(token_scores(np.zeros((0, 3))), [-1.0, -1.0, -1.0])


def test_sentence_weights_take_the_best_word_piece_of_each_sentence():
    text = "findings: Heart is enlarged. Lungs are clear. impression: Cardiomegaly."
    spans = split_sentences(text)
    assert len(spans) == 3
    words = [(m.start(), m.end()) for m in __import__("re").finditer(r"\w+|[^\w\s]", text)]
    scores = np.zeros(len(words))
    scores[[i for i, (s, _) in enumerate(words) if text[s:].startswith("enlarged")]] = 0.9
    scores[[i for i, (s, _) in enumerate(words) if text[s:].startswith("clear")]] = 0.4  # not > threshold
    out = sentence_weights_from_tokens(text, words, scores, threshold=0.4, lam=1.75)
    assert [(w["start"], w["end"]) for w in out] == spans
    assert [w["weight"] for w in out] == [1.75, 1.0, 1.0]
    assert [w["score"] for w in out] == [0.9, 0.4, 0.0]
    none = sentence_weights_from_tokens(text, words, None, threshold=0.4, lam=1.75)
    assert [(w["weight"], w["score"]) for w in none] == [(1.0, None)] * 3
    # word pieces cut off by the labeler's length limit: later sentences unscored
    cut = sentence_weights_from_tokens(text, words[:5], scores[:5], threshold=0.4, lam=1.75)
    assert cut[0]["weight"] == 1.75 and cut[2]["score"] is None


# ---- rules backend -------------------------------------------------------------


def test_rules_backend_marks_sentences_with_positive_or_uncertain_mentions():
    text = (
        "findings: There is a moderate right pleural effusion. No pneumothorax. "
        "The heart size is normal. impression: Possible pneumonia."
    )
    out = RulesWeigher().weigh([text], [None])[0]
    by_sentence = {text[w["start"] : w["end"]]: w["weight"] for w in out}
    assert by_sentence == {
        "findings: There is a moderate right pleural effusion.": 1.75,
        "No pneumothorax.": 1.0,
        "The heart size is normal.": 1.0,
        "impression: Possible pneumonia.": 1.75,
    }
    # with the record's labels, only its positive/uncertain observations count
    only_effusion = RulesWeigher(WeightingOptions(lam=2.0)).weigh([text], [{"Pleural Effusion": 1}])[0]
    assert [w["weight"] for w in only_effusion] == [2.0, 1.0, 1.0, 1.0]


def test_rules_sentence_weights_use_mention_spans():
    from types import SimpleNamespace as M

    text = "Small effusion. No edema."
    mentions = [
        M(observation="Pleural Effusion", value=1, start=6, end=14),
        M(observation="Edema", value=0, start=19, end=24),
    ]
    out = rules_sentence_weights(text, mentions, None, 1.5)
    assert [(w["weight"], w["score"]) for w in out] == [(1.5, 1.0), (1.0, 0.0)]


# ---- a labeler trained on rg4 synth reports ------------------------------------------


def _train_labeler(texts: list[str], labels: list[dict], epochs: int, seed: int = 0, lr: float = 4e-3, layers: int = 1):
    """A tiny CheXbert-shaped labeler trained from scratch (no dropout: it converges in seconds)."""
    tok = build_wordpiece_tokenizer(texts, vocab_size=500)
    torch.manual_seed(seed)
    config = tiny_bert_config(len(tok), hidden_size=64, layers=layers, heads=2, max_positions=256)
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    clf = new_classifier("labeler", tok, config)
    clf.model.dropout.p = 0.0
    targets = torch.tensor(
        [[LABEL_TO_CHEXBERT_CLASS[lab[o]] for o in THIRTEEN] + [int(lab["No Finding"] == 1)] for lab in labels]
    )
    enc = tok(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
    model = clf.model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(texts), generator=gen)
        for i in range(0, len(texts), 16):
            idx = order[i : i + 16]
            mask = enc["attention_mask"][idx]
            width = int(mask.sum(1).max())
            out = model(input_ids=enc["input_ids"][idx, :width], attention_mask=mask[:, :width])
            loss = torch.stack([F.cross_entropy(o, targets[idx, k]) for k, o in enumerate(out)]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return clf


@pytest.mark.slow
def test_ig_weights_of_a_trained_labeler_mark_the_finding_sentences():
    """Alg. 1 end to end: the labeler labels each report, IG explains its positive/uncertain labels.

    Scored on the findings the labeler got right (explaining a label it does not predict
    says nothing): the sentences that state them get lambda, normal sentences mostly not.
    """
    from rg4cli.synth.studies import generate_studies

    torch.set_num_threads(1)
    # ~640 training reports: enough for a 1-layer labeler to learn every head from any seed
    # (with ~380, some seeds stall at 0.82 label agreement and IG then explains a weak model).
    studies = generate_studies(250, seed=7)
    train = [s for s in studies if s.split == "train"]
    test = [s for s in studies if s.split != "train"][:40]
    clf = _train_labeler([join_sections(s.findings, s.impression) for s in train], [s.labels for s in train], epochs=20)
    texts = [join_sections(s.findings, s.impression) for s in test]
    predicted = predict_chexbert(clf, texts)
    agreement = np.mean([p[o] == s.labels[o] for p, s in zip(predicted, test) for o in THIRTEEN])
    # It learned (predicting each observation's majority value agrees 0.71): IG has a model worth
    # explaining. The thresholds below sit well under the spread measured over training seeds 0-5
    # (1 thread) and seed 0 on 2 threads (another float path: 0.89 agreement where 1 thread gets
    # 0.83): agreement 0.83-0.94, finding sentences marked 0.53-0.98, normal ones 0.02-0.12,
    # findings marked 0.94-1.0.
    assert agreement > 0.78, agreement

    weights = IGWeigher(clf, WeightingOptions()).weigh(texts, [None] * len(texts))  # labels: the labeler's own
    finding, finding_lam, normal, normal_lam, labels_seen, labels_marked = 0, 0, 0, 0, 0, 0
    for study, text, sentence_weights, pred in zip(test, texts, weights, predicted):
        assert [(w["start"], w["end"]) for w in sentence_weights] == split_sentences(text)
        found = {o for o in THIRTEEN if pred[o] in (1, -1) and study.labels[o] in (1, -1)}
        cursor, marked = 0, {}
        for _, sentence in study.sentences():
            at = text.index(sentence.text, cursor)
            cursor = at + len(sentence.text)
            lam = any(w["start"] <= at < w["end"] and w["weight"] == 1.75 for w in sentence_weights)
            stated = [o for o in found if sentence.labels.get(o) in (1, -1)]
            for obs in stated:
                marked[obs] = marked.get(obs, False) or lam
            if stated:
                finding, finding_lam = finding + 1, finding_lam + lam
            elif not any(v in (1, -1) for v in sentence.labels.values()):
                normal, normal_lam = normal + 1, normal_lam + lam
        labels_seen += len(marked)
        labels_marked += sum(marked.values())
    stats = (
        f"finding sentences {finding_lam}/{finding}, normal sentences {normal_lam}/{normal}, "
        f"findings marked {labels_marked}/{labels_seen}, label agreement {agreement:.3f}"
    )
    assert finding > 50 and normal > 100, stats
    assert finding_lam / finding >= 0.4, stats
    assert normal_lam / normal <= 0.25, stats
    assert finding_lam / finding >= 3 * normal_lam / normal, stats  # IG tells the two kinds apart
    assert labels_marked / labels_seen >= 0.8, stats


# ---- CLI ---------------------------------------------------------------------


def test_rules_backend_on_real_reports_follows_the_chexbert_labels(iu_dir):
    """IU findings with CheXbert's labels: positive reports get an emphasised sentence, others none."""
    reports = {}
    with open(iu_dir / "reports.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            reports[rec["id"]] = rec
    with open(iu_dir / "chexbert_labels.jsonl", encoding="utf-8") as fh:
        labeled = [json.loads(line) for _, line in zip(range(200), fh)]
    texts = [reports[r["id"]]["findings"] for r in labeled]
    weights = RulesWeigher().weigh(texts, [r["labels"] for r in labeled])
    positive = [bool(attribution_targets(r["labels"])) for r in labeled]
    emphasised = [any(w["weight"] > 1 for w in ws) for ws in weights]
    assert sum(positive) > 30
    assert sum(e for e, p in zip(emphasised, positive) if p) >= 0.85 * sum(positive)
    assert not any(e for e, p in zip(emphasised, positive) if not p)
    for text, ws in zip(texts, weights):
        assert [(w["start"], w["end"]) for w in ws] == split_sentences(text)
