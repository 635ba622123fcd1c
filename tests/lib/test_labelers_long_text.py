"""A very long text is labelled in sentence-aligned pieces (bounded memory): the same labels and
mentions as the whole text in one piece."""

from __future__ import annotations

import random

import pytest

from rg4cli.labelers import backends
from rg4cli.labelers.backends import RulesLabeler

from ..conftest import REPORT_CORPUS


def _long(seed: int) -> str:
    rng = random.Random(seed)
    sentences = [s.strip() + "." for text in REPORT_CORPUS for s in text.split(".") if s.strip()]
    return " ".join(rng.choice(sentences) for _ in range(120))


@pytest.mark.parametrize("seed", range(4))
def test_pieces_give_the_labels_and_mentions_of_the_whole(monkeypatch, seed):
    text = _long(seed)
    labeler = RulesLabeler()
    whole, whole_ex = labeler.label_one(text), labeler.explain(text)
    monkeypatch.setattr(backends, "LONG_TEXT", 200)
    assert len(list(backends._pieces(text, 200))) > 10
    assert labeler.label_one(text) == whole
    assert labeler.explain(text) == whole_ex
    assert "".join(p for _, p in backends._pieces(text, 200)) == text
