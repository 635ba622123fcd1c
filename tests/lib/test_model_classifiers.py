"""The BERT classifiers load the public checkpoint layouts and rg4's own directories."""

from __future__ import annotations

import torch

from rg4cli.errors import InputError
from rg4cli.model.classifiers import (
    DISCBERT_HEADS,
    CheXbertModel,
    DiscBertModel,
    load_classifier,
    new_classifier,
    predict_chexbert,
    predict_discbert,
    save_classifier_dir,
    tiny_bert_config,
)
from rg4cli.model.tokenizers import build_wordpiece_tokenizer
from rg4cli.vocab import OBSERVATIONS

from ..conftest import REPORT_CORPUS


def _bert_dir(tmp_path):
    tok = build_wordpiece_tokenizer(REPORT_CORPUS, vocab_size=300)
    config = tiny_bert_config(len(tok), hidden_size=32, layers=1, heads=2)
    bert_dir = tmp_path / "bert"
    config.save_pretrained(bert_dir)
    tok.save_pretrained(bert_dir)
    return bert_dir, tok, config


def test_official_chexbert_layout_loads_and_predicts(tmp_path):
    bert_dir, tok, config = _bert_dir(tmp_path)
    torch.manual_seed(0)
    ref = CheXbertModel(config).eval()
    # Make known classes win: Cardiomegaly positive (1), Edema uncertain (3), No Finding present.
    with torch.no_grad():
        for _i, head in enumerate(ref.linear_heads):
            head.weight.zero_()
            head.bias.zero_()
            head.bias[0] = 5.0
        ref.linear_heads[OBSERVATIONS.index("Cardiomegaly")].bias[1] = 9.0
        ref.linear_heads[OBSERVATIONS.index("Edema")].bias[3] = 9.0
        ref.linear_heads[13].bias[1] = 9.0
    state = {"module." + k: v for k, v in ref.state_dict().items()}
    state["module.bert.pooler.dense.weight"] = torch.zeros(32, 32)  # the public file has a pooler
    torch.save({"model_state_dict": state, "epoch": 3}, tmp_path / "chexbert.pth")

    clf = load_classifier(tmp_path / "chexbert.pth", "labeler", bert=bert_dir)
    enc = clf.encode(REPORT_CORPUS[:2])
    for a, b in zip(clf.model(**enc), ref(**enc)):
        assert torch.allclose(a, b, atol=1e-6)
    labels = predict_chexbert(clf, REPORT_CORPUS[:2], batch_size=1)
    assert labels[0]["Cardiomegaly"] == 1 and labels[0]["Edema"] == -1
    assert labels[0]["Atelectasis"] is None and labels[0]["No Finding"] == 1


def test_official_discbert_layout_loads(tmp_path):
    bert_dir, tok, config = _bert_dir(tmp_path)
    ref = DiscBertModel(config, head_outputs=2).eval()
    state = {"labeler." + k: v for k, v in ref.state_dict().items()}
    torch.save({"model": state}, tmp_path / "discbert.ckpt")
    clf = load_classifier(tmp_path / "discbert.ckpt", "discbert", bert=bert_dir)
    probs = predict_discbert(clf, REPORT_CORPUS)
    enc = clf.encode(REPORT_CORPUS)
    want = ref.probabilities(ref(**enc))
    assert set(probs[0]) == set(DISCBERT_HEADS)
    assert abs(probs[2]["comm"] - want["comm"][2].item()) < 1e-6


def test_rg4_directory_round_trip(tmp_path):
    tok = build_wordpiece_tokenizer(REPORT_CORPUS, vocab_size=300)
    clf = new_classifier("labeler", tok, tiny_bert_config(len(tok), hidden_size=32, layers=1))
    clf.model.eval()
    save_classifier_dir(clf, tmp_path / "lab")
    again = load_classifier(tmp_path / "lab", "labeler")
    enc = clf.encode(REPORT_CORPUS)
    for a, b in zip(clf.model(**enc), again.model(**enc)):
        assert torch.allclose(a, b)
    try:
        load_classifier(tmp_path / "lab", "discbert")
    except InputError as exc:
        assert "labeler" in str(exc)
    else:
        raise AssertionError("a labeler directory must not load as DiscBERT")


def test_pickled_code_and_wrong_layout_are_refused(tmp_path):
    bert_dir, _, _ = _bert_dir(tmp_path)
    torch.save({"model_state_dict": {"module.bert.x": torch.zeros(1)}}, tmp_path / "bad.pth")
    for path in (tmp_path / "bad.pth", tmp_path / "missing.pth"):
        try:
            load_classifier(path, "labeler", bert=bert_dir)
        except InputError as exc:
            assert str(path) in str(exc)
        else:
            raise AssertionError(f"{path} should not load")
