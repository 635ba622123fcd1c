"""Token-level loss weighting: spans → token weights, and the three losses against hand computation."""

from __future__ import annotations

import math

import pytest
import torch

from rg4cli.errors import InputError
from rg4cli.training.tlw import check_sentence_weights, lm_loss, token_weights, weighted_token_loss


def test_token_weights_follow_character_spans():
    text = "findings: heart normal. large effusion. impression: effusion."
    #       0         10        20        30        40        50
    spans = [
        {"start": 10, "end": 23, "weight": 1.0},
        {"start": 24, "end": 39, "weight": 1.75},
        {"start": 52, "end": 61, "weight": 1.75},
    ]
    # tokens: "findings:" (0,9) "heart"(10,15) "normal."(16,23) "large"(24,29) "effusion."(30,39)
    # "impression:"(40,51) "effusion."(52,61) and a special token (0,0)
    offsets = [(0, 9), (10, 15), (16, 23), (24, 29), (30, 39), (40, 51), (52, 61), (0, 0)]
    assert text[24:39] == "large effusion."
    assert token_weights(offsets, spans) == [1.0, 1.0, 1.0, 1.75, 1.75, 1.0, 1.75, 1.0]
    # --lam replaces the emphasised weight only
    assert token_weights(offsets, spans, lam=2.5) == [1.0, 1.0, 1.0, 2.5, 2.5, 1.0, 2.5, 1.0]
    # a token straddling two sentences takes the larger weight
    assert token_weights([(20, 26)], spans) == [1.75]


def test_check_sentence_weights_names_the_problem():
    text = "findings: clear."
    assert check_sentence_weights([{"start": 0, "end": 16, "weight": 1, "score": 0.1}], text) == [
        {"start": 0, "end": 16, "weight": 1.0}
    ]
    with pytest.raises(InputError, match="outside the target text"):
        check_sentence_weights([{"start": 0, "end": 99, "weight": 1.75}], text, source="t.jsonl", line=3)
    with pytest.raises(InputError, match="t.jsonl:3: sentence_weights: item 0: weight"):
        check_sentence_weights([{"start": 0, "end": 5, "weight": "x"}], text, source="t.jsonl", line=3)


def _hand_ce(logits: list[float], target: int) -> float:
    return -(logits[target] - math.log(sum(math.exp(v) for v in logits)))


def test_losses_against_hand_computation():
    # One sequence, vocabulary of 3; positions 0..3; labels -100 on the prompt (pos 0 and 1).
    logits = [[0.1, 0.2, 0.3], [2.0, 0.0, -1.0], [0.5, 1.5, -0.5], [0.0, 0.0, 3.0]]
    labels = [-100, -100, 1, 2]
    weights = [1.0, 1.0, 1.75, 1.0]
    lg = torch.tensor([logits])
    lb = torch.tensor([labels])
    w = torch.tensor([weights])
    # With the shift, logits at t predict label t+1: targets are (pos1 -> 1), (pos2 -> 2).
    ce_a = _hand_ce(logits[1], 1)  # predicts label of position 2 (weight 1.75)
    ce_b = _hand_ce(logits[2], 2)  # predicts label of position 3 (weight 1)
    paper = (1.75 * ce_a + 1.0 * ce_b) / 2
    # The released form: sums over (count + 0.001).
    official = (ce_a + ce_b) / 2.001 + 0.75 * ce_a / 1.001
    off = (ce_a + ce_b) / 2
    assert lm_loss(lg, lb, w, "paper").item() == pytest.approx(paper, rel=1e-6)
    assert lm_loss(lg, lb, w, "official", lam=1.75).item() == pytest.approx(official, rel=1e-6)
    assert lm_loss(lg, lb, w, "off").item() == pytest.approx(off, rel=1e-6)
    assert lm_loss(lg, lb, None, "paper").item() == pytest.approx(off, rel=1e-6)
    # unshifted (labels already aligned with logits)
    ce0 = _hand_ce(logits[2], 1)
    ce1 = _hand_ce(logits[3], 2)
    assert lm_loss(lg, lb, w, "paper", shift=False).item() == pytest.approx((1.75 * ce0 + ce1) / 2, rel=1e-6)


def test_official_loss_is_the_released_form():
    # loss.sum() / (count_nonzero(loss) + 0.001) + 0.75 * key.sum() / (count_nonzero(key) + 0.001)
    ce = torch.tensor([1.0, 2.0, 3.0])
    assert weighted_token_loss(ce, torch.ones(3), "official").item() == pytest.approx(6.0 / 3.001, rel=1e-6)
    assert weighted_token_loss(ce, torch.tensor([1.0, 1.75, 1.0]), "official").item() == pytest.approx(
        6.0 / 3.001 + 0.75 * 2.0 / 1.001, rel=1e-6
    )
    # A token whose CE is exactly 0 is not counted (count_nonzero), as in the released code.
    ce0 = torch.tensor([0.0, 2.0, 4.0])
    assert weighted_token_loss(ce0, torch.ones(3), "official").item() == pytest.approx(6.0 / 2.001, rel=1e-6)
    assert weighted_token_loss(ce, torch.tensor([1.75, 1.75, 1.75]), "paper").item() == pytest.approx(1.75 * 2.0)
    with pytest.raises(InputError):
        weighted_token_loss(ce, torch.ones(3), "sometimes")


def test_weighted_loss_gradient_scales_emphasised_tokens():
    logits = torch.zeros(1, 3, 4, requires_grad=True)
    labels = torch.tensor([[-100, 1, 2]])
    lm_loss(logits, labels, torch.tensor([[1.0, 1.75, 1.0]]), "paper").backward()
    g = logits.grad[0]
    assert torch.allclose(g[0].abs().sum() / g[1].abs().sum(), torch.tensor(1.75))
