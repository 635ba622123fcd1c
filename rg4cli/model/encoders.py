"""Frozen encoders, the decoder and their tokenizers/processors: loading and tiny builders.

Everything loads with `from_pretrained` from a local path or a hub id that is already
in the Hugging Face cache (no machine of this project reaches a hub:
`local_files_only=True`); a missing model is one Rg4Error line naming the id and how
to provide it.

- Image encoder: any `AutoModel` vision backbone (RAD-DINO is a `Dinov2Model`); we use
  `last_hidden_state` without the CLS token (and without register tokens if the model
  has them) = patch tokens. Its `AutoImageProcessor` resizes/normalises.
- Text encoder: a BERT. CXR-BERT-specialized declares `model_type: bert` and keeps
  its encoder under `bert.*`, next to projection-head keys; a plain `BertModel` loads
  those weights (the `bert.` prefix is the base-model prefix; other keys are unused),
  so remote code is only used when explicitly allowed (`trust_remote_code`).
  Inputs are padded/truncated to `max_length` (official: 100) and the mask is returned.
"""

from __future__ import annotations

import torch
from torch import nn

from rg4cli.devices import resolve_device  # noqa: F401  (re-exported by rg4cli.model)
from rg4cli.errors import InputError, Rg4Error

# One image reader for every command (8/16-bit PNG/JPEG, DICOM; paths confined to --image-root).
from rg4cli.images import check_image, load_image  # noqa: F401  (re-exported by rg4cli.model)

_HOW = (
    "give a local directory with the files, or put it in the Hugging Face cache first "
    "(huggingface-cli download ID on a machine with access; HF_HOME points at the cache; "
    "rg4 never downloads: HF_HUB_OFFLINE behaviour)"
)


def _fail(what: str, source: str, exc: Exception) -> Rg4Error:
    if isinstance(exc, ImportError):
        # e.g. Vicuna's tokenizer.model needs `sentencepiece` when no tokenizer.json is present.
        return Rg4Error(
            f"cannot load {what} {source!r}: a Python package is missing: "
            f"{str(exc).strip().splitlines()[0][:200]} (pip install it into rg4's environment)"
        )
    detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else exc.__class__.__name__
    return Rg4Error(f"cannot load {what} {source!r}: not available locally ({detail}); {_HOW.replace('ID', source)}")


def quiet_hf() -> None:
    """No per-shard progress bars or advisory warnings from transformers on our stderr."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def load_image_encoder(source: str, *, dtype: torch.dtype = torch.float32, trust_remote_code: bool = False):
    """-> (model in eval mode with frozen weights, image processor)."""
    from transformers import AutoImageProcessor, AutoModel

    quiet_hf()

    try:
        model = AutoModel.from_pretrained(
            source, dtype=dtype, local_files_only=True, trust_remote_code=trust_remote_code
        )
        processor = AutoImageProcessor.from_pretrained(
            source, local_files_only=True, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise _fail("image encoder", source, exc) from exc
    return freeze(model), processor


def load_text_encoder(
    source: str,
    *,
    dtype: torch.dtype = torch.float32,
    trust_remote_code: bool = False,
    tokenizer_source: str | None = None,
):
    """-> (BERT model, frozen and in eval mode; its tokenizer)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer, BertModel

    quiet_hf()

    try:
        if trust_remote_code:
            model = AutoModel.from_pretrained(source, dtype=dtype, local_files_only=True, trust_remote_code=True)
        else:
            config = AutoConfig.from_pretrained(source, local_files_only=True, trust_remote_code=False)
            if config.model_type != "bert":
                raise Rg4Error(
                    f"text encoder {source!r} is a {config.model_type!r} model; rg4 loads BERT text "
                    "encoders natively, other architectures need --trust-remote-code"
                )
            model = BertModel.from_pretrained(source, dtype=dtype, local_files_only=True, add_pooling_layer=False)
        tokenizer = AutoTokenizer.from_pretrained(
            tokenizer_source or source, local_files_only=True, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise _fail("text encoder", source, exc) from exc
    return freeze(model), tokenizer


def load_decoder(source: str, *, dtype: torch.dtype = torch.float32):
    from transformers import AutoModelForCausalLM

    quiet_hf()

    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=True)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise _fail("decoder", source, exc) from exc
    return freeze(model)


