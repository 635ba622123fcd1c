"""Small models several test modules share."""

from __future__ import annotations

import torch

from rg4cli.model.classifiers import new_classifier, tiny_bert_config
from rg4cli.model.tokenizers import build_wordpiece_tokenizer

from ..conftest import REPORT_CORPUS


def random_labeler(hidden: int = 32, init: float = 0.02, seed: int = 0):
    tok = build_wordpiece_tokenizer(REPORT_CORPUS, vocab_size=300)
    torch.manual_seed(seed)
    config = tiny_bert_config(len(tok), hidden_size=hidden, layers=2, heads=2, max_positions=128)
    config.initializer_range = init
    return new_classifier("labeler", tok, config)
