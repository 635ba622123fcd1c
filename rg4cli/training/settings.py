"""`rg4 train` settings: the options as one dataclass, the presets' defaults, and the run.

`--preset paper` trains the way the released LLM-RG4 code does; `--preset tiny` keeps
rg4's own choices and the demo's. Every option left unset (None) takes its preset's
value from `RECIPES` (training) or the preset's ModelConfig (model input handling);
docs/design.md "Presets" tables them all, and a test checks that table against this module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rg4cli.errors import InputError

TASKS = ("generator", "labeler", "discbert", "decoder", "import")

# Training recipe per preset; "stage1"/"stage2" entries differ by stage.
RECIPES: dict[str, dict] = {
    # The released code (scripts/train_stage{1,2}.sh, configure_optimizers, data_module.py).
    "paper": dict(
        batch_size={1: 24, 2: 16},
        grad_accum=2,
        epochs=2,
        lr=3e-4,
        sampler="cycle",
        warmup="per-epoch",
        max_grad_norm=0.0,
        decay="all",
        weight_decay=0.01,
        tlw="official",
    ),
    # rg4's choices (the demo runs on them).
    "tiny": dict(
        batch_size={1: 16, 2: 16},
        grad_accum=2,
        epochs=2,
        lr=3e-4,
        sampler="once",
        warmup="ratio",
        max_grad_norm=1.0,
        decay="matrices",
        weight_decay=0.01,
        tlw="paper",
    ),
}
# ModelConfig fields that `rg4 train` options set (None = the preset's value).
MODEL_OPTIONS = ("stage1_input", "prompt_tokenization", "report_text", "target_max_tokens", "mask_prior_padding")


# peft's default LoRA targets for a Llama decoder (what `lora_target_modules: null` means).
PEFT_LLAMA_TARGETS = ["q_proj", "v_proj"]


def preset_defaults(preset: str) -> dict:
    """Every default `rg4 train --task generator --preset PRESET` uses, by option or config field name
    (batch_size: (stage 1, stage 2)). docs/design.md "Presets" tables exactly these."""
    from rg4cli.model.presets import preset_config

    cfg = preset_config(preset)
    out = {k: ((v[1], v[2]) if isinstance(v, dict) else v) for k, v in RECIPES[preset].items()}
    out.update({k: getattr(cfg, k) for k in MODEL_OPTIONS if k != "mask_prior_padding"})
    out["prior_padding"] = "masked" if cfg.mask_prior_padding else "attended"
    out.update(
        num_queries=cfg.num_queries,
        query_init_std=cfg.query_init_std,
        lora_r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_target_modules=cfg.lora_target_modules or PEFT_LLAMA_TARGETS,
        train_decoder=cfg.train_decoder,
        dtype=cfg.dtype,
    )
    return out


def presets_help() -> str:
    """The presets' defaults as a `\\b` block for `rg4 train --help` and rg4-train(1)."""
    paper, tiny = preset_defaults("paper"), preset_defaults("tiny")

    def show(value) -> str:
        if isinstance(value, tuple):
            return " / ".join(map(str, value)) + (" (stage 1 / 2)" if len(set(value)) > 1 else "")
        if isinstance(value, list):
            return ",".join(value) if len(value) < 3 else f"{len(value)} layers"
        return str(value).lower() if isinstance(value, bool) else str(value)

    rows = [f"  {k.replace('_', '-'):<22}{show(paper[k]):<26}{show(tiny[k])}" for k in paper]
    return (
        '\b\nPresets (docs/design.md "Presets" says why each differs; config fields of rg4_model.json\n'
        "are not options; the demo also sets --fusion-lr 3e-4 and --decoder):\n"
        f"  {'default':<22}{'paper (released code)':<26}tiny (rg4, demo)\n" + "\n".join(rows)
    )


# Fields whose option is spelled otherwise (the option keeps the paper's word).
OPTION_OF = {"input_settings": "settings"}


