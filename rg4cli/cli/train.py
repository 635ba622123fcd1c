"""`rg4 train`: options -> rg4cli.training.settings.TrainSettings -> run_train. An unset recipe
option takes the preset's value (docs/design.md "Presets": `--preset paper` = the released code's recipe)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Annotated

import typer

from rg4cli.cli.common import AllowOutsideImageRootOpt, ImageRootOpt, OnErrorOpt, SeedOpt, TextOpt, handle_errors, log
from rg4cli.paper import TLW_LAMBDA
from rg4cli.training.settings import PRESETS_HELP, TrainSettings

_P = ' Default: the preset\'s (docs/design.md "Presets").'


def _opt(name: str, help: str, preset_default: bool = False):
    return typer.Option(name, help=help + (_P if preset_default else ""), show_default=not preset_default)


def _main_process_log(message: str) -> None:
    from rg4cli.training.engine import process_state

    if process_state().is_main_process:
        log(message)


@handle_errors
def train(
    train_file: Annotated[
        str | None,
        typer.Argument(
            help="Training records (JSONL, .gz too); read once per run, so a file, not stdin.", show_default=False
        ),
    ] = TrainSettings.train_file,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Model directory to write (created). It also holds checkpoints/, metrics.jsonl, "
            "train_config.json and train_summary.json.",
        ),
    ] = TrainSettings.output,
    task: Annotated[
        str,
        _opt(
            "--task",
            "generator: the report generator (stage 1/2). labeler: CheXbert-shaped "
            "BERT on `labels` (for `rg4 label --backend chexbert`, `rg4 weights`). discbert: BERT with 4 binary heads "
            "on `hallucination` flags (for `rg4 hallucination --backend discbert`). decoder: the tiny preset's decoder "
            "pretrained as a language model on the report text (for `--task generator --decoder DIR`). import: no "
            "training: the released LLM-RG4 (with --preset paper) or DiscBERT (with --bert) checkpoint given as --init "
            "FILE becomes an rg4 model dir.",
        ),
    ] = TrainSettings.task,
    preset: Annotated[
        str,
        _opt(
            "--preset",
            "paper: the paper's components (RAD-DINO, CXR-BERT, Vicuna-7B from "
            "local paths/cache; classifiers: BERT-base shape) and the released code's training recipe. tiny: small "
            "random-initialised components that train on a CPU, with rg4's recipe.",
        ),
    ] = TrainSettings.preset,
    fusion: Annotated[
        str, _opt("--fusion", "atf (adaptive token fusion) or interleaved (every modality's tokens in the prompt).")
    ] = TrainSettings.fusion,
    stage: Annotated[
        int,
        _opt(
            "--stage",
            "Generator stage. 1: fusion path only, on sn records, decoder frozen. "
            "2: fusion + LoRA on all settings (needs --init STAGE1_DIR).",
        ),
    ] = TrainSettings.stage,
    init: Annotated[
        Path | None,
        _opt(
            "--init",
            "Start from this model directory (generator stage 2: the "
            "stage-1 output; classifiers: an rg4 classifier directory, a public checkpoint file, or a pretrained BERT "
            "directory to put new heads on).",
        ),
    ] = TrainSettings.init,
    image_root: ImageRootOpt = TrainSettings.image_root,
    allow_outside_image_root: AllowOutsideImageRootOpt = TrainSettings.allow_outside_image_root,
    bert: Annotated[
        str | None,
        _opt(
            "--bert",
            "bert-base-uncased directory (config + vocab) of a released "
            "DiscBERT or CheXbert checkpoint given as --init (--task import, discbert, labeler).",
        ),
    ] = TrainSettings.bert,
    image_encoder: Annotated[
        str | None,
        _opt(
            "--image-encoder", "--preset paper: image encoder directory or cached hub id (default microsoft/rad-dino)."
        ),
    ] = TrainSettings.image_encoder,
    text_encoder: Annotated[
        str | None,
        _opt(
            "--text-encoder",
            "--preset paper: text encoder (and tokenizer) "
            "directory or cached hub id (default microsoft/BiomedVLP-CXR-BERT-specialized).",
        ),
    ] = TrainSettings.text_encoder,
    decoder: Annotated[
        str | None,
        _opt(
            "--decoder",
            "Decoder LLM (and tokenizer): directory or cached hub id. "
            "paper: default lmsys/vicuna-7b-v1.5. tiny: a `rg4 train --task decoder` directory (copied in).",
        ),
    ] = TrainSettings.decoder,
    epochs: Annotated[int | None, _opt("--epochs", "Passes over the training data.", True)] = TrainSettings.epochs,
    max_steps: Annotated[
        int | None,
        _opt("--max-steps", "Stop after this many optimizer steps (overrides --epochs; the schedule spans them)."),
    ] = TrainSettings.max_steps,
    batch_size: Annotated[
        int | None, _opt("--batch-size", "Examples per micro-batch and process.", True)
    ] = TrainSettings.batch_size,
    grad_accum: Annotated[
        int | None, _opt("--grad-accum", "Micro-batches per optimizer step.", True)
    ] = TrainSettings.grad_accum,
    lr: Annotated[
        float | None,
        _opt(
            "--lr",
            "Peak learning rate of AdamW (cosine schedule after the warm-up). "
            "Default 3e-4 (decoder 3e-3; 2e-5 when fine-tuning a classifier from --init).",
        ),
    ] = TrainSettings.lr,
    fusion_lr: Annotated[
        float | None,
        _opt(
            "--fusion-lr",
            "Generator: peak learning rate of the fusion module "
            "(default: --lr; the tiny demo trains its fusion slower than the LoRA).",
        ),
    ] = TrainSettings.fusion_lr,
    sampler: Annotated[
        str | None,
        _opt(
            "--sampler",
            "Batches per epoch (generator; decoder: once or length). "
            "cycle: rounds of one batch per setting (sn, sw, mn, mw), each setting repeated up to the size of the largest (the released "
            "sampler). once: every example once, batches shuffled. length: once, each batch from examples of "
            "similar token length (less padding; transformers' group_by_length).",
            True,
        ),
    ] = TrainSettings.sampler,
    warmup: Annotated[
        str | None,
        _opt(
            "--warmup",
            "Linear warm-up length. per-epoch: int(0.1 x total / epochs) steps (released). ratio: 10% of all steps.",
            True,
        ),
    ] = TrainSettings.warmup,
    max_grad_norm: Annotated[
        float | None,
        _opt("--max-grad-norm", "Clip the gradient norm at this value; 0 = no clipping (released).", True),
    ] = TrainSettings.max_grad_norm,
    decay: Annotated[
        str | None,
        _opt(
            "--decay",
            "AdamW weight decay 0.01 on: all parameters (released) or matrices (not norms, biases, vectors).",
            True,
        ),
    ] = TrainSettings.decay,
    stage1_input: Annotated[
        str | None,
        _opt(
            "--stage1-input",
            "Stage-1 LLM input. bos-image: BOS + the "
            "frontal block's tokens, no prompt; the fusion projection first trains in stage 2 (released). prompt: the "
            "full prompt; stage 1 trains the projection too.",
            True,
        ),
    ] = TrainSettings.stage1_input,
    prompt_tokenization: Annotated[
        str | None,
        _opt(
            "--prompt-tokenization",
            "one-string: each prompt piece tokenized whole (released ids). segments: fixed words and context apart.",
            True,
        ),
    ] = TrainSettings.prompt_tokenization,
    report_text: Annotated[
        str | None,
        _opt("--report-text", "r2gen: target and prior report R2Gen-cleaned (released). raw: as written.", True),
    ] = TrainSettings.report_text,
    target_max_tokens: Annotated[
        int | None,
        _opt(
            "--target-max-tokens",
            "Cut the answer at this many LLM tokens, its BOS included (released: 100); 0 = uncut.",
            True,
        ),
    ] = TrainSettings.target_max_tokens,
    prior_padding: Annotated[
        str | None,
        _opt(
            "--prior-padding", "The prior block over the text encoder's padding: attended (released) or masked.", True
        ),
    ] = TrainSettings.prior_padding,
    checkpoint_every: Annotated[
        int,
        _opt(
            "--checkpoint-every",
            "Save a resumable checkpoint every N optimizer steps (0: none; the last two are kept).",
        ),
    ] = TrainSettings.checkpoint_every,
    resume: Annotated[
        bool,
        _opt(
            "--resume",
            "Continue the run in -o DIR from its newest checkpoint: weights, "
            "optimizer, schedule, data position and random state, so the result equals an uninterrupted run.",
        ),
    ] = TrainSettings.resume,
    seed: SeedOpt = TrainSettings.seed,
    val: Annotated[
        Path | None,
        _opt(
            "--val",
            "Held-out JSONL: validated after every epoch (or --val-every "
            "steps), asking for the sections each reference has; -o DIR keeps the best weights (generator: CE F1 + "
            "BLEU-4; classifiers: F1 + accuracy), the last ones go to DIR/last.",
        ),
    ] = TrainSettings.val,
    val_every: Annotated[
        int, _opt("--val-every", "Validate every N optimizer steps instead of per epoch.")
    ] = TrainSettings.val_every,
    val_limit: Annotated[
        int | None, _opt("--val-limit", "Generator: validate on the first N distinct studies of --val only.")
    ] = TrainSettings.val_limit,
    val_max_new_tokens: Annotated[
        int | None,
        _opt(
            "--val-max-new-tokens",
            "Generator validation: at most this many new tokens per report (default: `rg4 generate`'s 200).",
        ),
    ] = TrainSettings.val_max_new_tokens,
    tlw: Annotated[
        str | None,
        _opt(
            "--tlw",
            "Token-level loss weighting from `sentence_weights`. official: the "
            "released loss, mean CE + (λ-1) x mean CE of the weighted tokens. paper: eq. 10, c_j in {1, λ}, mean over "
            "target tokens. off.",
            True,
        ),
    ] = TrainSettings.tlw,
    lam: Annotated[
        float | None,
        _opt(
            "--lam",
            f"λ for the emphasised sentences (weight > 1); default: the weights as `rg4 weights` wrote them ({TLW_LAMBDA}).",
        ),
    ] = TrainSettings.lam,
    input_settings: Annotated[
        str | None,
        _opt("--settings", "Generator stage 2: train on these settings only, comma-separated (e.g. sn,mw)."),
    ] = TrainSettings.input_settings,
    no_cache: Annotated[
        bool, _opt("--no-cache", "Run the frozen encoders on every batch instead of caching their outputs.")
    ] = TrainSettings.no_cache,
    cache_dir: Annotated[
        Path | None,
        _opt("--cache-dir", "Encoder feature cache (default $RG4_CACHE or ~/.cache/rg4/encoder-features)."),
    ] = TrainSettings.cache_dir,
    text: TextOpt = TrainSettings.text,
    precision: Annotated[
        str, _opt("--precision", "auto (bf16 on a GPU that has it, else fp32), no, bf16 or fp16.")
    ] = TrainSettings.precision,
    on_error: OnErrorOpt = TrainSettings.on_error,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = TrainSettings.quiet,
) -> None:
    """Train the generator (stage 1 or 2) or a BERT classifier; write a model directory.

    Reads training records (JSONL); writes -o DIR: the model (`rg4 generate --model DIR`,
    `rg4 label --backend chexbert --labeler-model DIR` or `rg4 hallucination --backend discbert
    --judge-model DIR` read it), checkpoints/ for --resume, metrics.jsonl (one line per step and
    per validation) and train_summary.json. Prints the summary as JSON on stdout.
    `--preset paper` defaults to the released code's recipe, `--preset tiny` to rg4's (docs/design.md
    "Presets" lists every difference; each is an option here). Runs on one device as is and
    on many with `accelerate launch -m rg4cli train ...` (several CPU processes: `accelerate
    launch --multi_gpu --num_processes N -m rg4cli train ...` joins them in a gloo group).

    \b
    Example:
      rg4 label train.jsonl | rg4 weights > train.w.jsonl
      rg4 train --preset paper --stage 1 --image-root mimic/ -o stage1/ train.w.jsonl
      rg4 train --preset paper --stage 2 --init stage1/ --image-root mimic/ --val val.jsonl -o stage2/ train.w.jsonl
      rg4 generate --model stage2/ --image-root mimic/ test.jsonl | rg4 score --ref test.jsonl
    """
    options = dict(locals())
    from rg4cli.records.streams import dumps_json
    from rg4cli.training.settings import run_train

    summary = run_train(TrainSettings(**options), log=_main_process_log)
    if summary:
        typer.echo(dumps_json(summary))


train.__doc__ = (
    train.__doc__.rstrip() + "\n\n" + textwrap.indent(PRESETS_HELP, "    ")
)  # the table in --help and rg4-train(1)
