"""Build a model from a preset, save it as a model dir, load it back (no pickle).

Model dir layout (what `rg4 train` writes and `rg4 generate --model DIR` reads):

    rg4_model.json        ModelConfig (preset, encoder/decoder ids, dims, N, fusion kind,
                          prompt version, stage, LoRA settings) + format
    fusion.safetensors    fusion weights (learnable queries, perceiver blocks, projections)
    adapter/              peft LoRA adapter (adapter_config.json + adapter_model.safetensors), stage 2
    tokenizer/            the LLM tokenizer when it is ours (tiny preset)
    image_encoder/ text_encoder/ decoder/
                          only for components we built (tiny preset: random-initialised
                          weights written with save_pretrained as safetensors); the paper
                          preset refers to its encoders/decoder by hub id or path instead.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from rg4cli.errors import InputError, Rg4Error
from rg4cli.model import encoders as enc
from rg4cli.model.atomic_dir import save_into
from rg4cli.model.presets import TINY, ModelConfig, preset_config
from rg4cli.model.prompts import decoder_vocabulary_corpus, template_texts
from rg4cli.model.rg4 import RG4Model
from rg4cli.records.streams import write_json

CONFIG_FILE = "rg4_model.json"
FUSION_FILE = "fusion.safetensors"
ADAPTER_DIR = "adapter"


def _runtime_dtype(cfg: ModelConfig, device: torch.device, dtype: str | None) -> torch.dtype:
    if dtype and dtype != "auto":
        return enc.dtype_of(dtype)
    return enc.dtype_of(cfg.dtype) if device.type == "cuda" else torch.float32


def build_model(
    preset: str = "tiny",
    *,
    tokenizer_texts: Iterable[str] | None = None,
    fusion: str = "atf",
    stage: int = 1,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: str | None = None,
    trust_remote_code: bool = False,
    **overrides: Any,
) -> RG4Model:
    """A fresh model. tiny: random-initialised DINOv2/BERT/Llama + tokenizers built from
    `tokenizer_texts` (report text; the prompt template is added). paper: loads the
    encoders/decoder named by the preset or by overrides (image_encoder=…, decoder=… paths)."""
    cfg = preset_config(preset, fusion=fusion, trust_remote_code=trust_remote_code, **overrides)
    cfg.validate()
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    torch_dtype = _runtime_dtype(cfg, dev, dtype)
    torch.manual_seed(seed)
    if cfg.preset == "tiny":
        reports = [t for t in (tokenizer_texts or []) if t]
        texts = reports + template_texts()
        image_encoder, processor = enc.tiny_image_encoder(TINY)
        text_encoder, text_tok = enc.tiny_text_encoder(TINY, texts)
        if cfg.decoder != "decoder":
            # A pretrained stand-in (`rg4 train --task decoder`): its own vocabulary; bundled
            # like the random one, so the model dir stays self-contained.
            decoder = enc.load_decoder(cfg.decoder, dtype=torch.float32)
            tokenizer = enc.load_llm_tokenizer(cfg.tokenizer)
            cfg.llm_dim = decoder.config.hidden_size
            cfg.decoder, cfg.tokenizer = "decoder", "tokenizer"
        else:
            decoder, tokenizer = enc.tiny_decoder(TINY, decoder_vocabulary_corpus(reports))
    else:
        image_encoder, processor = enc.load_image_encoder(
            cfg.image_encoder, dtype=torch_dtype, trust_remote_code=trust_remote_code
        )
        text_encoder, text_tok = enc.load_text_encoder(
            cfg.text_encoder,
            dtype=torch_dtype,
            trust_remote_code=trust_remote_code,
            tokenizer_source=cfg.text_tokenizer,
        )
        decoder = enc.load_decoder(cfg.decoder, dtype=torch_dtype)
        tokenizer = enc.load_llm_tokenizer(cfg.tokenizer)
        cfg.image_dim = image_encoder.config.hidden_size
        cfg.text_dim = text_encoder.config.hidden_size
        cfg.llm_dim = decoder.config.hidden_size
    torch.manual_seed(seed)  # fusion init independent of how many numbers the encoders drew
    model = RG4Model(
        cfg,
        image_encoder=image_encoder,
        image_processor=processor,
        text_encoder=text_encoder,
        text_tokenizer=text_tok,
        decoder=decoder,
        tokenizer=tokenizer,
    )
    model.place(dev, torch_dtype)
    model.set_stage(stage)
    return model.eval()


def save_model_dir(model: RG4Model, out_dir: str | os.PathLike, *, extra: dict | None = None) -> Path:
    """Write the model dir (config JSON, fusion + adapter safetensors, our own components).

    Written into a hidden directory inside `out_dir` and moved into place at the end: a full
    disk or an interrupt leaves no half-written model (one line, the temporary files removed)."""
    final = save_into(out_dir, lambda tmp: _write_model_files(model, tmp, extra))
    if not model.has_lora:
        shutil.rmtree(final / ADAPTER_DIR, ignore_errors=True)  # an older adapter is not this model's
    return final


def _write_model_files(model: RG4Model, out: Path, extra: dict | None) -> None:
    cfg = model.config
    fusion_state = {k: v.detach().contiguous().cpu() for k, v in model.fusion.state_dict().items()}
    save_file(fusion_state, str(out / FUSION_FILE), metadata={"format": "pt", "fusion": cfg.fusion})
    adapter = out / ADAPTER_DIR
    if model.has_lora:
        enc.quiet_hf()
        # The base weights (lm_head included) live in decoder/ or the hub model: the adapter
        # needs only the LoRA matrices, also when LoRA targets lm_head (tiny preset).
        model.decoder.save_pretrained(str(adapter), safe_serialization=True, save_embedding_layers=False)
        (adapter / "README.md").unlink(missing_ok=True)  # peft's model-card stub
    bundled = set(cfg.bundled)
    enc.quiet_hf()
    if "image_encoder" in bundled:
        model.image_encoder.save_pretrained(str(out / "image_encoder"), safe_serialization=True)
        model.image_processor.save_pretrained(str(out / "image_encoder"))
    if "text_encoder" in bundled:
        model.text_encoder.save_pretrained(str(out / "text_encoder"), safe_serialization=True)
        model.text_tokenizer.save_pretrained(str(out / "text_encoder"))
    if "decoder" in bundled:
        _save_base_decoder(model, out / "decoder")
    if "tokenizer" in bundled:
        model.tokenizer.save_pretrained(str(out / "tokenizer"))
    data = cfg.to_dict()
    if extra:
        data["extra"] = extra
    write_json(out / CONFIG_FILE, data)


def _save_base_decoder(model: RG4Model, path: Path) -> None:
    """The frozen base decoder without LoRA layers (LoRA goes to adapter/)."""
    dec = model.decoder.get_base_model() if model.has_lora else model.decoder
    state = {}
    for key, value in dec.state_dict().items():
        if "lora_" in key:
            continue
        state[key.replace(".base_layer.", ".")] = value.detach().contiguous().cpu()
    path.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
    dec.config.save_pretrained(str(path))
    if getattr(dec, "generation_config", None) is not None:
        dec.generation_config.save_pretrained(str(path))


def check_weights_file(path: str | os.PathLike) -> None:
    """InputError naming `path` when it is not a complete safetensors file (truncated copy, empty file)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt"):
            pass
    except Exception as exc:  # safetensors raises its own error type for every malformed header
        detail = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else exc.__class__.__name__
        raise InputError(
            f"cannot read weights: {detail} (truncated or not a safetensors file); copy the model "
            "directory again or retrain it",
            source=str(path),
        ) from None


