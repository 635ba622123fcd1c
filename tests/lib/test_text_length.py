"""Every text path runs in time linear in the text's length (issue: one 160 KB report took 20 s).

Each check compares CPU time per character on a text 10x longer than another; a
quadratic path would spend ~10x more per character. The bound (4x) leaves room for a
busy machine, and each size takes the best of two runs.
"""

from __future__ import annotations

import time

import pytest

from rg4cli.judges.backends import make_judge
from rg4cli.labelers.backends import make_labeler
from rg4cli.text.sentences import split_sentences
from rg4cli.weights.backends import RulesWeigher

from ..conftest import REPORT_CORPUS

SMALL, LARGE = 20_000, 200_000
REPORT = " ".join(REPORT_CORPUS) + " Dr. Smith was notified. 1. No effusion. 2. Stable vs. prior, e.g. granuloma. "
# One endless sentence: every cue, mention and terminator shares a single scope.
ONE_SENTENCE = (
    "no pleural effusion or pneumothorax, opacity improved, stable heart size, "
    "possible atelectasis versus pneumonia, lateral view shows AP diameter, and the lines "
)


def _text(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _cpu_per_char(fn, text: str) -> float:
    best = float("inf")
    for _ in range(2):
        t0 = time.process_time()
        fn(text)
        best = min(best, time.process_time() - t0)
    return max(best, 1e-6) / len(text)


PATHS = {
    "sentences": split_sentences,
    "label": lambda t, lab=make_labeler("rules"): lab.label([t]),
    "hallucination": lambda t, judge=make_judge("rules"): judge.judge([t], ["sn"]),
    "weights": lambda t, w=RulesWeigher(): w.weigh([t], [None]),
}


@pytest.mark.parametrize("unit", [REPORT, ONE_SENTENCE], ids=["report", "one-sentence"])
@pytest.mark.parametrize("path", list(PATHS))
def test_time_per_character_does_not_grow_with_length(path, unit):
    fn = PATHS[path]
    fn(_text(unit, 2_000))  # warm up: tables compiled, imports done
    small = _cpu_per_char(fn, _text(unit, SMALL))
    large = _cpu_per_char(fn, _text(unit, LARGE))
    assert large < 4 * small, f"{path}: {large / small:.1f}x more CPU per character at {LARGE} than at {SMALL}"


def test_long_text_labels_are_those_of_its_parts():
    """The windowed scopes give a long report exactly the mentions of its sentences read alone."""
    lab = make_labeler("rules")
    one = [(m.observation, m.value, m.cue) for m in lab.mentions(REPORT)]
    many = [(m.observation, m.value, m.cue) for m in lab.mentions(REPORT * 200)]
    assert one and many == one * 200
    assert lab.label([REPORT * 200]) == lab.label([REPORT])
