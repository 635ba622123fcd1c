"""Model configuration: the `paper` and `tiny` presets and the JSON config of a model dir.

`ModelConfig` is what `rg4_model.json` holds (see modeldir.py): which encoders and
decoder to load (hub id or path, or a component bundled in the model dir), the fusion
sizes, the prompt version and the training stage. Everything a model dir needs to be
rebuilt is here; nothing is pickled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from rg4cli.errors import Rg4Error
from rg4cli.model.prompts import PROMPT_VERSION

PRESETS = ("paper", "tiny")
FUSIONS = ("atf", "interleaved")
STAGE1_INPUTS = ("bos-image", "prompt")
PROMPT_TOKENIZATIONS = ("one-string", "segments")
REPORT_TEXTS = ("r2gen", "raw")
CONFIG_FORMAT = 1


@dataclass
class ModelConfig:
    preset: str = "tiny"
    # Component sources: a hub id or a path; names listed in `bundled` are folders of the
    # model dir itself (the tiny preset's random-initialised encoders and decoder).
    image_encoder: str = "image_encoder"
    text_encoder: str = "text_encoder"
    decoder: str = "decoder"
    tokenizer: str = "tokenizer"  # LLM tokenizer (the decoder's, or ours)
    text_tokenizer: str = "text_encoder"  # text-encoder tokenizer
    bundled: list[str] = field(default_factory=list)
    trust_remote_code: bool = False
    # Fusion (docs/design.md "The model core"): N learnable queries over frontal patch tokens.
    fusion: str = "atf"
    num_queries: int = 128
    num_heads: int = 12
    mlp_dim: int = 2048
    dropout: float = 0.1
    # Std of the queries' normal init (official: 0.02). Queries that small meet every patch
    # token with the same attention logit, so all N of them start as one mean-pooled vector;
    # a 7B run has days to break that symmetry, the tiny preset's minutes do not (tiny: 8.0:
    # queries that large attend to a few patches each, so the fusion tokens of two images
    # differ by about half their size instead of a tenth, which the tiny decoder can pick up).
    query_init_std: float = 0.02
    image_dim: int = 768  # D' of the image encoder (queries live here)
    text_dim: int = 768  # width of the text encoder
    llm_dim: int = 4096  # D of the decoder
    # The official code pads prior reports to 100 tokens and attends over the padding too;
    # rg4 masks it (a batch's padding then cannot change a study's tokens). Imported
    # official weights set this to False to see what they were trained on.
    mask_prior_padding: bool = True
    # Stage-1 input. "bos-image" (released code): BOS + the frontal block's N tokens straight
    # from its perceiver, no prompt; the 3D->D projection (out_proj/out_norm) is first used,
    # still at its initialisation, in stage 2. "prompt": the full prompt around the fused
    # tokens, so stage 1 also trains the projection that stage 2 keeps.
    stage1_input: str = "prompt"
    # Prompt
    prompt_version: str = PROMPT_VERSION
    # "one-string" (released code): "Human: {context} <Img>" and "</Img> {instruction}.
    # \nAssistant:" are each tokenized as one string. "segments": "Human: ", the context and
    # " <Img>" apart (a SentencePiece tokenizer then puts an extra "▁" before the context).
    prompt_tokenization: str = "segments"
    # Report text. "r2gen" (released code): the target and the prior report R2Gen-cleaned
    # (rg4cli.text.cleaning.r2gen_clean) before the LLM / text encoder read them. "raw": as written.
    report_text: str = "raw"
    # Answer length cap in LLM tokens, the answer's BOS included (released: 100, so at most 99
    # learned tokens and no EOS when a report is cut); 0 = uncut.
    target_max_tokens: int = 0
    context_max_tokens: int = 50  # "Human: {INDICATION/HISTORY} <Img>" budget (official: 50)
    prior_max_tokens: int = 256  # interleaved only: prior report as prompt text
    text_max_length: int = 100  # text encoder input length (official: 100)
    # Decoder adaptation
    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.1
    lora_target_modules: list[str] | None = None  # None = peft's default for the architecture
    # Stage 2 also trains the decoder's own weights (beside the LoRA). Off for the paper's
    # frozen 7B; a model dir always saves its bundled decoder, trained or not.
    train_decoder: bool = False
    stage: int = 1
    dtype: str = "bfloat16"  # dtype on an accelerator; CPU runs float32
    format: int = CONFIG_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "rg4_model.json") -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise Rg4Error(f"{source}: unknown config key(s) {', '.join(unknown)} (written by a newer rg4?)")
        cfg = cls(**data)
        cfg.validate(source=source)
        return cfg

    def validate(self, *, source: str = "model config") -> None:
        if self.fusion not in FUSIONS:
            raise Rg4Error(f"{source}: fusion must be one of {', '.join(FUSIONS)}, got {self.fusion!r}")
        if self.stage not in (1, 2):
            raise Rg4Error(f"{source}: stage must be 1 or 2, got {self.stage!r}")
        for name, allowed in (
            ("stage1_input", STAGE1_INPUTS),
            ("prompt_tokenization", PROMPT_TOKENIZATIONS),
            ("report_text", REPORT_TEXTS),
        ):
            if getattr(self, name) not in allowed:
                raise Rg4Error(f"{source}: {name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.target_max_tokens < 0 or self.target_max_tokens == 1:
            raise Rg4Error(f"{source}: target_max_tokens must be 0 (uncut) or at least 2, got {self.target_max_tokens}")
        if self.image_dim % self.num_heads:
            raise Rg4Error(f"{source}: image_dim {self.image_dim} is not divisible by num_heads {self.num_heads}")


# What the paper preset takes from the released code (docs/design.md "Presets"); every value has
# rg4's alternative as a named option of `rg4 train`.
PAPER_RELEASED = dict(
    stage1_input="bos-image",
    prompt_tokenization="one-string",
    report_text="r2gen",
    target_max_tokens=100,
    mask_prior_padding=False,
)


def paper_config(**overrides: Any) -> ModelConfig:
    """The paper's model: RAD-DINO, CXR-BERT specialized, Vicuna-7B v1.5, N=128, LoRA r32/a64,
    with the released code's input handling (PAPER_RELEASED)."""
    cfg = ModelConfig(
        preset="paper",
        image_encoder="microsoft/rad-dino",
        text_encoder="microsoft/BiomedVLP-CXR-BERT-specialized",
        decoder="lmsys/vicuna-7b-v1.5",
        tokenizer="lmsys/vicuna-7b-v1.5",
        text_tokenizer="microsoft/BiomedVLP-CXR-BERT-specialized",
        num_queries=128,
        num_heads=12,
        mlp_dim=2048,
        dropout=0.1,
        image_dim=768,
        text_dim=768,
        llm_dim=4096,
        lora_r=32,
        lora_alpha=64,
        lora_dropout=0.1,
        dtype="bfloat16",
        **PAPER_RELEASED,
    )
    return dataclasses.replace(cfg, **overrides)


