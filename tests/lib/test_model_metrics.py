"""Model-based metrics equal their reference packages on tiny random models, offline.

Each equality test skips with one line when the reference package is not installed
(`pip install "rg4cli[dev]"` brings bert-score 0.3.13). rg4's own computation runs with
sockets blocked: any connection attempt fails the test.
"""

from __future__ import annotations

import json
import random
import socket
from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture
def no_network(monkeypatch):
    """Every socket connection raises (and is recorded) while the fixture is active."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted during an offline metric")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A random 3-layer BERT with the CheXbert parity vocabulary, saved as a model directory."""
    from transformers import BertConfig, BertModel

    vocab = json.loads((FIXTURES / "chexbert_parity_inputs.json").read_text())["vocab"]
    path = tmp_path_factory.mktemp("tiny_bert")
    (path / "vocab.txt").write_text("".join(w + "\n" for w in vocab))
    (path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 40}))
    torch.manual_seed(13)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=3,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(path)
    return path


def _texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    words = (
        "no acute cardiopulmonary process heart size is normal mild cardiomegaly pleural effusion small left".split()
    )
    words += "right pneumothorax edema atelectasis possible pneumonia lung opacity tube in place stable , .".split()

    def report(k):
        return " ".join(rng.choice(words) for _ in range(k))

    hyps = [report(rng.randint(1, 30)) for _ in range(n)]
    refs = [report(rng.randint(1, 30)) for _ in range(n)]
    hyps[0], refs[1] = "", "   "  # empty hypothesis, blank reference
    hyps[2] = refs[2] = "Pleural effusión — cardiomégalie ü 心"  # identical, non-ASCII
    hyps[3] = report(60)  # longer than model_max_length (40): cut
    hyps[4] = hyps[5]  # repeated text
    return hyps, refs


def test_bertscore_equals_bert_score_0_3_13(tiny_bert, no_network):
    from rg4cli.metrics.bertscore import BertScorer

    hyps, refs = _texts(70, 1)  # more than one batch of 64
    scorer = BertScorer(tiny_bert, layers=2)
    got = scorer.score(hyps, refs)
    assert not no_network
    assert got.precision[0] == got.recall[0] == got.f1[0] == 0.0  # empty hypothesis
    assert got.f1[1] == 0.0  # blank reference
    assert abs(got.f1[2] - 1.0) < 1e-6  # identical texts
    bert_score = pytest.importorskip("bert_score", reason="bert-score not installed (pip install 'rg4cli[dev]')")
    # bert-score 0.3.13 stops on an empty text under transformers 5 (build_inputs_with_special_tokens
    # is gone): compare on the pairs it can score.
    keep = [i for i in range(len(hyps)) if hyps[i].strip() and refs[i].strip()]
    hyps, refs = [hyps[i] for i in keep], [refs[i] for i in keep]
    got = scorer.score(hyps, refs)
    assert not no_network
    p, r, f = bert_score.score(hyps, refs, model_type=str(tiny_bert), num_layers=2, batch_size=64)
    for name, mine, theirs in (("P", got.precision, p), ("R", got.recall, r), ("F", got.f1, f)):
        diff = max(abs(a - b) for a, b in zip(mine, theirs.tolist()))
        assert diff <= 1e-6, (name, diff)


def test_bertscore_needs_a_model_directory_and_a_layer(tmp_path, tiny_bert):
    from rg4cli.errors import InputError
    from rg4cli.metrics.bertscore import BertScorer

    with pytest.raises(InputError, match="no config.json"):
        BertScorer(tmp_path)
    with pytest.raises(InputError, match="--bertscore-layers"):
        BertScorer(tiny_bert)  # a model bert-score has no default layer for
    with pytest.raises(InputError, match="between 0 and 3"):
        BertScorer(tiny_bert, layers=7)


# ---- RadGraph rewards -----------------------------------------------------------------------


