"""The shared LLM-RG4 model core (docs/design.md; paper §Method).

Build / load / save
    build_model(preset="tiny"|"paper", *, tokenizer_texts=None, fusion="atf"|"interleaved",
                stage=1, seed=0, device="cpu", dtype=None, **config_overrides) -> RG4Model
    load_model_dir(dir, *, device="cpu", dtype=None, trust_remote_code=False, stage=None) -> RG4Model
        (stage=2 on a stage-1 dir adds a fresh LoRA adapter: stage-2 training starts from it)
    save_model_dir(model, dir, *, extra=None)      # rg4_model.json + fusion.safetensors + adapter/ ...
    model.set_stage(1|2)                          # 1: fusion only; 2: fusion + LoRA. Encoders never train.
    model.trainable_parameters() -> [(name, Parameter)]
    model.config: ModelConfig (JSON-able dataclass)
    model.dtype = the decoder's dtype (bf16 for the paper preset on CUDA); fusion weights stay float32
    rg4cli.model.official.import_released_checkpoint(pth, out_dir, preset="paper", bert=None) (`rg4 train
        --task import`): released LLM-RG4 (APPA_*/lateral_*/text_*/iit_*, llama_model.* LoRA) or DiscBERT
        checkpoints -> rg4 model dirs, read by the restricted unpickler of rg4cli.model.safe_pickle

Frozen features (cache them; they never change during training)
    model.pixel_values(pil_images) -> Tensor[B,3,H,W]   (the encoder's image processor)
    model.encode_image(pixel_values) -> Tensor[B,P,D']  (patch tokens, CLS dropped)
    model.encode_text(texts) -> (Tensor[B,100,Dt], BoolTensor[B,100])   (prior reports)
    StudyFeatures(frontal, lateral=None, prior=None, prior_mask=None, lateral_present=None, prior_present=None)
    StudyFeatures.stack([{"frontal": [P,D'], "lateral": [P,D']|None, "prior": [T,Dt]|None, "prior_mask": [T]}])
    model.encode_studies(studies, frontal_images, lateral_images) -> StudyFeatures   (no cache)
    load_image(image_root, rel, field_name=, source=, line=) -> PIL RGB (InputError file:line: field: problem)
    NOTE: the interleaved fusion ignores `prior` features: its prior report is prompt text.

Training batch + forward
    batch = model.text_batch(studies, with_targets=True)          # studies: rg4cli.records.study.Study
        target text = rg4cli.text.sections.join_sections(findings, impression) + EOS; prompt asks for
        the sections present. batch.target_offsets[b][j] = (start, end) characters of target
        token j in batch.target_texts[b] (EOS = (len, len)) -> map sentence_weights onto tokens.
    out = model(features, batch) -> LMOutput
        out.logits [B,T,V] ALREADY SHIFTED: logits[b, j] predicts labels[b, j]
        out.labels [B,T] (-100 on padding), out.offsets [B,T,2] (-1 on padding),
        out.input_tokens [B] (LLM input length before the target)
    The trainer computes its own (TLW) loss from logits/labels.

Generation
    model.generate(features, model.text_batch(studies, sections="both"), DecodeOptions(...))
        -> [Generated(text, input_tokens, new_tokens)]; DecodeOptions defaults = official test
        script (beam 3, repetition 2.0, length 2.0, min 50 / max 200 new tokens).
    rg4cli.generation.run.run_generate(...) is the streaming core of `rg4 generate`.
"""

from importlib import import_module

# Where each public name lives. The package imports them on first use (PEP 562), so that a
# process needing only a light part (the tokenizers, the presets) does not load torch and the
# encoders' transformers models.
_HOMES = {
    "load_image": "encoders",
    "resolve_device": "encoders",
    "build_model": "modeldir",
    "load_model_dir": "modeldir",
    "read_config": "modeldir",
    "save_model_dir": "modeldir",
    "PRESETS": "presets",
    "ModelConfig": "presets",
    "paper_config": "presets",
    "preset_config": "presets",
    "tiny_config": "presets",
    "PromptBuilder": "prompts",
    "TextBatch": "prompts",
    "instruction": "prompts",
    "template_texts": "prompts",
    "DecodeOptions": "rg4",
    "Generated": "rg4",
    "LMOutput": "rg4",
    "RG4Model": "rg4",
    "StudyFeatures": "rg4",
}


def __getattr__(name: str):
    if name in _HOMES:
        value = getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "build_model",
    "load_model_dir",
    "save_model_dir",
    "read_config",
    "ModelConfig",
    "PRESETS",
    "paper_config",
    "tiny_config",
    "preset_config",
    "RG4Model",
    "StudyFeatures",
    "LMOutput",
    "Generated",
    "DecodeOptions",
    "TextBatch",
    "PromptBuilder",
    "instruction",
    "template_texts",
    "load_image",
    "resolve_device",
]
