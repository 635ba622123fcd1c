"""The combined LLM-RG4 module: frozen encoders -> fusion -> prompt + LLM (LoRA in stage 2)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from rg4cli import paper
from rg4cli.errors import Rg4Error
from rg4cli.model.encoders import freeze, patch_tokens, text_tokens
from rg4cli.model.fusion import build_fusion
from rg4cli.model.presets import ModelConfig
from rg4cli.model.prompts import PromptBuilder, TextBatch, prior_text
from rg4cli.records.study import Study


@dataclass
class StudyFeatures:
    """Frozen-encoder outputs of a batch (what a training cache stores per image / text).

    frontal [B,P,D'] patch tokens; lateral [B,P,D'] or None (no lateral in the batch);
    prior [B,T,Dt] text tokens + prior_mask [B,T] (True = real token) or None.
    `*_present` [B] bool mark which samples have the modality in a mixed batch; the
    fusion zeroes the others (docs/design.md "The model core": zeros for a missing modality).
    """

    frontal: Tensor
    lateral: Tensor | None = None
    prior: Tensor | None = None
    prior_mask: Tensor | None = None
    lateral_present: Tensor | None = None
    prior_present: Tensor | None = None

    def to(self, device=None, dtype=None) -> StudyFeatures:
        def mv(t, cast=True):
            if t is None:
                return None
            return t.to(device=device, dtype=dtype if (cast and t.is_floating_point()) else None)

        return StudyFeatures(
            mv(self.frontal),
            mv(self.lateral),
            mv(self.prior),
            mv(self.prior_mask, False),
            mv(self.lateral_present, False),
            mv(self.prior_present, False),
        )

    @staticmethod
    def stack(items: Sequence[dict]) -> StudyFeatures:
        """Stack per-study cached features: dicts with `frontal` [P,D'], optional `lateral`
        [P,D'] and `prior` [T,Dt] + `prior_mask` [T] (absent/None = missing)."""
        frontal = torch.stack([it["frontal"] for it in items])
        lat = [it.get("lateral") for it in items]
        pri = [it.get("prior") for it in items]
        lateral = lateral_present = prior = prior_mask = prior_present = None
        if any(x is not None for x in lat):
            ref = next(x for x in lat if x is not None)
            lateral = torch.stack([x if x is not None else torch.zeros_like(ref) for x in lat])
            if not all(x is not None for x in lat):
                lateral_present = torch.tensor([x is not None for x in lat])
        if any(x is not None for x in pri):
            ref = next(x for x in pri if x is not None)
            refm = next(it["prior_mask"] for it in items if it.get("prior") is not None)
            prior = torch.stack([x if x is not None else torch.zeros_like(ref) for x in pri])
            prior_mask = torch.stack(
                [it["prior_mask"] if it.get("prior") is not None else torch.ones_like(refm) for it in items]
            ).bool()
            if not all(x is not None for x in pri):
                prior_present = torch.tensor([x is not None for x in pri])
        return StudyFeatures(frontal, lateral, prior, prior_mask, lateral_present, prior_present)


@dataclass
class LMOutput:
    """Training forward. `logits[b, j]` is the prediction FOR `labels[b, j]` (already shifted).

    labels: target token ids, -100 on padding; offsets[b, j] = (start, end) characters of
    token j in the target text (EOS = (len, len); padding = (-1, -1)); input_tokens[b] =
    how many embeddings the LLM read before the target (BOS + prompt + fusion tokens).
    """

    logits: Tensor
    labels: Tensor
    offsets: Tensor
    input_tokens: Tensor


@dataclass
class Generated:
    text: str
    input_tokens: int
    new_tokens: int
    ids: list[int] = field(default_factory=list, repr=False)  # new token ids, EOS/padding removed


@dataclass
class DecodeOptions:
    """Defaults of the official test script (rg4cli.paper)."""

    num_beams: int = paper.NUM_BEAMS
    max_new_tokens: int = paper.MAX_NEW_TOKENS
    min_new_tokens: int = paper.MIN_NEW_TOKENS
    repetition_penalty: float = paper.REPETITION_PENALTY
    length_penalty: float = paper.LENGTH_PENALTY

    def as_kwargs(self) -> dict[str, Any]:
        return dict(
            num_beams=self.num_beams,
            max_new_tokens=self.max_new_tokens,
            min_new_tokens=min(self.min_new_tokens, self.max_new_tokens),
            repetition_penalty=self.repetition_penalty,
            length_penalty=self.length_penalty,
        )


class RG4Model(nn.Module):
    def __init__(
        self,
        config: ModelConfig,
        *,
        image_encoder: nn.Module,
        image_processor: Any,
        text_encoder: nn.Module,
        text_tokenizer: Any,
        decoder: nn.Module,
        tokenizer: Any,
    ):
        super().__init__()
        self.config = config
        self.image_encoder = freeze(image_encoder)
        self.image_processor = image_processor
        self.text_encoder = freeze(text_encoder)
        self.text_tokenizer = text_tokenizer
        self.decoder = freeze(decoder)
        self.tokenizer = tokenizer
        self._check_dims()
        self.fusion = build_fusion(config)
        self.rebuild_prompts()
        self.has_lora = False

    def rebuild_prompts(self) -> None:
        """The prompt builder for the current config (call after changing its prompt/text fields)."""
        cfg = self.config
        self.prompts = PromptBuilder(
            self.tokenizer,
            fusion=cfg.fusion,
            context_max_tokens=cfg.context_max_tokens,
            prior_max_tokens=cfg.prior_max_tokens,
            tokenization=cfg.prompt_tokenization,
            stage1_input=cfg.stage1_input,
            report_text=cfg.report_text,
            target_max_tokens=cfg.target_max_tokens,
        )
        self.prompts.stage = cfg.stage

    # ---- set-up -------------------------------------------------------------------------
    def _check_dims(self) -> None:
        cfg = self.config
        got = {
            "image_dim": self.image_encoder.config.hidden_size,
            "text_dim": self.text_encoder.config.hidden_size,
            "llm_dim": self.decoder.config.hidden_size,
        }
        for key, value in got.items():
            if getattr(cfg, key) != value:
                raise Rg4Error(f"model config says {key}={getattr(cfg, key)} but the loaded model has {value}")

    @property
    def device(self) -> torch.device:
        # torch types a submodule's attribute as Tensor | Module: this one is a parameter.
        return self.fusion.queries.device  # type: ignore[return-value]  # torch types the attribute as Tensor | Module

    @property
    def dtype(self) -> torch.dtype:
        """The decoder's compute dtype (bf16 for the paper preset on GPU); the fusion keeps float32
        weights (trainable master weights, like the official code's fp32 modules beside a bf16 LLM)."""
        return self.decoder.get_input_embeddings().weight.dtype

    def place(self, device: torch.device | str, dtype: torch.dtype) -> RG4Model:
        """Frozen encoders + decoder in `dtype`, fusion (and LoRA, peft's choice) in float32."""
        self.to(device=device)
        # Parameters only: float buffers such as RoPE's inv_freq stay float32, as from_pretrained keeps them.
        for module in (self.image_encoder, self.text_encoder, self.decoder):
            for name, p in module.named_parameters():
                if "lora_" not in name and p.dtype != dtype:
                    p.data = p.data.to(dtype)
        self.fusion.to(dtype=torch.float32)
        return self

    def add_lora(self) -> None:
        from peft import LoraConfig, TaskType, get_peft_model

        if self.has_lora:
            return
        cfg = self.config
        lora = LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=cfg.lora_target_modules,
            bias="none",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # peft calls a deprecated transformers alias
            self.decoder = get_peft_model(self.decoder, lora)
        self.has_lora = True

    def set_stage(self, stage: int) -> None:
        """Stage 1: only the fusion path trains (decoder frozen, no LoRA).
        Stage 2: fusion + LoRA (added here if the model has none yet), and the decoder's own
        weights when the config says `train_decoder`. Encoders never train."""
        if stage not in (1, 2):
            raise Rg4Error(f"stage must be 1 or 2, got {stage!r}")
        if stage == 1 and self.has_lora:
            raise Rg4Error("this model already has a LoRA adapter (stage 2); stage 1 trains without one")
        if stage == 2:
            self.add_lora()
        self.config.stage = stage
        self.prompts.stage = stage
        for p in self.parameters():
            p.requires_grad_(False)
        if self.frontal_only:
            # The released stage 1 has the frontal block only: the projection and the other
            # blocks neither learn nor decay until stage 2.
            trained = [
                self.fusion.queries,
                *getattr(self.fusion, "frontal", getattr(self.fusion, "image", None)).parameters(),
            ]
        else:
            trained = list(self.fusion.parameters())
        for p in trained:
            p.requires_grad_(True)
        if stage == 2:
            for name, p in self.decoder.named_parameters():
                if "lora_" in name or self.config.train_decoder:
                    p.requires_grad_(True)

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.named_parameters() if p.requires_grad]

    def train(self, mode: bool = True) -> RG4Model:
        super().train(mode)
        # Frozen encoders stay in eval mode (no dropout) whatever the trainer does.
        self.image_encoder.eval()
        self.text_encoder.eval()
        return self

    # ---- frozen encoders (cacheable) ---------------------------------------------------
    def pixel_values(self, images: Sequence[Any]) -> Tensor:
        """PIL RGB images -> [B,3,H,W] on the model's device/dtype (the encoder's processor)."""
        px = self.image_processor(images=list(images), return_tensors="pt")["pixel_values"]
        return px.to(self.device, self.image_encoder.dtype)

    @torch.no_grad()
    def encode_image(self, pixel_values: Tensor) -> Tensor:
        """[B,3,H,W] -> patch tokens [B,P,D'] (CLS dropped)."""
        # The encoder's dtype, a torch.dtype that torch's stubs read as Tensor | Module.
        return patch_tokens(self.image_encoder, pixel_values.to(self.device, self.image_encoder.dtype))  # type: ignore[call-overload]  # .to(device, dtype) overloads take these at run time

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Prior reports -> (tokens [B,text_max_length,Dt], mask [B,text_max_length])."""
        return text_tokens(
            self.text_encoder, self.text_tokenizer, list(texts), self.config.text_max_length, self.device
        )

    def encode_studies(
        self,
        studies: Sequence[Study],
        frontal_images: Sequence[Any],
        lateral_images: Sequence[Any | None] | None = None,
    ) -> StudyFeatures:
        """All frozen features of a batch: images (PIL) + each study's prior_report."""
        frontal = self.encode_image(self.pixel_values(frontal_images))
        lateral = lateral_present = None
        lats = list(lateral_images or [None] * len(studies))
        if any(x is not None for x in lats):
            idx = [i for i, x in enumerate(lats) if x is not None]
            enc = self.encode_image(self.pixel_values([lats[i] for i in idx]))
            lateral = torch.zeros(len(lats), *enc.shape[1:], dtype=enc.dtype, device=enc.device)
            lateral[idx] = enc
            if len(idx) < len(lats):
                lateral_present = torch.tensor([x is not None for x in lats], device=enc.device)
        prior = prior_mask = prior_present = None
        priors = [self.prior_text(s) for s in studies]
        if self.config.fusion == "atf" and any(priors):
            prior, prior_mask = self.encode_text([p or "" for p in priors])
            if not all(priors):
                prior_present = torch.tensor([bool(p) for p in priors], device=prior.device)
        return StudyFeatures(frontal, lateral, prior, prior_mask, lateral_present, prior_present)

    def prior_text(self, study: Study) -> str | None:
        """The prior report as the text encoder reads it (R2Gen-cleaned when report_text is r2gen)."""
        return prior_text(study, self.config.report_text)

    @property
    def frontal_only(self) -> bool:
        """Stage 1 with the released input: the frontal block's tokens go to the LLM unprojected."""
        return self.config.stage == 1 and self.config.stage1_input == "bos-image"

    # ---- text ------------------------------------------------------------------------------
    def text_batch(
        self, studies: Sequence[Study], *, with_targets: bool = False, sections: str | None = None
    ) -> TextBatch:
        """Prompt segments (and targets = join_sections(findings, impression) + EOS)."""
        return self.prompts.batch(list(studies), with_targets=with_targets, sections=sections)

    # ---- fusion + embedding assembly -----------------------------------------------------
    def fuse(self, features: StudyFeatures) -> dict[str, Tensor]:
        f = features.to(self.device, self.fusion.queries.dtype)
        prior_mask = f.prior_mask if self.config.mask_prior_padding else None
        if self.frontal_only:
            out = self.fusion(f.frontal, frontal_only=True)
        else:
            out = self.fusion(
                f.frontal,
                lateral=f.lateral,
                prior=f.prior,
                prior_mask=prior_mask,
                lateral_present=f.lateral_present,
                prior_present=f.prior_present,
            )
        if isinstance(out, Tensor):
            out = {"fusion": out}
        return {k: v.to(self.dtype) for k, v in out.items()}

    def _prefix_embeds(self, blocks: dict[str, Tensor], prefixes: list[list]) -> tuple[Tensor, Tensor]:
        """Left-padded [B,L,D] embeddings + attention mask of the prompt with feature blocks."""
        embed = self.decoder.get_input_embeddings()
        rows = []
        for b, segs in enumerate(prefixes):
            parts = []
            for seg in segs:
                if isinstance(seg, str):
                    if seg not in blocks:
                        raise Rg4Error(f"prompt asks for feature block {seg!r} that the batch does not have")
                    parts.append(blocks[seg][b])
                else:
                    parts.append(embed(torch.tensor(seg, dtype=torch.long, device=self.device)))
            rows.append(torch.cat(parts).to(self.dtype))
        length = max(r.shape[0] for r in rows)
        dim = rows[0].shape[1]
        embeds = torch.zeros(len(rows), length, dim, dtype=self.dtype, device=self.device)
        mask = torch.zeros(len(rows), length, dtype=torch.long, device=self.device)
        padded = []
        for b, row in enumerate(rows):
            pad = length - row.shape[0]
            padded.append(torch.cat([embeds[b, :pad], row]) if pad else row)
            mask[b, pad:] = 1
        return torch.stack(padded), mask

    def forward(self, features: StudyFeatures, batch: TextBatch) -> LMOutput:
        """Teacher-forced pass over prompt + target; logits aligned with labels (see LMOutput)."""
        if batch.target_ids is None:
            raise Rg4Error("forward needs a TextBatch built with with_targets=True")
        blocks = self.fuse(features)
        prefix, prefix_mask = self._prefix_embeds(blocks, batch.prefixes)
        bsz = len(batch)
        tlen = max(len(t) for t in batch.target_ids)
        pad_id = self.tokenizer.pad_token_id
        ids = torch.full((bsz, tlen), pad_id, dtype=torch.long, device=self.device)
        labels = torch.full((bsz, tlen), -100, dtype=torch.long, device=self.device)
        offsets = torch.full((bsz, tlen, 2), -1, dtype=torch.long)
        tmask = torch.zeros(bsz, tlen, dtype=torch.long, device=self.device)
        for b, (tids, toffs) in enumerate(zip(batch.target_ids, batch.target_offsets)):
            n = len(tids)
            ids[b, :n] = torch.tensor(tids, device=self.device)
            labels[b, :n] = ids[b, :n]
            offsets[b, :n] = torch.tensor(toffs, dtype=torch.long)
            tmask[b, :n] = 1
        target_embeds = self.decoder.get_input_embeddings()(ids).to(self.dtype)
        embeds = torch.cat([prefix, target_embeds], dim=1)
        mask = torch.cat([prefix_mask, tmask], dim=1)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.decoder(
            inputs_embeds=embeds,
            attention_mask=mask,
            position_ids=positions,
            logits_to_keep=tlen + 1,
            use_cache=False,
            return_dict=True,
        )
        logits = out.logits[:, :-1]  # position (prefix_end - 1 + j) predicts target token j
        return LMOutput(logits=logits, labels=labels, offsets=offsets, input_tokens=prefix_mask.sum(-1))

    # ---- generation ------------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self, features: StudyFeatures, batch: TextBatch, options: DecodeOptions | None = None
    ) -> list[Generated]:
        options = options or DecodeOptions()
        blocks = self.fuse(features)
        embeds, mask = self._prefix_embeds(blocks, batch.prefixes)
        tok = self.tokenizer
        with warnings.catch_warnings():
            # "repetition_penalty with inputs_embeds applies to new tokens only": that is the intent.
            warnings.simplefilter("ignore", UserWarning)
            out = self.decoder.generate(
                inputs_embeds=embeds,
                attention_mask=mask,
                do_sample=False,
                eos_token_id=tok.eos_token_id,
                pad_token_id=tok.pad_token_id,
                bos_token_id=tok.bos_token_id,
                **options.as_kwargs(),
            )
        results = []
        for b in range(out.shape[0]):
            ids = out[b].tolist()
            if tok.eos_token_id in ids:
                ids = ids[: ids.index(tok.eos_token_id)]
            ids = [i for i in ids if i != tok.pad_token_id]
            text = tok.decode(ids, skip_special_tokens=True).strip()
            results.append(Generated(text=text, input_tokens=int(mask[b].sum()), new_tokens=len(ids), ids=ids))
        return results

    def input_tokens(self, batch: TextBatch) -> list[int]:
        """LLM input length per sample without running anything (feature blocks count N each)."""
        n = self.config.num_queries
        return [sum(n if isinstance(s, str) else len(s) for s in segs) for segs in batch.prefixes]
