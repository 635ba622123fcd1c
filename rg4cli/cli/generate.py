"""`rg4 generate`: studies in, reports out (thin layer over rg4cli.generation.run)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rg4cli import paper
from rg4cli.cli.common import (
    AllowOutsideImageRootOpt,
    DeviceOpt,
    ImageRootOpt,
    InputArg,
    OnErrorOpt,
    OutputOpt,
    ResumeOpt,
    SeedOpt,
    handle_errors,
    log,
)
from rg4cli.generation import GenerateSettings
from rg4cli.images import ImageRoot

G = GenerateSettings


@handle_errors
def generate(
    input: InputArg = "-",
    model: Annotated[
        Path,
        typer.Option(
            "--model",
            "-m",
            help="Model dir written by rg4 train (rg4_model.json, fusion.safetensors, adapter/).",
            show_default=False,
        ),
    ] = None,
    image_root: ImageRootOpt = None,
    allow_outside_image_root: AllowOutsideImageRootOpt = False,
    output: OutputOpt = None,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", help="Most tokens generated per report.")
    ] = paper.MAX_NEW_TOKENS,
    min_new_tokens: Annotated[
        int | None,
        typer.Option(
            "--min-new-tokens",
            help="Fewest tokens before EOS may end a report [default: the paper's 50, or --max-new-tokens when smaller].",
            show_default=False,
        ),
    ] = None,
    num_beams: Annotated[int, typer.Option("--num-beams", help="Beam width (1 = greedy).")] = paper.NUM_BEAMS,
    repetition_penalty: Annotated[
        float, typer.Option("--repetition-penalty", help="Penalty on repeated tokens.")
    ] = paper.REPETITION_PENALTY,
    length_penalty: Annotated[
        float, typer.Option("--length-penalty", help="Beam length penalty (>1 favours long).")
    ] = paper.LENGTH_PENALTY,
    sections: Annotated[
        str,
        typer.Option(
            "--sections",
            help="Sections to ask for. reference: those the record's "
            "findings/impression have (both when it has none), as the released test "
            "code asks; or both, findings, impression for every study.",
        ),
    ] = G.sections,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Studies per batch (each batch is one setting).")
    ] = G.batch_size,
    device: DeviceOpt = G.device,
    dtype: Annotated[
        str,
        typer.Option(
            "--dtype", help="auto (bf16 on CUDA for the paper preset, else float32), float32, bfloat16, float16."
        ),
    ] = G.dtype,
    seed: SeedOpt = G.seed,
    resume: ResumeOpt = G.resume,
    on_error: OnErrorOpt = G.on_error,
    trust_remote_code: Annotated[
        bool,
        typer.Option(
            "--trust-remote-code",
            help="Allow a model dir whose encoders need remote code (never needed for RAD-DINO / CXR-BERT).",
        ),
    ] = G.trust_remote_code,
) -> None:
    """Generate reports for studies.

    Reads JSONL study records (id, frontal, optional view, lateral, prior_report,
    indication, history; images relative to --image-root) and writes each record back
    with `report` ("findings: … impression: …"), `findings`, `impression`, `setting`
    (sn/sw/mn/mw, from the inputs) and `gen` {input_tokens, new_tokens} added.
    Output order = input order; batches hold one setting; --resume continues -o FILE.
    Decoding defaults are the official test script's (beam 3, repetition 2.0, length
    2.0, 50-200 new tokens). Several GPUs or nodes: `accelerate launch -m rg4cli
    generate …` shards the input and merges it in order.

    \b
    Example:
      rg4 generate test.jsonl --model stage2/ --image-root mimic/ | rg4 score --ref test.jsonl
    """
    from rg4cli.errors import InputError
    from rg4cli.generation import generate_records
    from rg4cli.model import DecodeOptions

    if model is None:
        raise InputError("--model DIR is required (a model dir written by rg4 train)")
    if min_new_tokens is None:
        min_new_tokens = min(paper.MIN_NEW_TOKENS, max_new_tokens)
    elif min_new_tokens > max_new_tokens:
        raise InputError(
            f"--min-new-tokens {min_new_tokens} is more than --max-new-tokens {max_new_tokens}: "
            "no report could keep both; lower one"
        )
    settings = GenerateSettings(
        model_dir=model,
        image_root=ImageRoot.of(image_root, allow_outside_image_root),
        decode=DecodeOptions(
            num_beams=num_beams,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            repetition_penalty=repetition_penalty,
            length_penalty=length_penalty,
        ),
        batch_size=batch_size,
        device=device,
        dtype=dtype,
        seed=seed,
        resume=resume,
        on_error=on_error,
        sections=sections,
        trust_remote_code=trust_remote_code,
    )
    summary = generate_records(input, output, settings, log=log)
    from accelerate import PartialState

    if PartialState().is_main_process:
        log(f"rg4 generate: {summary.line()}")
