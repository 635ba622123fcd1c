"""The option types every command shares: one spelling per option across commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

InputArg = Annotated[
    str, typer.Argument(help="Input JSONL (.jsonl or .jsonl.gz); '-' or omitted reads stdin.", show_default=False)
]
OutputOpt = Annotated[
    str | None, typer.Option("--output", "-o", help="Write here instead of stdout ('.gz' compresses).")
]
OnErrorOpt = Annotated[
    str,
    typer.Option(
        "--on-error", help="fail: stop at the first bad record (exit 2); skip: skip it and count it on stderr."
    ),
]
ImageRootOpt = Annotated[
    Path | None,
    typer.Option(
        "--image-root",
        help="Directory that relative image paths are resolved against; "
        "images must lie inside it (see --allow-outside-image-root).",
    ),
]
AllowOutsideImageRootOpt = Annotated[
    bool,
    typer.Option(
        "--allow-outside-image-root",
        help="Let image paths leave --image-root (absolute paths, "
        "'..', symlinks); off by default so a record cannot make rg4 read other files.",
    ),
]
TextOpt = Annotated[
    str,
    typer.Option(
        "--text",
        help="Text to read: auto (report if present, else findings+impression), report, "
        "findings, impression, findings+impression.",
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (results are deterministic given it).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Keep the records already in -o FILE and skip their ids.")]
# An OpenAI-compatible endpoint (build-data's openai generator and judge, hallucination --backend openai).
BaseUrlOpt = Annotated[
    str | None,
    typer.Option("--base-url", help="openai: endpoint base URL, e.g. http://localhost:8000/v1.", show_default=False),
]
ModelNameOpt = Annotated[
    str | None, typer.Option("--model-name", help="openai: the model name the server serves.", show_default=False)
]
ApiKeyEnvOpt = Annotated[
    str,
    typer.Option(
        "--api-key-env",
        help="openai: environment variable holding the API key (never printed; may be unset for local servers).",
    ),
]


def llm_client_options(
    backend: str, base_url: str | None, model_name: str | None, api_key_env: str, **more
) -> dict | None:
    """The openai client's options for a judge or generator, None for other backends."""
    if backend != "openai":
        return None
    return {"base_url": base_url, "model_name": model_name, "api_key_env": api_key_env, **more}


def _classifier_options(role: str, model_help: str, official: str) -> tuple[Any, Any]:
    """--ROLE-model PATH and --ROLE-bert DIR: a BERT classifier and the BERT its official checkpoint needs."""
    model = Annotated[str | None, typer.Option(f"--{role}-model", help=model_help, show_default=False)]
    bert = Annotated[
        str | None,
        typer.Option(
            f"--{role}-bert",
            help=f"bert-base-uncased directory (config.json + vocab) for {official}.",
            show_default=False,
        ),
    ]
    return model, bert


# The BERT classifiers, spelled one way in every command: --labeler-model/--labeler-bert
# for the CheXbert-shaped labeler, --judge-model/--judge-bert for DiscBERT.
LabelerModelOpt, LabelerBertOpt = _classifier_options(
    "labeler",
    "BERT labeler: the official chexbert.pth (then also --labeler-bert) or a directory written by "
    "`rg4 train --task labeler`.",
    "an official chexbert.pth",
)
# How CheXbert's text is prepared (rg4cli.model.chexbert_input): the reference whose labels to reproduce.
ChexbertTextOpt = Annotated[
    str,
    typer.Option(
        "--chexbert-text",
        help="Text preparation for the CheXbert labeler: chexbert (the official label.py and f1chexbert: "
        "whitespace runs to one space, 511 tokens + [SEP], an empty report labelled from [CLS][SEP]) or "
        "llm-rg4 (LLM-RG4's evaluation code: newlines to spaces only).",
    ),
]
JudgeModelOpt, JudgeBertOpt = _classifier_options(
    "judge",
    "DiscBERT: a directory written by `rg4 train --task discbert`, or the official Lightning checkpoint "
    "(then also --judge-bert).",
    "the official DiscBERT checkpoint",
)
