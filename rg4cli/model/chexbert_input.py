"""Report text to CheXbert input ids, as the reference labelers prepare it.

Two preparations, named by `--chexbert-text`:

- `chexbert` (default): the official labeler (stanfordmlgroup/CheXbert, `label.py` through
  `bert_tokenizer.py`) and f1chexbert (RadEval, LLaVA-Rad), which prepare text identically:
  strip, newlines to spaces, every run of Unicode whitespace (Python's `\\s`) to one space,
  strip; WordPiece tokens; [CLS] tokens [SEP]; more than 512 ids are cut to the first 511
  plus [SEP]; a report with no token (empty, blank) is labelled from [CLS][SEP].
- `llm-rg4`: LLM-RG4's evaluation wrapper, which strips and turns newlines into spaces but
  whose whitespace "collapse" is a literal string replace (a no-op), so characters that
  Python counts as whitespace and BERT deletes as control characters (vertical tab, form
  feed, U+001C-U+001F) join the words on either side instead of separating them. Same cut
  at 512, same [CLS][SEP] for an empty report.

Padding uses id 0 (the official PAD_IDX) with an attention mask of the true lengths, so a
report's logits do not depend on the batch it is in (up to float rounding).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

CHEXBERT_TEXT = ("chexbert", "llm-rg4")
MAX_IDS = 512
PAD_ID = 0
_WHITESPACE = re.compile(r"\s+")


def prepare_text(text: str | None, mode: str = "chexbert") -> str:
    """The string the reference tokenises (see the module docstring for each mode)."""
    if mode not in CHEXBERT_TEXT:
        raise ValueError(f"CheXbert text preparation must be one of {', '.join(CHEXBERT_TEXT)}, got {mode!r}")
    text = (text or "").strip().replace("\n", " ")
    if mode == "chexbert":
        text = _WHITESPACE.sub(" ", text)
    return text.strip()


def input_ids(tokenizer, text: str | None, mode: str = "chexbert") -> list[int]:
    """[CLS] WordPiece ids [SEP], at most 512 (511 + [SEP]); [CLS][SEP] when nothing tokenises."""
    tokens = tokenizer.tokenize(prepare_text(text, mode))
    ids = [tokenizer.cls_token_id, *tokenizer.convert_tokens_to_ids(tokens), tokenizer.sep_token_id]
    if len(ids) > MAX_IDS:
        ids = ids[: MAX_IDS - 1] + [tokenizer.sep_token_id]
    return ids


def batch_inputs(
    tokenizer, texts: Sequence[str | None], mode: str = "chexbert", device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """Padded `input_ids` and `attention_mask` for a batch of reports."""
    rows = [input_ids(tokenizer, t, mode) for t in texts]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), PAD_ID, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