def load_llm_tokenizer(source: str):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError, KeyError, ImportError) as exc:
        raise _fail("tokenizer", source, exc) from exc
    if tok.pad_token_id is None:
        # Vicuna has no pad token; the official code pads with id 0 (<unk>).
        tok.pad_token = tok.unk_token if tok.unk_token is not None else tok.eos_token
    return tok


def freeze(model: nn.Module) -> nn.Module:
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def patch_tokens(image_encoder: nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    """[B,3,H,W] -> [B, P, D'] patch tokens (CLS and register tokens dropped)."""
    out = image_encoder(pixel_values=pixel_values).last_hidden_state
    skip = 1 + int(getattr(image_encoder.config, "num_register_tokens", 0) or 0)
    return out[:, skip:, :]


def text_tokens(
    text_encoder: nn.Module, tokenizer, texts: list[str], max_length: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (tokens [B, max_length, Dt], mask [B, max_length] bool)."""
    enc = tokenizer(list(texts), padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
    enc = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    out = text_encoder(**enc, return_dict=True)
    return out.last_hidden_state, enc["attention_mask"].bool()


# ---- images -------------------------------------------------------------------------------
# ---- tiny preset components --------------------------------------------------------------
def tiny_image_encoder(sizes: dict):
    from transformers import BitImageProcessorPil, Dinov2Config, Dinov2Model

    config = Dinov2Config(
        hidden_size=sizes["image_hidden"],
        num_hidden_layers=sizes["image_layers"],
        num_attention_heads=sizes["image_heads"],
        mlp_ratio=2,  # Dinov2 sizes its MLP by this ratio (it has no intermediate_size)
        image_size=sizes["image_size"],
        patch_size=sizes["patch_size"],
    )
    size = sizes["image_size"]
    # RAD-DINO's processor shape (BitImageProcessor: resize shortest edge, centre crop), small.
    processor = BitImageProcessorPil(
        size={"shortest_edge": size},
        crop_size={"height": size, "width": size},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.25, 0.25, 0.25],
    )
    return freeze(Dinov2Model(config)), processor


def tiny_text_encoder(sizes: dict, texts: list[str]):
    from transformers import BertConfig, BertModel

    from rg4cli.model.tokenizers import build_wordpiece_tokenizer

    tokenizer = build_wordpiece_tokenizer(texts, vocab_size=sizes["vocab_size"])
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=sizes["text_hidden"],
        num_hidden_layers=sizes["text_layers"],
        num_attention_heads=sizes["text_heads"],
        intermediate_size=sizes["text_hidden"] * 2,
        max_position_embeddings=128,
    )
    return freeze(BertModel(config, add_pooling_layer=False)), tokenizer


def tiny_decoder(sizes: dict, texts: list[str]):
    from rg4cli.model.tokenizers import build_bpe_tokenizer

    tokenizer = build_bpe_tokenizer(texts, vocab_size=sizes["vocab_size"])
    return tiny_decoder_model(sizes, tokenizer), tokenizer


def tiny_decoder_model(sizes: dict, tokenizer):
    """A random-initialised, frozen tiny Llama over `tokenizer`'s vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=sizes["llm_hidden"],
        num_hidden_layers=sizes["llm_layers"],
        num_attention_heads=sizes["llm_heads"],
        num_key_value_heads=sizes["llm_heads"],
        intermediate_size=sizes["llm_intermediate"],
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return freeze(LlamaForCausalLM(config))


def dtype_of(name: str) -> torch.dtype:
    try:
        return {
            "float32": torch.float32,
            "fp32": torch.float32,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
            "float16": torch.float16,
            "fp16": torch.float16,
        }[name]
    except KeyError:
        raise InputError(f"--dtype must be auto, float32, bfloat16 or float16, got {name!r}") from None
