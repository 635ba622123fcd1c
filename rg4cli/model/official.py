"""Import the released LLM-RG4 and DiscBERT checkpoints into rg4 model dirs.

`rg4 train --task import --init FILE -o DIR` (library: `import_released_checkpoint`).

The released Lightning modules save `{"model": state_dict, "config": self.hparams,
"epoch": …, "step": …}` with `torch.save`; `config` is Lightning's AttributeDict, read
here as a plain dict by the restricted unpickler of `rg4cli.model.safe_pickle` (nothing
else in the file is admitted, nothing in it runs).

LLM-RG4 (`models/LLM_RG4.py`) keeps its trainable parameters only: the perceiver
blocks `APPA_*` (frontal, with the learnable `APPA_visual_query_tokens`), `lateral_*`,
`text_*` (each: `_crossattention_block`, `_layernorm_768_1`, `_llama_proj_1`,
`_layernorm_768_2`, `_llama_proj_2`, `_llama_proj_3`, `_layernorm_4096_1`), the
fusion projection `iit_proj` / `iit_layernorm` (stage 2) and the LoRA weights under
`llama_model.` (a peft model: `base_model.model.model.layers.N.self_attn.q_proj.lora_A.
default.weight`). The import maps them onto rg4's fusion (same shapes, same
nn.MultiheadAttention parameter names) and the peft adapter; the number of queries,
the MLP width, the LoRA rank and targets come from the tensors, LoRA alpha and dropout
from the saved hyperparameters (`llm_alpha`, `lora_dropout`). `mask_prior_padding`
is set to False: the released text block attends over the prior report's padding.
A stage-1 file has the frontal block only; the rest keeps its initialisation (use the
result as `--init` of a stage-2 run).

DiscBERT (`DiscBERT/models/DiscBERT.py`) saves its whole state dict: `labeler.bert.*`
and the heads `labeler.{ps,pp,view,comm}_heads`; the BERT config and vocabulary come
from `bert` (bert-base-uncased, as the released code loads it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from rg4cli.errors import InputError, Rg4Error
from rg4cli.model.safe_pickle import load_checkpoint

BLOCKS = {"APPA": "frontal", "lateral": "lateral", "text": "prior"}
LAYERS = {
    "crossattention_block": "attn",
    "layernorm_768_1": "norm_attn",
    "llama_proj_1": "proj_in",
    "layernorm_768_2": "norm_in",
    "llama_proj_2": "proj_up",
    "llama_proj_3": "proj_out",
    "layernorm_4096_1": "norm_out",
}
KINDS = ("llm-rg4", "discbert")
_LORA_KEY = re.compile(r"\.(\w+)\.lora_A\.[^.]+\.weight$")


def read_released(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """-> (state dict, saved hyperparameters ({} when the file has none))."""
    obj = load_checkpoint(path)
    if not isinstance(obj, dict):
        raise InputError(f"checkpoint {path} holds a {type(obj).__name__}, expected a dict with a state dict")
    state = obj.get("model", obj.get("state_dict", obj))
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError(f"checkpoint {path} holds no state dict (expected one under 'model')")
    hparams = obj.get("config") if isinstance(obj.get("config"), dict) else {}
    return state, hparams


def read_official_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    return read_released(path)[0]


def released_kind(state: dict[str, torch.Tensor]) -> str | None:
    if "APPA_visual_query_tokens" in state or any(k.startswith("APPA_") for k in state):
        return "llm-rg4"
    if any(k.startswith("labeler.") and "_heads." in k for k in state):
        return "discbert"
    return None


def official_to_rg4(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list]:
    """-> (fusion state, decoder/adapter state, names not used)."""
    fusion, decoder, unused = {}, {}, []
    for key, value in state.items():
        if key == "APPA_visual_query_tokens":
            fusion["queries"] = value
            continue
        if key.startswith("iit_proj."):
            fusion["out_proj." + key.split(".", 1)[1]] = value
            continue
        if key.startswith("iit_layernorm."):
            fusion["out_norm." + key.split(".", 1)[1]] = value
            continue
        if key.startswith("llama_model."):
            decoder[key[len("llama_model.") :]] = value
            continue
        prefix, _, rest = key.partition("_")
        layer, _, param = rest.partition(".")
        if prefix in BLOCKS and layer in LAYERS:
            fusion[f"{BLOCKS[prefix]}.{LAYERS[layer]}.{param}"] = value
            continue
        unused.append(key)
    return fusion, decoder, unused


def released_model_overrides(state: dict[str, torch.Tensor], hparams: dict[str, Any]) -> dict[str, Any]:
    """The rg4 ModelConfig fields a released checkpoint fixes (from its tensors, then its hyperparameters)."""
    out: dict[str, Any] = {}
    queries = state.get("APPA_visual_query_tokens")
    if queries is not None and queries.ndim == 3:
        out["num_queries"] = int(queries.shape[1])
    up = state.get("APPA_llama_proj_2.weight")
    if up is not None and up.ndim == 2:
        out["mlp_dim"] = int(up.shape[0])
    ranks, targets = set(), set()
    for key, value in state.items():
        m = _LORA_KEY.search(key) if key.startswith("llama_model.") else None
        if m:
            ranks.add(int(value.shape[0]))
            targets.add(m.group(1))
    if ranks:
        if len(ranks) != 1:
            raise InputError(f"LoRA weights of several ranks {sorted(ranks)}; expected one")
        out["lora_r"] = ranks.pop()
        out["lora_target_modules"] = sorted(targets)
        alpha = hparams.get("llm_alpha")
        if isinstance(alpha, (int, float)) and not isinstance(alpha, bool) and alpha > 0:
            out["lora_alpha"] = alpha
        dropout = hparams.get("lora_dropout")
        if isinstance(dropout, (int, float)) and not isinstance(dropout, bool) and 0 <= dropout < 1:
            out["lora_dropout"] = float(dropout)
    max_length = hparams.get("max_length")
    if isinstance(max_length, int) and not isinstance(max_length, bool) and max_length > 0:
        out["text_max_length"] = max_length
    return out


def _load_released_state(model, state: dict[str, torch.Tensor], path: str | os.PathLike) -> list[str]:
    if model.config.fusion != "atf":
        raise Rg4Error("released checkpoints hold the ATF fusion; build the model with fusion='atf'")
    fusion_state, decoder_state, unused = official_to_rg4(state)
    if not fusion_state:
        raise InputError(f"checkpoint {path} has no LLM-RG4 fusion weights (APPA_*, iit_proj)")
    own = model.fusion.state_dict()
    wrong = [k for k, v in fusion_state.items() if k not in own or own[k].shape != v.shape]
    if wrong:
        k = wrong[0]
        raise InputError(
            f"checkpoint {path}: {k} does not fit this model "
            f"({tuple(fusion_state[k].shape)} vs {tuple(own[k].shape) if k in own else 'absent'}); "
            "the released checkpoints need --preset paper (RAD-DINO, CXR-BERT, Vicuna-7B)"
        )
    missing = [k for k in own if k not in fusion_state]
    if missing:
        # A stage-1 checkpoint has only the frontal block: the rest keeps its initialisation.
        unused.append(f"(not in checkpoint: {len(missing)} fusion tensors, e.g. {missing[0]})")
    model.fusion.load_state_dict({**own, **{k: v.to(own[k].dtype) for k, v in fusion_state.items()}})
    if decoder_state:
        model.add_lora()
        params = dict(model.decoder.named_parameters())
        bad = [k for k in decoder_state if k not in params]
        if bad:
            raise InputError(
                f"checkpoint {path}: LoRA weight {bad[0]} has no place in this decoder "
                "(a different decoder architecture?)"
            )
        wrong = [k for k, v in decoder_state.items() if params[k].shape != v.shape]
        if wrong:
            k = wrong[0]
            raise InputError(
                f"checkpoint {path}: {k} does not fit this decoder "
                f"({tuple(decoder_state[k].shape)} vs {tuple(params[k].shape)})"
            )
        with torch.no_grad():
            for k, v in decoder_state.items():
                params[k].copy_(v.to(params[k].dtype))
        model.set_stage(2)
    model.config.mask_prior_padding = False
    return unused


def load_official_weights(model, path: str | os.PathLike) -> list[str]:
    """Load released LLM-RG4 weights into an rg4 ATF model in place; returns the checkpoint names not used."""
    return _load_released_state(model, read_official_state(path), path)


def _json_scalars(hparams: dict[str, Any]) -> dict[str, Any]:
    """The saved hyperparameters that JSON holds as they are (paths, sizes, flags), for the record."""

    def plain(v: Any) -> bool:
        if isinstance(v, (list, tuple)):
            return all(plain(x) for x in v)
        return v is None or isinstance(v, (str, int, float, bool))

    return {str(k): (list(v) if isinstance(v, tuple) else v) for k, v in hparams.items() if plain(v)}


def import_released_checkpoint(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    preset: str = "paper",
    bert: str | os.PathLike | None = None,
    image_encoder: str | None = None,
    text_encoder: str | None = None,
    decoder: str | None = None,
    **model_overrides: Any,
) -> dict[str, Any]:
    """A released checkpoint (LLM-RG4 stage 1/2 or DiscBERT) -> an rg4 model dir; returns a summary.

    LLM-RG4: the `preset` model (encoders and decoder, each with its tokenizer, from the
    paths given or the preset's hub ids, from local files; other ModelConfig fields in
    `model_overrides`) with the released fusion and LoRA weights, for `rg4 generate
    --model DIR`. DiscBERT: an rg4 classifier dir (BERT config and vocabulary from
    `bert`) for `rg4 hallucination --backend discbert --judge-model DIR`.
    """
    for key, value in (
        ("image_encoder", image_encoder),
        ("text_encoder", text_encoder),
        ("text_tokenizer", text_encoder),
        ("decoder", decoder),
        ("tokenizer", decoder),
    ):
        if value is not None:
            model_overrides[key] = value
    state, hparams = read_released(path)
    kind = released_kind(state)
    if kind is None:
        raise InputError(
            f"{path}: neither a released LLM-RG4 checkpoint (APPA_* weights) nor a DiscBERT one "
            "(labeler.*_heads weights)"
        )
    record = {"imported_from": str(path), "released_kind": kind, "released_config": _json_scalars(hparams)}
    if kind == "discbert":
        from rg4cli.model.classifiers import discbert_from_state, save_classifier_dir

        clf = discbert_from_state(state, path, bert)
        save_classifier_dir(clf, out_dir, extra=record)
        return {
            "out_dir": str(out_dir),
            "task": "import",
            "kind": kind,
            "imported_from": str(path),
            "head_outputs": clf.model.head_outputs,
            "unused_keys": 0,
        }

    from rg4cli.model.modeldir import build_model, save_model_dir

    overrides = {**released_model_overrides(state, hparams), **model_overrides}
    # Only the fusion and the adapter are written: the 7B decoder is loaded in bf16 (half the memory).
    model = build_model(preset, dtype="bfloat16" if preset == "paper" else None, **overrides)
    unused = _load_released_state(model, state, path)
    record["unused_keys"] = unused[:20]
    save_model_dir(model, out_dir, extra=record)
    return {
        "out_dir": str(out_dir),
        "task": "import",
        "kind": kind,
        "imported_from": str(path),
        "stage": model.config.stage,
        "num_queries": model.config.num_queries,
        "lora_r": model.config.lora_r if model.has_lora else None,
        "unused_keys": len(unused),
    }


def import_official_checkpoint(path: str | os.PathLike, out_dir: str | os.PathLike, **paper_overrides) -> Path:
    """Paper preset (encoders/decoder from the hub cache or the paths given) + released weights -> model dir."""
    import_released_checkpoint(path, out_dir, preset="paper", **paper_overrides)
    return Path(out_dir)