# Sizes of the tiny preset: seconds on a laptop CPU, same code paths as the paper model.
TINY = dict(
    image_size=112,
    patch_size=14,
    image_hidden=64,
    image_layers=2,
    image_heads=4,
    text_hidden=64,
    text_layers=2,
    text_heads=4,
    llm_hidden=128,
    llm_layers=2,
    llm_heads=4,
    llm_intermediate=256,
    vocab_size=1000,
)


# The tiny decoder is random-initialised (or pretrained on report text by `rg4 train --task
# decoder`), not a pretrained LLM, so stage 2 also trains its own weights (`train_decoder`): LoRA
# alone on a frozen random network cannot lower the loss. With the decoder training whole, the
# adapter is the paper's (q/v, rank 32) without dropout: a wider one with dropout made a CPU step
# slower for the same demo numbers (docs/design-notes.md, "The tiny preset's decoder and adapter").
TINY_LORA_TARGETS = ("q_proj", "v_proj")
TINY_LORA_DROPOUT = 0.0
TINY_QUERY_INIT_STD = 8.0


def tiny_config(**overrides: Any) -> ModelConfig:
    cfg = ModelConfig(
        preset="tiny",
        image_encoder="image_encoder",
        text_encoder="text_encoder",
        decoder="decoder",
        tokenizer="tokenizer",
        text_tokenizer="text_encoder",
        bundled=["image_encoder", "text_encoder", "decoder", "tokenizer"],
        num_queries=32,
        num_heads=4,
        mlp_dim=128,
        dropout=0.1,
        query_init_std=TINY_QUERY_INIT_STD,
        image_dim=TINY["image_hidden"],
        text_dim=TINY["text_hidden"],
        llm_dim=TINY["llm_hidden"],
        lora_r=32,
        lora_alpha=64,
        lora_dropout=TINY_LORA_DROPOUT,
        lora_target_modules=list(TINY_LORA_TARGETS),
        dtype="float32",
        train_decoder=True,
    )
    return dataclasses.replace(cfg, **overrides)


def preset_config(preset: str, **overrides: Any) -> ModelConfig:
    if preset == "paper":
        return paper_config(**overrides)
    if preset == "tiny":
        return tiny_config(**overrides)
    raise Rg4Error(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
