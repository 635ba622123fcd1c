"""Tokenizers built offline from report text (no model hub here).

The `tiny` preset and the classifier tasks train from scratch, so they need a
tokenizer made from the training text itself, with the `tokenizers` library:
- `build_wordpiece_tokenizer`: BERT-style (lower-cased WordPiece, [CLS]/[SEP]) for the
  text encoder and the BERT classifiers (labeler, DiscBERT);
- `build_bpe_tokenizer`: Llama-style byte-level BPE with <s>/</s>/<pad>/<unk> for the
  tiny decoder. Byte-level BPE never maps a character to <unk>, and its offsets let
  loss weights given in characters land on tokens.
Both return `transformers.PreTrainedTokenizerFast`, saved and loaded with
`save_pretrained` / `AutoTokenizer.from_pretrained` like any hub tokenizer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LLAMA_SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


def build_wordpiece_tokenizer(texts: Iterable[str], vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    # The vocabulary is counted here rather than by tokenizers' WordPiece (or BPE with "##")
    # trainer: those break ties in hash order, so the vocabulary changed between processes
    # (PYTHONHASHSEED), which broke determinism under --seed, DDP ranks agreeing on ids and
    # resumed runs. Whole words by frequency (ties by spelling) plus every character, alone
    # and as a "##" continuation, so any word still tokenizes without [UNK].
    normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        if text:
            counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
    chars = sorted({ch for word in counts for ch in word})
    pieces = BERT_SPECIALS + chars + ["##" + ch for ch in chars]
    words = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(w) > 1]
    pieces += words[: max(0, vocab_size - len(pieces))]
    tok = Tokenizer(models.WordPiece(vocab={t: i for i, t in enumerate(pieces)}, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.WordPiece()
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )


def build_bpe_tokenizer(texts: Iterable[str], vocab_size: int = 2000) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=LLAMA_SPECIALS,
        min_frequency=1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator((t for t in texts if t), trainer=trainer)
    # Offsets must index the original text (not the byte-level symbols) for loss weights.
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=2048,
    )
