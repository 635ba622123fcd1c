"""`--backend chexbert` labels equal the reference labelers' on one random checkpoint.

The fixture was made outside this repository by running, on the checkpoint whose weights
are in tests/fixtures/chexbert_parity_tiny.safetensors (the official chexbert.pth layout,
tiny BERT widths, the vocabulary in chexbert_parity_inputs.json):

- the official labeler (stanfordmlgroup/CheXbert `src/label.py`, its DataLoader of batch 18
  over a CSV; `official_classes`, and the ids its `bert_tokenizer.tokenize` made);
- f1chexbert 0.0.2 `F1CheXbert.get_label` in "classification" and "rrg" modes;
- LLM-RG4's evaluation wrapper (`models/chexbert.py`), one report per call.

Classes are the heads' argmaxes (0 blank, 1 positive, 2 negative, 3 uncertain). The official
run has no entry (null) for the empty report: pandas reads an empty CSV cell as NaN and
label.py stops on it; f1chexbert labels it from [CLS][SEP], as it does a blank one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rg4cli.labelers.backends import make_labeler
from rg4cli.model.chexbert_input import input_ids, prepare_text
from rg4cli.vocab import CHEXBERT_CLASS_TO_LABEL, OBSERVATIONS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def parity(tmp_path_factory):
    from safetensors.torch import load_file
    from transformers import BertConfig

    inputs = json.loads((FIXTURES / "chexbert_parity_inputs.json").read_text())
    outputs = json.loads((FIXTURES / "chexbert_parity_outputs.json").read_text())
    root = tmp_path_factory.mktemp("chexbert_parity")
    bert = root / "bert"
    bert.mkdir()
    (bert / "vocab.txt").write_text("".join(w + "\n" for w in inputs["vocab"]))
    BertConfig(**inputs["bert_config"]).save_pretrained(bert)
    (bert / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))  # as bert-base-uncased's
    state = load_file(str(FIXTURES / "chexbert_parity_tiny.safetensors"))
    torch.save({"model_state_dict": state}, root / "chexbert.pth")
    return inputs["reports"], outputs, root / "chexbert.pth", bert


def _labels(classes):
    """Official classes -> rg4 labels (No Finding's head: 1 present, else blank)."""
    row = {o: CHEXBERT_CLASS_TO_LABEL[c] for o, c in zip(OBSERVATIONS[:13], classes[:13])}
    row[OBSERVATIONS[13]] = 1 if classes[13] == 1 else None
    return row


def _mismatches(got, want):
    return [
        (i, {o: (g[o], w[o]) for o in OBSERVATIONS if g[o] != w[o]})
        for i, (g, w) in enumerate(zip(got, want))
        if g != w
    ]


def test_input_ids_equal_the_official_tokenizer_path(parity):
    reports, outputs, pth, bert = parity
    labeler = make_labeler("chexbert", checkpoint=str(pth), bert=str(bert))
    tok = labeler.classifier.tokenizer
    want = outputs["official_input_ids"]
    bad = [i for i, (r, w) in enumerate(zip(reports, want)) if w is not None and input_ids(tok, r) != w]
    assert not bad, [(i, reports[i][:40]) for i in bad]
    assert max(len(w) for w in want if w) == 512  # the > 512 reports are in the fixture, cut to 511 + [SEP]
    assert prepare_text(" a \n\n b\x0bc ") == "a b c" and prepare_text(" a \n\n b\x0bc ", "llm-rg4") == "a    b\x0bc"


@pytest.mark.parametrize("batch_size", [1, 18])
def test_labels_equal_official_label_py_and_f1chexbert(parity, batch_size):
    reports, outputs, pth, bert = parity
    got = make_labeler("chexbert", checkpoint=str(pth), bert=str(bert), batch_size=batch_size).label(reports)
    official = [(g, _labels(c)) for g, c in zip(got, outputs["official_classes"]) if c is not None]
    assert len(official) == len(reports) - 1
    assert not _mismatches(*zip(*official))
    f1 = outputs["f1chexbert_classification"]  # "" (blank) for not mentioned, as its CSV convention
    want_f1 = [{o: (None if v is None else v) for o, v in zip(OBSERVATIONS, row)} for row in f1]
    assert not _mismatches(got, want_f1)
    # f1chexbert's "rrg" mode is the binary view its CE uses: blank/negative 0, positive/uncertain 1.
    rrg = [[1 if g[o] in (1, -1) else 0 for o in OBSERVATIONS] for g in got]
    assert rrg == outputs["f1chexbert_rrg"]
    assert len({tuple(g.values()) for g in got}) > 10  # the random heads do tell reports apart


def test_llm_rg4_text_preparation_equals_its_wrapper(parity):
    reports, outputs, pth, bert = parity
    got = make_labeler("chexbert", checkpoint=str(pth), bert=str(bert), text_mode="llm-rg4").label(reports)
    assert not _mismatches(got, [_labels(c) for c in outputs["llmrg4_classes"]])
    official = make_labeler("chexbert", checkpoint=str(pth), bert=str(bert)).label(reports)
    assert got != official  # the two preparations do differ on this fixture (control-character whitespace)


def test_missing_text_is_not_labelled_but_empty_text_is(parity):
    reports, outputs, pth, bert = parity
    labeler = make_labeler("chexbert", checkpoint=str(pth), bert=str(bert))
    none, empty, blank = labeler.label([None, "", " \n\t "])
    assert none == {o: None for o in OBSERVATIONS}
    assert empty == blank == _labels(outputs["official_classes"][2])  # the official blank report
