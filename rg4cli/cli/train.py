"""`rg4 train`: train the generator (stage 1 / stage 2) or one of the BERT classifiers."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from rg4cli.errors import InputError
from rg4cli.cli.common import AllowOutsideImageRootOpt, ImageRootOpt, OnErrorOpt, SeedOpt, TextOpt, handle_errors, log
from rg4cli.images import ImageRoot

TASKS = ("generator", "labeler", "discbert", "decoder", "import")


def _main_process_log(message: str) -> None:
    from rg4cli.training.engine import process_state

    if process_state().is_main_process:
        log(message)


@handle_errors
def train(
    train_file: Annotated[Optional[str], typer.Argument(
        help="Training records (JSONL, .gz too); read once per run, so a file, not stdin.", show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Model directory to write (created). It also holds checkpoints/, metrics.jsonl, "
        "train_config.json and train_summary.json.")] = None,
    task: Annotated[str, typer.Option(
        "--task", help="generator: the report generator (stage 1/2). labeler: CheXbert-shaped BERT on `labels` "
        "(for `rg4 label --backend chexbert`, `rg4 weights`). discbert: BERT with 4 binary heads on "
        "`hallucination` flags (for `rg4 hallucination --backend discbert`). decoder: the tiny preset's "
        "decoder pretrained as a language model on the records' report text, a stand-in for the paper's "
        "pretrained LLM (for `--task generator --decoder DIR`). import: no training: the released LLM-RG4 or "
        "DiscBERT checkpoint given as --init FILE becomes an rg4 model dir (LLM-RG4: with --preset paper; "
        "DiscBERT: with --bert).")] = "generator",
    preset: Annotated[str, typer.Option(
        "--preset", help="tiny: small random-initialised components that train on a CPU. paper: the paper's "
        "components (generator: RAD-DINO, CXR-BERT, Vicuna-7B from local paths/cache; classifiers: BERT-base "
        "shape).")] = "tiny",
    fusion: Annotated[str, typer.Option("--fusion", help="Generator input design: atf (adaptive token fusion) "
                                        "or interleaved (all modality tokens in the prompt).")] = "atf",
    stage: Annotated[int, typer.Option("--stage", help="Generator stage. 1: fusion path only, on sn records, "
                                       "decoder frozen. 2: fusion + LoRA on all settings (needs --init "
                                       "STAGE1_DIR).")] = 1,
    init: Annotated[Optional[Path], typer.Option(
        "--init", help="Start from this model directory (generator stage 2: the stage-1 output; classifiers: an "
        "rg4 classifier directory, a public checkpoint file, or a pretrained BERT directory to put new heads "
        "on).")] = None,
    bert: Annotated[Optional[str], typer.Option(
        "--bert", help="bert-base-uncased directory (config + vocab) of a released DiscBERT or CheXbert "
        "checkpoint given as --init (--task import, discbert, labeler).",
        show_default=False)] = None,
    image_root: ImageRootOpt = None,
    allow_outside_image_root: AllowOutsideImageRootOpt = False,
    image_encoder: Annotated[Optional[str], typer.Option(
        "--image-encoder", help="--preset paper: image encoder directory or cached hub id (default "
        "microsoft/rad-dino).")] = None,
    text_encoder: Annotated[Optional[str], typer.Option(
        "--text-encoder", help="--preset paper: text encoder (and its tokenizer) directory or cached hub id "
        "(default microsoft/BiomedVLP-CXR-BERT-specialized).")] = None,
    decoder: Annotated[Optional[str], typer.Option(
        "--decoder", help="Decoder LLM (and its tokenizer): directory or cached hub id. --preset paper: default "
        "lmsys/vicuna-7b-v1.5. --preset tiny: a `rg4 train --task decoder` directory instead of a random "
        "decoder (copied into the model dir).")] = None,
    epochs: Annotated[int, typer.Option("--epochs", help="Passes over the training data.")] = 2,
    max_steps: Annotated[Optional[int], typer.Option(
        "--max-steps", help="Stop after this many optimizer steps (overrides --epochs; the schedule spans "
        "them).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Examples per micro-batch and process.")] = 16,
    grad_accum: Annotated[int, typer.Option("--grad-accum", help="Micro-batches per optimizer step.")] = 2,
    lr: Annotated[Optional[float], typer.Option(
        "--lr", help="Peak learning rate of AdamW (cosine schedule, 10% linear warm-up). Default 3e-4; 2e-5 "
        "when fine-tuning a classifier from --init.")] = None,
    fusion_lr: Annotated[Optional[float], typer.Option(
        "--fusion-lr", help="--task generator: peak learning rate of the fusion module (default: --lr). The tiny "
        "demo trains its fusion slower than the LoRA so it keeps the images apart while the decoder learns.")] = None,
    checkpoint_every: Annotated[int, typer.Option(
        "--checkpoint-every", help="Save a resumable checkpoint every N optimizer steps (0: none; the last two "
        "are kept).")] = 500,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the run in -o DIR from its newest checkpoint: weights, optimizer, schedule, "
        "data position and random state, so the result equals an uninterrupted run.")] = False,
    seed: SeedOpt = 0,
    val: Annotated[Optional[Path], typer.Option(
        "--val", help="Held-out JSONL: validated after every epoch (or --val-every steps); -o DIR keeps the best "
        "weights (generator: CE F1 + BLEU-4; classifiers: F1 + accuracy), the last ones go to DIR/last.")] = None,
    val_every: Annotated[int, typer.Option("--val-every", help="Validate every N optimizer steps instead of per "
                                           "epoch.")] = 0,
    val_limit: Annotated[Optional[int], typer.Option(
        "--val-limit", help="Generator: validate on the first N distinct studies of --val only.")] = None,
    val_max_new_tokens: Annotated[Optional[int], typer.Option(
        "--val-max-new-tokens", help="Generator validation: at most this many new tokens per report (default: "
        "the decoding defaults of `rg4 generate`, 200).")] = None,
    tlw: Annotated[str, typer.Option(
        "--tlw", help="Token-level loss weighting from `sentence_weights`: paper (c_j in {1, λ}, mean over "
        "target tokens), official (mean CE + (λ-1) x mean CE of weighted tokens, the released code), off.")
    ] = "paper",
    lam: Annotated[Optional[float], typer.Option(
        "--lam", help="λ for the emphasised sentences (weight > 1); default: the weights as `rg4 weights` "
        "wrote them (1.75).")] = None,
    settings: Annotated[Optional[str], typer.Option(
        "--settings", help="Generator stage 2: train on these settings only, comma-separated (e.g. sn,mw).")
    ] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Run the frozen encoders on every batch instead of caching their outputs.")] = False,
    cache_dir: Annotated[Optional[Path], typer.Option(
        "--cache-dir", help="Encoder feature cache (default $RG4_CACHE or ~/.cache/rg4/encoder-features).")
    ] = None,
    text: TextOpt = "auto",
    precision: Annotated[str, typer.Option("--precision", help="auto (bf16 on a GPU that has it, else fp32), "
                                           "no, bf16 or fp16.")] = "auto",
    on_error: OnErrorOpt = "fail",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train the generator (stage 1 or 2) or a BERT classifier; write a model directory.

    Reads training records (JSONL); writes -o DIR: the model (`rg4 generate --model DIR`,
    `rg4 label --backend chexbert --checkpoint DIR` or `rg4 hallucination --backend discbert
    --model DIR` read it), checkpoints/ for --resume, metrics.jsonl (one line per step and
    per validation) and train_summary.json. Prints the summary as JSON on stdout.
    Runs on one device as is and on many with `accelerate launch -m rg4cli train ...`
    (several CPU processes: `accelerate launch --multi_gpu --num_processes N -m rg4cli train
    ...` on a machine without GPUs joins them in a gloo group).

    \b
    Example:
      rg4 label train.jsonl | rg4 weights > train.w.jsonl
      rg4 train --stage 1 --image-root mimic/ -o stage1/ train.w.jsonl
      rg4 train --stage 2 --init stage1/ --image-root mimic/ --val val.jsonl -o stage2/ train.w.jsonl
      rg4 generate --model stage2/ --image-root mimic/ test.jsonl | rg4 score --ref test.jsonl
    """
    import json

    from rg4cli.training.engine import EngineConfig
    from rg4cli.training.engine import train as run_engine

    if task not in TASKS:
        raise InputError(f"--task must be one of {', '.join(TASKS)}, got {task!r}")
    if output is None:
        raise InputError("-o OUT_DIR is required (the model directory to write)")
    if output.exists() and not output.is_dir():
        raise InputError(f"-o {output}: exists and is not a directory")
    if task == "import":
        from rg4cli.model.official import import_released_checkpoint

        if init is None or train_file is not None:
            raise InputError("--task import takes the released checkpoint as --init FILE, and no training file")
        typer.echo(json.dumps(import_released_checkpoint(init, output, preset=preset, bert=bert, decoder=decoder,
                                                         image_encoder=image_encoder, text_encoder=text_encoder)))
        return
    if train_file in (None, "-"):
        raise InputError("give the training file as an argument (training reads it more than once, so not stdin)")
    if epochs < 1 or (max_steps is not None and max_steps < 1) or batch_size < 1 or grad_accum < 1:
        raise InputError("--epochs, --max-steps, --batch-size and --grad-accum must be positive")

    overrides: dict = {}
    if decoder is not None and preset == "tiny" and task == "generator" and init is None:
        overrides["decoder"] = overrides["tokenizer"] = decoder   # bundled: the model dir keeps a copy
        decoder = None
    for key, value in (("image_encoder", image_encoder), ("text_encoder", text_encoder), ("decoder", decoder)):
        if value is not None:
            if preset != "paper" or task != "generator" or init is not None:
                raise InputError(f"--{key.replace('_', '-')} applies to --task generator --preset paper without "
                                 "--init (a model directory names its own components)")
            overrides[key] = value
            overrides[{"text_encoder": "text_tokenizer", "decoder": "tokenizer"}.get(key, key)] = value

    if task == "generator":
        from rg4cli.training.generator import GeneratorTask

        engine_task = GeneratorTask(
            train_path=train_file, out_dir=output, preset=preset, fusion=fusion, stage=stage,
            init=str(init) if init else None, image_root=ImageRoot.of(image_root, allow_outside_image_root), batch_size=batch_size, tlw=tlw, lam=lam,
            settings=settings, use_cache=not no_cache, cache_dir=cache_dir, val_path=str(val) if val else None,
            val_limit=val_limit, val_max_new_tokens=val_max_new_tokens, on_error=on_error, model_overrides=overrides,
            seed=seed, log=_main_process_log)
        default_lr = 3e-4
        task_config = engine_task.describe()
    elif task == "decoder":
        from rg4cli.training.decoder_lm import DecoderLMTask

        for name, given in (("--settings", settings), ("--lam", lam), ("--fusion-lr", fusion_lr),
                            ("--init", init), ("--val", val)):
            if given is not None:
                raise InputError(f"{name} does not apply to --task decoder")
        engine_task = DecoderLMTask(train_file, output, preset=preset, batch_size=batch_size, on_error=on_error)
        default_lr = 3e-3
        task_config = engine_task.describe()
    else:
        from rg4cli.training.classifiers import ClassifierTask

        for name, given in (("--settings", settings), ("--lam", lam), ("--fusion-lr", fusion_lr)):
            if given is not None:
                raise InputError(f"{name} applies to --task generator only")
        engine_task = ClassifierTask(task, train_file, output, preset=preset, init=str(init) if init else None,
                                     batch_size=batch_size, text=text, val_path=str(val) if val else None,
                                     on_error=on_error, bert=bert)
        default_lr = 2e-5 if init else 3e-4
        task_config = {"preset": preset, "init": str(init) if init else None, "text": text}

    config = EngineConfig(
        out_dir=output, epochs=epochs, max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum,
        lr=lr if lr is not None else default_lr, fusion_lr=fusion_lr, checkpoint_every=checkpoint_every,
        resume=resume, seed=seed,
        mixed_precision=precision, val_every=val_every, progress=not quiet, task_config=task_config)
    from rg4cli.records.streams import DirLock, dumps_json
    from rg4cli.training.engine import process_state
    with DirLock(output) if process_state().is_main_process else contextlib.nullcontext():  # one writer per -o DIR
        result = run_engine(engine_task, config, log=_main_process_log)
    if hasattr(engine_task, "cache_stats") and not no_cache:
        stats = engine_task.cache_stats()
        _main_process_log("encoder cache (this process): " + ", ".join(
            f"{name} {s['hits']} hit(s), {s['misses']} computed" for name, s in stats.items()))

    from rg4cli.training.engine import process_state

    if process_state().is_main_process:
        summary = {"out_dir": str(output), "task": task, "steps": result.steps, "total_steps": result.total_steps,
                   "first_loss": result.first_loss, "final_loss": result.final_loss,
                   "best_score": result.best_score, "best_step": result.best_step,
                   "resumed_from": result.resumed_from, "seconds": round(result.seconds, 2)}
        typer.echo(dumps_json(summary))