@dataclass
class TrainSettings:
    train_file: str | None = None
    output: Path | None = None
    task: str = "generator"
    preset: str = "tiny"
    fusion: str = "atf"
    stage: int = 1
    init: Path | None = None
    image_root: Path | None = None
    allow_outside_image_root: bool = False
    bert: str | None = None  # bert-base-uncased directory of a released DiscBERT / CheXbert checkpoint
    image_encoder: str | None = None
    text_encoder: str | None = None
    decoder: str | None = None
    epochs: int | None = None
    max_steps: int | None = None
    batch_size: int | None = None
    grad_accum: int | None = None
    lr: float | None = None
    fusion_lr: float | None = None
    sampler: str | None = None
    warmup: str | None = None
    max_grad_norm: float | None = None
    decay: str | None = None
    stage1_input: str | None = None
    prompt_tokenization: str | None = None
    report_text: str | None = None
    target_max_tokens: int | None = None
    prior_padding: str | None = None
    checkpoint_every: int = 500
    resume: bool = False
    seed: int = 0
    val: Path | None = None
    val_every: int = 0
    val_limit: int | None = None
    val_max_new_tokens: int | None = None
    tlw: str | None = None
    lam: float | None = None
    input_settings: str | None = None  # --settings: the paper's input settings to train on
    no_cache: bool = False
    cache_dir: Path | None = None
    text: str = "auto"
    precision: str = "auto"
    on_error: str = "fail"
    quiet: bool = False

    def recipe(self) -> dict:
        """The training recipe with every unset option at its preset's value."""
        if self.preset not in RECIPES:
            raise InputError(f"--preset must be one of {', '.join(RECIPES)}, got {self.preset!r}")
        # The classifier and decoder tasks keep rg4's recipe whatever the preset (it names their size).
        base = RECIPES[self.preset if self.task == "generator" else "tiny"]
        out = {k: (v[self.stage] if isinstance(v, dict) and self.stage in v else v) for k, v in base.items()}
        for key in out:
            given = getattr(self, key, None)
            if given is not None:
                out[key] = given
        return out

    def model_options(self) -> dict:
        """ModelConfig fields the options set (unset ones stay the preset's / the --init model's)."""
        if self.prior_padding not in (None, "masked", "attended"):
            raise InputError(f"--prior-padding must be masked or attended, got {self.prior_padding!r}")
        padding = None if self.prior_padding is None else self.prior_padding == "masked"
        return {
            "stage1_input": self.stage1_input,
            "prompt_tokenization": self.prompt_tokenization,
            "report_text": self.report_text,
            "target_max_tokens": self.target_max_tokens,
            "mask_prior_padding": padding,
        }

    def check(self) -> None:
        if self.task not in TASKS:
            raise InputError(f"--task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.output is None:
            raise InputError("-o OUT_DIR is required (the model directory to write)")
        if self.task == "import":
            if self.init is None or self.train_file is not None:
                raise InputError("--task import takes the released checkpoint as --init FILE, and no training file")
            return
        if self.train_file in (None, "-"):
            raise InputError("give the training file as an argument (training reads it more than once, so not stdin)")
        for name in ("epochs", "max_steps", "batch_size", "grad_accum"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be positive, got {value}")
        if self.output.exists() and not self.output.is_dir():
            raise InputError(f"-o {self.output}: exists and is not a directory")
        if self.task != "generator":
            generator_only = (
                "stage1_input",
                "prompt_tokenization",
                "report_text",
                "target_max_tokens",
                "prior_padding",
                "input_settings",
                "lam",
                "fusion_lr",
            )
            if self.task != "decoder":  # the decoder's batches take --sampler once or length
                generator_only = ("sampler",) + generator_only
            given = [k for k in generator_only if getattr(self, k) is not None]
            if given:
                name = "--" + OPTION_OF.get(given[0], given[0]).replace("_", "-")
                raise InputError(
                    f"{name} does not apply to --task decoder"
                    if self.task == "decoder"
                    else f"{name} applies to --task generator only"
                )


def _component_overrides(s: TrainSettings) -> dict:
    overrides: dict = {}
    decoder = s.decoder
    if decoder is not None and s.preset == "tiny" and s.task == "generator" and s.init is None:
        overrides["decoder"] = overrides["tokenizer"] = decoder  # bundled: the model dir keeps a copy
        decoder = None
    for key, value in (("image_encoder", s.image_encoder), ("text_encoder", s.text_encoder), ("decoder", decoder)):
        if value is not None:
            if s.preset != "paper" or s.task != "generator" or s.init is not None:
                raise InputError(
                    f"--{key.replace('_', '-')} applies to --task generator --preset paper without "
                    "--init (a model directory names its own components)"
                )
            overrides[key] = value
            overrides[{"text_encoder": "text_tokenizer", "decoder": "tokenizer"}.get(key, key)] = value
    return overrides


def run_train(s: TrainSettings, log: Callable[[str], None]) -> dict:
    """Build the task, run the engine, return the summary `rg4 train` prints."""
    from rg4cli.training.engine import EngineConfig, process_state
    from rg4cli.training.engine import train as run_engine

    s.check()
    if s.task == "import":
        from rg4cli.model.official import import_released_checkpoint

        if s.output.exists() and not s.output.is_dir():
            raise InputError(f"-o {s.output}: exists and is not a directory")
        return import_released_checkpoint(
            s.init,
            s.output,
            preset=s.preset,
            bert=s.bert,
            decoder=s.decoder,
            image_encoder=s.image_encoder,
            text_encoder=s.text_encoder,
        )
    from rg4cli.images import ImageRoot

    image_root = ImageRoot.of(s.image_root, s.allow_outside_image_root)
    recipe = s.recipe()
    overrides = _component_overrides(s)
    if s.task == "generator":
        from rg4cli.training.generator import GeneratorTask

        task = GeneratorTask(
            train_path=s.train_file,
            out_dir=s.output,
            preset=s.preset,
            fusion=s.fusion,
            stage=s.stage,
            init=str(s.init) if s.init else None,
            image_root=image_root,
            batch_size=recipe["batch_size"],
            tlw=recipe["tlw"],
            lam=s.lam,
            input_settings=s.input_settings,
            use_cache=not s.no_cache,
            cache_dir=s.cache_dir,
            val_path=str(s.val) if s.val else None,
            val_limit=s.val_limit,
            val_max_new_tokens=s.val_max_new_tokens,
            on_error=s.on_error,
            model_overrides=overrides,
            model_options=s.model_options(),
            sampler=recipe["sampler"],
            seed=s.seed,
            log=log,
        )
        default_lr, task_config = recipe["lr"], task.describe()
    elif s.task == "decoder":
        from rg4cli.training.decoder_lm import DecoderLMTask

        for name, given in (("--init", s.init), ("--val", s.val)):
            if given is not None:
                raise InputError(f"{name} does not apply to --task decoder")
        task = DecoderLMTask(
            s.train_file,
            s.output,
            preset=s.preset,
            batch_size=recipe["batch_size"],
            on_error=s.on_error,
            sampler=recipe["sampler"],
        )
        default_lr, task_config = 3e-3, task.describe()
    else:
        from rg4cli.training.classifiers import ClassifierTask

        task = ClassifierTask(
            s.task,
            s.train_file,
            s.output,
            preset=s.preset,
            init=str(s.init) if s.init else None,
            batch_size=recipe["batch_size"],
            text=s.text,
            val_path=str(s.val) if s.val else None,
            on_error=s.on_error,
            bert=s.bert,
        )
        default_lr = 2e-5 if s.init else 3e-4
        task_config = {"preset": s.preset, "init": str(s.init) if s.init else None, "text": s.text}

    config = EngineConfig(
        out_dir=s.output,
        epochs=recipe["epochs"],
        max_steps=s.max_steps,
        batch_size=recipe["batch_size"],
        grad_accum=recipe["grad_accum"],
        lr=s.lr if s.lr is not None else default_lr,
        fusion_lr=s.fusion_lr,
        weight_decay=recipe["weight_decay"],
        decay=recipe["decay"],
        warmup=recipe["warmup"],
        max_grad_norm=recipe["max_grad_norm"],
        checkpoint_every=s.checkpoint_every,
        resume=s.resume,
        seed=s.seed,
        mixed_precision=s.precision,
        val_every=s.val_every,
        progress=not s.quiet,
        task_config=task_config,
    )
    from rg4cli.records.streams import DirLock

    with DirLock(s.output) if process_state().is_main_process else contextlib.nullcontext():  # one writer per -o DIR
        result = run_engine(task, config, log=log)
    if hasattr(task, "cache_stats") and not s.no_cache:
        stats = task.cache_stats()
        log(
            "encoder cache (this process): "
            + ", ".join(f"{name} {st['hits']} hit(s), {st['misses']} computed" for name, st in stats.items())
        )
    if not process_state().is_main_process:
        return {}
    return {
        "out_dir": str(s.output),
        "task": s.task,
        "steps": result.steps,
        "total_steps": result.total_steps,
        "first_loss": result.first_loss,
        "final_loss": result.final_loss,
        "best_score": result.best_score,
        "best_step": result.best_step,
        "resumed_from": result.resumed_from,
        "seconds": round(result.seconds, 2),
    }


# presets_help() written out: `rg4 train --help` must not import the model package (torch) to
# show it; tests/lib/test_training_presets.py checks that the two agree.
PRESETS_HELP = (
    "\b\n"
    'Presets (docs/design.md "Presets" says why each differs; config fields of rg4_model.json\n'
    "are not options; the demo also sets --fusion-lr 3e-4 and --decoder):\n"
    "  default               paper (released code)     tiny (rg4, demo)\n"
    "  batch-size            24 / 16 (stage 1 / 2)     16 / 16\n"
    "  grad-accum            2                         2\n"
    "  epochs                2                         2\n"
    "  lr                    0.0003                    0.0003\n"
    "  sampler               cycle                     once\n"
    "  warmup                per-epoch                 ratio\n"
    "  max-grad-norm         0.0                       1.0\n"
    "  decay                 all                       matrices\n"
    "  weight-decay          0.01                      0.01\n"
    "  tlw                   official                  paper\n"
    "  stage1-input          bos-image                 prompt\n"
    "  prompt-tokenization   one-string                segments\n"
    "  report-text           r2gen                     raw\n"
    "  target-max-tokens     100                       0\n"
    "  prior-padding         attended                  masked\n"
    "  num-queries           128                       32\n"
    "  query-init-std        0.02                      8.0\n"
    "  lora-r                32                        32\n"
    "  lora-alpha            64                        64\n"
    "  lora-target-modules   q_proj,v_proj             q_proj,v_proj\n"
    "  train-decoder         false                     true\n"
    "  dtype                 bfloat16                  float32"
)
