"""Offline tokenizers: same texts, same ids, in every process."""

from __future__ import annotations

from ..conftest import REPORT_CORPUS

SCRIPT = (
    "import json, sys\n"
    "from rg4cli.model.tokenizers import build_wordpiece_tokenizer, build_bpe_tokenizer\n"
    "texts = json.loads(sys.argv[1])\n"
    "print(json.dumps([sorted(build_wordpiece_tokenizer(texts, 120).get_vocab().items()),\n"
    "                  sorted(build_bpe_tokenizer(texts, 400).get_vocab().items())]))\n"
)


def test_wordpiece_falls_back_to_characters_and_keeps_offsets():
    from rg4cli.model.tokenizers import build_wordpiece_tokenizer

    tok = build_wordpiece_tokenizer(REPORT_CORPUS, vocab_size=200)
    enc = tok("The hearts", return_offsets_mapping=True)
    pieces = tok.convert_ids_to_tokens(enc["input_ids"])
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]" and "[UNK]" not in pieces
    assert "".join(p.removeprefix("##") for p in pieces[1:-1]) == "thehearts"
    assert enc["offset_mapping"][1] == (0, 3)
