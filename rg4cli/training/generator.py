"""`rg4 train --task generator`: stage 1 / stage 2 of LLM-RG4 on the shared engine.

- Stage 1 (`--stage 1`): a fresh model from `--preset` (or `--init DIR`), only the
  fusion path trains, on `sn` records.
- Stage 2 (`--stage 2 --init STAGE1_DIR`): the stage-1 model with a fresh LoRA
  adapter; fusion + LoRA train on all settings (`--settings` restricts).

Per micro-batch: frozen-encoder features come from the cache (or the encoders with
`--no-cache`), the decoder reads prompt + fusion tokens + target with teacher
forcing, and the TLW loss (tlw.py) weighs each target token by the sentence weight
its characters fall in.

For the tiny preset the frozen components (random encoders/decoder, tokenizers built
from the training text) are saved once under OUT/checkpoints/init-model by the main
process; the other DDP processes and a resumed run load them from there, so every
process and every resume sees the very same frozen model and vocabulary.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rg4cli.errors import InputError
from rg4cli.paper import TLW_LAMBDA
from rg4cli.training.cache import FeatureCache, NoCache, content_key, default_cache_root, encoder_fingerprint
from rg4cli.training.data import (
    SAMPLERS,
    FileHasher,
    GeneratorExample,
    parse_input_settings,
    plan_input_setting_batches,
    read_generator_examples,
)
from rg4cli.training.targets import clean_spans
from rg4cli.training.tlw import TLW_MODES, lm_loss, token_weight_row

INIT_MODEL_DIR = "checkpoints/init-model"


class GeneratorTask:
    name = "generator"
    # Fusion blocks of absent modalities (lateral / prior) get no gradient in sn batches.
    find_unused_parameters = True

    def __init__(
        self,
        train_path: str,
        out_dir: Path,
        *,
        preset: str = "tiny",
        fusion: str = "atf",
        stage: int = 1,
        init: str | None = None,
        image_root=None,
        batch_size: int = 16,
        tlw: str = "paper",
        lam: float | None = None,
        input_settings: str | None = None,
        use_cache: bool = True,
        cache_dir=None,
        val_path: str | None = None,
        val_limit: int | None = None,
        val_max_new_tokens: int | None = None,
        on_error: str = "fail",
        model_overrides: dict | None = None,
        model_options: dict | None = None,
        sampler: str = "once",
        seed: int = 0,
        log: Callable[[str], None] = lambda m: None,
    ):
        if stage not in (1, 2):
            raise InputError(f"--stage must be 1 or 2, got {stage!r}")
        if stage == 2 and not init:
            raise InputError("--stage 2 needs --init STAGE1_DIR (the model `rg4 train --stage 1` wrote)")
        self.input_settings = parse_input_settings(input_settings)
        if init and not (Path(init) / "rg4_model.json").is_file():
            raise InputError(
                f"--init {init}: not an rg4 model directory (no rg4_model.json; "
                "`rg4 train --stage 1 -o DIR` writes one)"
            )
        if tlw not in TLW_MODES:
            raise InputError(f"--tlw must be one of {', '.join(TLW_MODES)}, got {tlw!r}")
        if lam is not None and lam <= 0:
            raise InputError(f"--lam must be positive, got {lam}")
        self.out_dir = Path(out_dir)
        self.preset, self.fusion, self.stage, self.init = preset, fusion, stage, init
        self.image_root = image_root
        self.batch_size = batch_size
        self.tlw, self.lam = tlw, lam
        self.use_cache = use_cache
        self.cache_root = Path(cache_dir) if cache_dir else default_cache_root()
        self.model_overrides = model_overrides or {}
        # Input-handling fields of the model config (stage1_input, prompt_tokenization, report_text,
        # target_max_tokens, mask_prior_padding): set on a new model and on an --init one alike.
        self.model_options = {k: v for k, v in (model_options or {}).items() if v is not None}
        if sampler not in SAMPLERS:
            raise InputError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
        self.sampler = sampler
        self.seed = seed  # initialises the fusion (and the tiny preset's random components)
        self.log = log
        self.examples: list[GeneratorExample] = read_generator_examples(
            train_path,
            image_root=image_root,
            stage=stage,
            input_settings=self.input_settings,
            on_error=on_error,
            log=log,
        )
        self.validator: Any = None  # a GeneratorValidator with --val
        if val_path:
            from rg4cli.training.validation import GeneratorValidator

            self.validator = GeneratorValidator(
                val_path,
                image_root=image_root,
                limit=val_limit,
                max_new_tokens=val_max_new_tokens,
                on_error=on_error,
                log=log,
            )
        self.model: Any = None  # the RG4Model build_model() makes
        self.hasher = FileHasher()
        self.image_cache: Any = None  # FeatureCache or NoCache, once the model is built
        self.text_cache: Any = None
        self._token_rows: dict[int, tuple] = {}  # example index -> its prompt and target tokens
        self._lengths: list[int] | None = None  # token_lengths(), once computed

    def describe(self) -> dict:
        """The options a resumed run must share (compared by the engine)."""
        return {
            "preset": self.preset,
            "fusion": self.fusion,
            "stage": self.stage,
            "init": self.init,
            "tlw": self.tlw,
            "lam": self.lam,
            "settings": list(self.input_settings or []),
            "sampler": self.sampler,
            "examples": len(self.examples),
            **({"model": self.model_overrides} if self.model_overrides else {}),
            **({"model_options": self.model_options} if self.model_options else {}),
        }

    # ---- model ----------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        from rg4cli.model import build_model, load_model_dir, save_model_dir
        from rg4cli.model.prompts import prior_text, target_text
        from rg4cli.training.engine import process_state

        state = process_state()
        device = state.device
        if self.init:
            model = load_model_dir(self.init, device=device, stage=self.stage)
            self._apply_model_options(model)
            if model.config.fusion != self.fusion:
                self.log(f"--init {self.init} has {model.config.fusion} fusion; training it as such")
                self.fusion = model.config.fusion
        else:
            init_dir = self.out_dir / INIT_MODEL_DIR
            if state.is_main_process and not getattr(self, "resuming", False) and init_dir.exists():
                import shutil

                shutil.rmtree(init_dir)  # left by an earlier run that never checkpointed
            with state.main_process_first():
                if (init_dir / "rg4_model.json").is_file():
                    model = load_model_dir(init_dir, device=device, stage=self.stage)
                else:
                    # The tiny preset's vocabularies: from the text the model will read and learn.
                    form = self.model_options.get("report_text", "raw")
                    texts = [target_text(ex.study, form) for ex in self.examples]
                    texts += [
                        t
                        for ex in self.examples
                        for t in (ex.study.indication, ex.study.history, prior_text(ex.study, form))
                        if t
                    ]
                    model = build_model(
                        self.preset,
                        tokenizer_texts=texts,
                        fusion=self.fusion,
                        stage=self.stage,
                        seed=self.seed,
                        device=device,
                        **self.model_overrides,
                        **self.model_options,
                    )
                    if state.is_main_process and self.preset == "tiny":
                        # The tiny preset's frozen parts are random and its vocabularies built here:
                        # keep them so the other processes and --resume use the same ones.
                        save_model_dir(model, init_dir)
            self._apply_model_options(model)  # a resumed run's saved init model, built before the options
        model.set_stage(self.stage)
        model.train()
        self.model = model
        self._make_caches()
        return model

    def _apply_model_options(self, model) -> None:
        if not self.model_options:
            return
        for key, value in self.model_options.items():
            setattr(model.config, key, value)
        model.config.validate(source="rg4 train")
        model.rebuild_prompts()

    def _make_caches(self) -> None:
        from rg4cli.training.engine import process_state

        m = self.model
        if not self.use_cache:
            self.image_cache = self.text_cache = NoCache()
            return
        tag = f"{process_state().process_index}"
        proc = m.image_processor.to_dict() if hasattr(m.image_processor, "to_dict") else repr(m.image_processor)
        img_fp = encoder_fingerprint(
            m.image_encoder, {"processor": proc, "kind": "image-patch-tokens", "dtype": str(m.image_encoder.dtype)}
        )
        self.image_cache = FeatureCache(self.cache_root, img_fp, writer_tag=tag)
        vocab = json.dumps(m.text_tokenizer.get_vocab(), sort_keys=True)
        txt_fp = encoder_fingerprint(
            m.text_encoder,
            {
                "vocab": content_key(vocab),
                "kind": "text-tokens",
                "max_length": m.config.text_max_length,
                "dtype": str(m.text_encoder.dtype),
            },
        )
        self.text_cache = FeatureCache(self.cache_root, txt_fp, writer_tag=tag)

    # ---- features ---------------------------------------------------------------------
    def _image_features(self, paths: list[Path], origins: list[tuple] | None = None) -> list[torch.Tensor]:
        """`origins`: (file, line, field) of each path, so an image that cannot be decoded is named by its record."""
        from rg4cli.model import load_image

        m = self.model
        where = dict(zip(paths, origins or []))

        def compute(batch_paths):
            images = []
            for p in batch_paths:
                source, line, field_name = where.get(p, (None, None, "frontal"))
                images.append(load_image(None, str(p), field_name=field_name, source=source, line=line))
            tokens = m.encode_image(m.pixel_values(images))
            return [{"tokens": t} for t in tokens]

        keys = [self.hasher(p) for p in paths]
        return [f["tokens"] for f in self.image_cache.features(keys, paths, compute)]

    def _text_features(self, texts: list[str]) -> list[dict]:
        m = self.model

        def compute(batch_texts):
            tokens, mask = m.encode_text(batch_texts)
            return [{"tokens": t, "mask": k} for t, k in zip(tokens, mask)]

        return self.text_cache.features([content_key(t) for t in texts], texts, compute)

    def features(self, examples: list[GeneratorExample]):
        # The frozen encoders run in their own dtype, outside the trainer's autocast, so a
        # cached feature is the same whichever precision the training run used.
        with torch.autocast(self.model.device.type, enabled=False):
            return self._features(examples)

    def _features(self, examples: list[GeneratorExample]):
        from rg4cli.model import StudyFeatures

        frontal = self._image_features(
            [ex.frontal for ex in examples], [(ex.source, ex.line, "frontal") for ex in examples]
        )
        lat_idx = [i for i, ex in enumerate(examples) if ex.lateral is not None]
        lateral_features = self._image_features(
            [examples[i].lateral for i in lat_idx], [(examples[i].source, examples[i].line, "lateral") for i in lat_idx]
        )
        lateral = dict(zip(lat_idx, lateral_features))
        prior: dict[int, dict] = {}
        if self.model.config.fusion == "atf":  # interleaved fusion reads the prior report as prompt text
            pri_idx = [i for i, ex in enumerate(examples) if ex.study.prior_report]
            texts = [self.model.prior_text(examples[i].study) for i in pri_idx]
            prior = dict(zip(pri_idx, self._text_features(texts)))
        items = []
        for i in range(len(examples)):
            item = {"frontal": frontal[i], "lateral": lateral.get(i)}
            if i in prior:
                item["prior"], item["prior_mask"] = prior[i]["tokens"], prior[i]["mask"]
            items.append(item)
        return StudyFeatures.stack(items)

    # ---- engine interface ---------------------------------------------------------------
    def plan_epoch(self, epoch: int, seed: int) -> list[list[int]]:
        self.flush_caches()  # features computed in the last epoch go to disk
        lengths = self.token_lengths() if self.sampler == "length" else None
        return plan_input_setting_batches(
            [ex.setting for ex in self.examples], self.batch_size, epoch, seed, self.sampler, lengths
        )

    def token_lengths(self) -> list[int]:
        """Each example's prompt-text plus target tokens (feature blocks left out: ATF's are the
        same size in every example), for the `length` sampler. Tokenises every example now,
        which the first epoch would do anyway (text_batch keeps the rows)."""
        if self._lengths is None:
            rows = self.text_batch(list(range(len(self.examples))))
            self._lengths = [
                sum(len(seg) for seg in prefix if not isinstance(seg, str)) + len(target)
                for prefix, target in zip(rows.prefixes, rows.target_ids)
            ]
        return self._lengths

    def flush_caches(self) -> None:
        for cache in (self.image_cache, self.text_cache):
            if cache is not None:
                cache.flush()

    def spans_on(self, ex: GeneratorExample, text: str) -> list[dict]:
        """The example's sentence weights on the text the model learns (raw or R2Gen-cleaned)."""
        if not ex.spans:
            return []
        if text.startswith(ex.target):
            return ex.spans
        if self.model.config.report_text == "r2gen":
            moved = clean_spans(ex.target, ex.spans)
            if moved is not None:
                return moved
            self.log(
                f"line {ex.line}: sentence_weights could not be moved onto the cleaned report; "
                "this example trains unweighted"
            )
            return []
        raise InputError(
            f"the model's target text differs from findings+impression, so sentence_weights "
            f"cannot be placed: {text[:60]!r}",
            line=ex.line,
            field="sentence_weights",
        )

    def token_weights(
        self,
        examples: list[GeneratorExample],
        offsets: torch.Tensor,
        labels: torch.Tensor,
        spans: list[list[dict]] | None = None,
    ) -> torch.Tensor:
        weights = torch.ones(labels.shape, dtype=torch.float32)
        for b, ex in enumerate(examples):
            ex_spans = ex.spans if spans is None else spans[b]
            if ex_spans:  # padding has offsets (-1, -1): no characters, weight 1
                weights[b] = token_weight_row(offsets[b], ex_spans, lam=self.lam)
        return weights.to(labels.device)

    def text_batch(self, batch_indices: list[int]):
        """The examples' prompt and target tokens, tokenised once per run (each comes back every epoch)."""
        from rg4cli.model import TextBatch

        rows = []
        for i in batch_indices:
            row = self._token_rows.get(i)
            if row is None:
                one = self.model.text_batch([self.examples[i].study], with_targets=True)
                row = self._token_rows[i] = (
                    one.prefixes[0],
                    one.target_ids[0],
                    one.target_offsets[0],
                    one.target_texts[0],
                )
            rows.append(row)
        return TextBatch(*(list(column) for column in zip(*rows)))

    def loss(self, model: nn.Module, batch_indices: list[int], device) -> tuple[torch.Tensor, dict]:
        examples = [self.examples[i] for i in batch_indices]
        feats = self.features(examples)
        batch = self.text_batch(batch_indices)
        spans = [self.spans_on(ex, text) for ex, text in zip(examples, batch.target_texts)]
        out = model(feats, batch)
        weights = self.token_weights(examples, out.offsets, out.labels, spans)
        lam = self.lam if self.lam is not None else TLW_LAMBDA
        loss = lm_loss(out.logits, out.labels, weights, self.tlw, lam, shift=False)
        mask = out.labels != -100
        share = float((weights[mask] > 1).float().mean()) if mask.any() else 0.0
        return loss, {"weighted_token_share": share}

    def save(self, model: nn.Module, out_dir: Path) -> None:
        from rg4cli.model import save_model_dir

        self.flush_caches()
        save_model_dir(
            model,  # type: ignore[arg-type]  # the engine hands back build_model()'s RG4Model
            out_dir,
            extra={
                "trained_by": "rg4 train",
                "stage": self.stage,
                "tlw": self.tlw,
                "lam": self.lam,
                "settings": list(self.input_settings or []),
                "train_examples": len(self.examples),
            },
        )

    def validate(self, model: nn.Module, accelerator) -> dict | None:
        if self.validator is None:
            return None
        self.flush_caches()
        return self.validator.run(self, accelerator.unwrap_model(model), accelerator)

    def cache_stats(self) -> dict:
        return {
            name: {"hits": c.hits, "misses": c.misses}
            for name, c in (("image", self.image_cache), ("text", self.text_cache))
            if c is not None
        }
