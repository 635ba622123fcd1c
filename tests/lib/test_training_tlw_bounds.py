"""Sentence weights a loss can use: finite, positive, at most MAX_WEIGHT (a 1e308 weight overflows the loss)."""

from __future__ import annotations

import pytest

from rg4cli.errors import InputError
from rg4cli.training.tlw import MAX_WEIGHT, check_sentence_weights


@pytest.mark.parametrize("weight", [1e308, float("inf"), float("nan"), 0, -1.0, MAX_WEIGHT * 1.01])
def test_weights_out_of_range_name_file_line_and_field(weight):
    with pytest.raises(InputError) as err:
        check_sentence_weights([{"start": 0, "end": 3, "weight": weight}], "abcdef", source="in.jsonl", line=4)
    assert str(err.value).startswith("in.jsonl:4: sentence_weights: item 0: weight must be a number in (0, 100]")


def test_weights_in_range_pass():
    spans = check_sentence_weights(
        [{"start": 0, "end": 3, "weight": 1.75}, {"start": 3, "end": 6, "weight": 100}], "abcdef"
    )
    assert [s["weight"] for s in spans] == [1.75, 100.0]
