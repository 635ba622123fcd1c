"""Import a checkpoint of the official LLM-RG4 code into an rg4 model dir.

The official Lightning module saves its trainable weights with `torch.save` as
`{"model": state_dict, ...}`: the perceiver blocks `APPA_*` (frontal, with the
learnable `APPA_visual_query_tokens`), `lateral_*`, `text_*`, the fusion projection
`iit_proj` / `iit_layernorm`, and the LoRA weights under `llama_model.` (a peft model,
so the names continue `base_model.model.model.layers.N.self_attn.q_proj.lora_A.default.weight`).
Read with `torch.load(weights_only=True)`: tensors only, no pickled code.

The import maps those names onto rg4's fusion (same shapes, same nn.MultiheadAttention
parameter names) and onto the peft adapter, and sets `mask_prior_padding=False` because
the official text block attends over the 100-token padding of the prior report.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from rg4cli.errors import InputError, Rg4Error

BLOCKS = {"APPA": "frontal", "lateral": "lateral", "text": "prior"}
LAYERS = {"crossattention_block": "attn", "layernorm_768_1": "norm_attn", "llama_proj_1": "proj_in",
          "layernorm_768_2": "norm_in", "llama_proj_2": "proj_up", "llama_proj_3": "proj_out",
          "layernorm_4096_1": "norm_out"}


def read_official_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"no such checkpoint: {path}") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling refusal is the same message
        raise InputError(f"cannot read checkpoint {path}: {exc.__class__.__name__}: "
                         f"{str(exc).splitlines()[0][:160] if str(exc) else ''} (only plain tensor checkpoints load)"
                         ) from exc
    state = obj.get("model", obj.get("state_dict", obj)) if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        raise InputError(f"checkpoint {path} holds no state dict")
    return state


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
            decoder[key[len("llama_model."):]] = value
            continue
        prefix, _, rest = key.partition("_")
        layer, _, param = rest.partition(".")
        if prefix in BLOCKS and layer in LAYERS:
            fusion[f"{BLOCKS[prefix]}.{LAYERS[layer]}.{param}"] = value
            continue
        unused.append(key)
    return fusion, decoder, unused


def load_official_weights(model, path: str | os.PathLike) -> list[str]:
    """Load official weights into an rg4 ATF model in place; returns the checkpoint names not used."""
    if model.config.fusion != "atf":
        raise Rg4Error("official checkpoints hold the ATF fusion; build the model with fusion='atf'")
    fusion_state, decoder_state, unused = official_to_rg4(read_official_state(path))
    if not fusion_state:
        raise InputError(f"checkpoint {path} has no LLM-RG4 fusion weights (APPA_*, iit_proj)")
    own = model.fusion.state_dict()
    wrong = [k for k, v in fusion_state.items() if k not in own or own[k].shape != v.shape]
    if wrong:
        k = wrong[0]
        raise InputError(f"checkpoint {path}: {k} does not fit this model "
                         f"({tuple(fusion_state[k].shape)} vs {tuple(own[k].shape) if k in own else 'absent'}); "
                         "are the encoder/decoder sizes those of the paper preset?")
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
            raise InputError(f"checkpoint {path}: LoRA weight {bad[0]} has no place in this decoder "
                             "(different LoRA targets or rank?)")
        with torch.no_grad():
            for k, v in decoder_state.items():
                params[k].copy_(v.to(params[k].dtype))
        model.set_stage(2)
    model.config.mask_prior_padding = False
    return unused


def import_official_checkpoint(path: str | os.PathLike, out_dir: str | os.PathLike, **paper_overrides) -> Path:
    """Paper preset (encoders/decoder from the hub cache or the paths given) + official weights -> model dir."""
    from rg4cli.model.modeldir import build_model, save_model_dir

    model = build_model("paper", **paper_overrides)
    unused = load_official_weights(model, path)
    return save_model_dir(model, out_dir, extra={"imported_from": str(path), "unused_keys": unused[:20]})