def check_weight_files(directory: str | os.PathLike) -> None:
    """check_weights_file for every *.safetensors under `directory`."""
    for file in sorted(Path(directory).rglob("*.safetensors")):
        check_weights_file(file)


def read_config(model_dir: str | os.PathLike) -> tuple[ModelConfig, dict]:
    path = Path(model_dir)
    cfg_path = path / CONFIG_FILE
    if not path.is_dir():
        raise InputError(f"--model {path}: no such model directory")
    if not cfg_path.is_file():
        raise InputError(f"--model {path}: not an rg4 model dir (no {CONFIG_FILE}; rg4 train writes one)")
    try:
        data = json.loads(cfg_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"bad JSON: {exc.msg}", source=str(cfg_path), line=exc.lineno) from None
    except (OSError, UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise InputError(f"cannot read: {exc.__class__.__name__}: {str(exc)[:120]}", source=str(cfg_path)) from None
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object, got {type(data).__name__}", source=str(cfg_path))
    extra = data.pop("extra", {}) or {}
    return ModelConfig.from_dict(data, source=str(cfg_path)), extra


def load_model_dir(
    model_dir: str | os.PathLike,
    *,
    device: str | torch.device = "cpu",
    dtype: str | None = None,
    trust_remote_code: bool = False,
    stage: int | None = None,
) -> RG4Model:
    """Load a model dir. stage None keeps the saved stage; stage=2 on a stage-1 dir adds a fresh LoRA
    (what `rg4 train --stage 2 --init STAGE1_DIR` needs). Returned in eval mode."""
    path = Path(model_dir)
    cfg, _ = read_config(path)
    if cfg.trust_remote_code and not trust_remote_code:
        raise Rg4Error(
            f"--model {path}: this model's encoders were loaded with remote code; "
            "pass --trust-remote-code to allow running it"
        )
    dev = torch.device(device) if not isinstance(device, torch.device) else device
    torch_dtype = _runtime_dtype(cfg, dev, dtype)

    def src(name: str, value: str) -> str:
        return str(path / value) if name in cfg.bundled else value

    # Damaged weights (a cut-short copy) are named here, before a loader reports them obscurely.
    fusion_file = path / FUSION_FILE
    if not fusion_file.is_file():
        raise InputError(f"--model {path}: missing {FUSION_FILE}")
    check_weights_file(fusion_file)
    for name in ("image_encoder", "text_encoder", "decoder"):
        if name in cfg.bundled:
            check_weight_files(src(name, getattr(cfg, name)))
    if (path / ADAPTER_DIR).is_dir():
        check_weight_files(path / ADAPTER_DIR)

    image_encoder, processor = enc.load_image_encoder(
        src("image_encoder", cfg.image_encoder), dtype=torch_dtype, trust_remote_code=cfg.trust_remote_code
    )
    text_encoder, text_tok = enc.load_text_encoder(
        src("text_encoder", cfg.text_encoder),
        dtype=torch_dtype,
        trust_remote_code=cfg.trust_remote_code,
        tokenizer_source=src("text_encoder", cfg.text_tokenizer),
    )
    decoder = enc.load_decoder(src("decoder", cfg.decoder), dtype=torch_dtype)
    tokenizer = enc.load_llm_tokenizer(src("tokenizer", cfg.tokenizer))
    model = RG4Model(
        cfg,
        image_encoder=image_encoder,
        image_processor=processor,
        text_encoder=text_encoder,
        text_tokenizer=text_tok,
        decoder=decoder,
        tokenizer=tokenizer,
    )
    state = load_file(str(fusion_file))
    try:
        missing, unexpected = model.fusion.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # a tensor of another shape
        raise InputError(
            f"does not match the {cfg.fusion} fusion of the config: {str(exc).strip().splitlines()[-1].strip()[:160]}",
            source=str(fusion_file),
        ) from None
    if missing or unexpected:
        raise Rg4Error(
            f"{fusion_file}: does not match the {cfg.fusion} fusion of the config "
            f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})"
        )
    adapter = path / ADAPTER_DIR
    if adapter.is_dir():
        import warnings

        from peft import PeftModel

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # peft calls a deprecated transformers alias
            try:
                model.decoder = PeftModel.from_pretrained(model.decoder, str(adapter), is_trainable=True)
            except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
                detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else exc.__class__.__name__
                raise InputError(f"cannot load the LoRA adapter: {detail}", source=str(adapter)) from None
        model.has_lora = True
    model.place(dev, torch_dtype)
    model.set_stage(stage or cfg.stage)
    return model.eval()