def _annotation(rng: random.Random, n: int) -> dict:
    words = ["Effusion", "effusion", "pleural", "Left", "left", "lung", "opacity", "Opacity", "base", "heart"]
    labels = ["ANAT-DP", "OBS-DP", "OBS-U", "OBS-DA"]
    entities = {}
    for i in range(n):
        entities[str(i + 1)] = {"tokens": rng.choice(words), "label": rng.choice(labels), "relations": []}
    for key, entity in entities.items():
        for _ in range(rng.choice([0, 0, 1, 2])):
            target = rng.choice(list(entities))
            if target != key:
                entity["relations"].append([rng.choice(["located_at", "modify", "suggestive_of"]), target])
    return {"text": "", "entities": entities, "data_source": None, "data_split": "inference"}


def test_radgraph_rewards_equal_the_package():
    from rg4cli.metrics.radgraph import REWARD_LEVELS, reward

    package = pytest.importorskip("radgraph.rewards", reason="radgraph not installed (pip install 'rg4cli[dev]')")
    rng = random.Random(3)
    for _ in range(300):
        hyp, ref = _annotation(rng, rng.randint(0, 7)), _annotation(rng, rng.randint(0, 7))
        for level in REWARD_LEVELS:
            assert reward(hyp, ref, level) == package.compute_reward(hyp, ref, level), level


def test_radgraph_lowercasing_named():
    from rg4cli.metrics.radgraph import reward, rewards

    def ann(*entities):
        return {"entities": {str(i): e for i, e in enumerate(entities)}}

    hyp = ann(
        {"tokens": "Effusion", "label": "OBS-DP", "relations": [["located_at", "1"]]},
        {"tokens": "Left", "label": "ANAT-DP", "relations": []},
    )
    ref = ann(
        {"tokens": "effusion", "label": "OBS-DP", "relations": [["located_at", "1"]]},
        {"tokens": "left", "label": "ANAT-DP", "relations": []},
    )
    # release 0.1.18: only complete's relation tuples are lower-cased
    assert reward(hyp, ref, "simple") == 0.0 and reward(hyp, ref, "partial") == 0.0
    assert reward(hyp, ref, "complete") == 0.5  # the relation matches, "Left" != "left"
    assert reward(hyp, ref, "simple", "all") == reward(hyp, ref, "complete", "all") == 1.0
    empty = ann()
    assert rewards([hyp, None, empty], [ref, ref, ref])["partial"] == [0.0, 0.0, 0.0]


def test_radgraph_needs_a_model_directory(tmp_path):
    from rg4cli.errors import InputError
    from rg4cli.metrics.radgraph import RadGraphAnnotator

    with pytest.raises(InputError, match="not a RadGraph model directory"):
        RadGraphAnnotator(tmp_path)


# ---- SembScore and rg4 score ------------------------------------------------------------------


@pytest.fixture(scope="module")
def chexbert_parity(tmp_path_factory):
    from safetensors.torch import load_file
    from transformers import BertConfig

    inputs = json.loads((FIXTURES / "chexbert_parity_inputs.json").read_text())
    root = tmp_path_factory.mktemp("semb")
    bert = root / "bert"
    bert.mkdir()
    (bert / "vocab.txt").write_text("".join(w + "\n" for w in inputs["vocab"]))
    BertConfig(**inputs["bert_config"]).save_pretrained(bert)
    (bert / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    state = load_file(str(FIXTURES / "chexbert_parity_tiny.safetensors"))
    torch.save({"model_state_dict": state}, root / "chexbert.pth")
    return root / "chexbert.pth", bert, inputs, state


def test_semb_score_is_the_cosine_of_the_official_cls_embeddings(chexbert_parity):
    """The reference: a plain BertModel with the checkpoint's weights on the official label.py ids."""
    from transformers import BertConfig, BertModel

    from rg4cli.metrics.semb import semb_scores
    from rg4cli.model.classifiers import load_classifier

    pth, bert, inputs, state = chexbert_parity
    outputs = json.loads((FIXTURES / "chexbert_parity_outputs.json").read_text())
    ref_model = BertModel(BertConfig(**inputs["bert_config"])).eval()
    ref_model.load_state_dict({k[len("module.bert.") :]: v for k, v in state.items() if k.startswith("module.bert.")})
    reports = [r for r, ids in zip(inputs["reports"], outputs["official_input_ids"]) if ids is not None][:20]
    ids = [i for i in outputs["official_input_ids"] if i is not None][:20]
    with torch.no_grad():
        cls = torch.stack([ref_model(torch.tensor([row]))[0][0, 0] for row in ids]).double()
    hyps, refs = reports[:10], reports[10:20]
    want = torch.nn.functional.cosine_similarity(cls[:10], cls[10:20], dim=-1).tolist()
    got = semb_scores(load_classifier(pth, "labeler", bert), hyps, refs)
    assert max(abs(a - b) for a, b in zip(got, want)) <= 1e-6


def test_score_files_with_model_metrics_offline(tmp_path, tiny_bert, chexbert_parity, no_network):
    from rg4cli.metrics import score as scoring

    pth, bert, _, _ = chexbert_parity
    hyps, refs = _texts(12, 5)
    setting = ["sn", "mw"] * 6
    (tmp_path / "hyp.jsonl").write_text(
        "".join(json.dumps({"id": f"s{i}", "report": h, "setting": setting[i]}) + "\n" for i, h in enumerate(hyps))
    )
    (tmp_path / "ref.jsonl").write_text(
        "".join(json.dumps({"id": f"s{i}", "report": r.strip() or "x"}) + "\n" for i, r in enumerate(refs))
    )
    config = scoring.ScoreSettings(
        meteor=False,
        labeler="chexbert",
        labeler_model=str(pth),
        labeler_bert=str(bert),
        bertscore=str(tiny_bert),
        bertscore_layers=2,
        semb=True,
    )
    res = scoring.score_files(str(tmp_path / "hyp.jsonl"), str(tmp_path / "ref.jsonl"), config)
    assert not no_network
    overall = res.summary["overall"]
    assert set(overall["bertscore"]) == {"precision", "recall", "f1"} and overall["radgraph"] is None
    rows = res.per_report
    assert all(isinstance(r["bertscore_f1"], float) and isinstance(r["semb_score"], float) for r in rows)
    assert rows[0]["bertscore_f1"] == 0.0  # the empty hypothesis
    mean = sum(r["bertscore_f1"] for r in rows) / len(rows)
    assert abs(overall["bertscore"]["f1"] - mean) < 1e-12
    sn = [r["semb_score"] for r in rows if r["setting"] == "sn"]
    assert abs(res.summary["by_setting"]["sn"]["semb_score"] - sum(sn) / len(sn)) < 1e-12
    assert rows[0]["radgraph_partial"] is None


def test_score_files_radgraph_from_an_annotations_file(tmp_path, no_network):
    from rg4cli.errors import InputError
    from rg4cli.metrics import score as scoring
    from rg4cli.metrics.radgraph import REWARD_LEVELS, reward

    rng = random.Random(9)
    hyps = [f"hyp {i}" for i in range(6)]
    refs = [f"ref {i}" for i in range(6)]
    notes = {t: _annotation(rng, rng.randint(0, 6)) for t in hyps + refs}
    (tmp_path / "rg.jsonl").write_text("".join(json.dumps({"report": t, **a}) + "\n" for t, a in notes.items()))
    (tmp_path / "h.jsonl").write_text(
        "".join(json.dumps({"id": str(i), "report": t}) + "\n" for i, t in enumerate(hyps))
    )
    (tmp_path / "r.jsonl").write_text(
        "".join(json.dumps({"id": str(i), "report": t}) + "\n" for i, t in enumerate(refs))
    )
    config = scoring.ScoreSettings(meteor=False, radgraph=str(tmp_path / "rg.jsonl"))
    res = scoring.score_files(str(tmp_path / "h.jsonl"), str(tmp_path / "r.jsonl"), config)
    assert not no_network
    for level in REWARD_LEVELS:
        want = [reward(notes[h], notes[r], level) for h, r in zip(hyps, refs)]
        assert [row[f"radgraph_{level}"] for row in res.per_report] == want
        assert abs(res.summary["overall"]["radgraph"][level] - sum(want) / len(want)) < 1e-12
    (tmp_path / "rg.jsonl").write_text(json.dumps({"report": "hyp 0", **notes["hyp 0"]}) + "\n")
    with pytest.raises(InputError, match="no annotation for 11 report"):
        scoring.score_files(str(tmp_path / "h.jsonl"), str(tmp_path / "r.jsonl"), config)
