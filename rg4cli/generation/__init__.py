"""rg4 generate: studies in, reports out.

Library entry: `generate_records(input, output, GenerateSettings(model_dir=...))`
(the same run as `rg4 generate`, generation.run.run_generate) returns a
`GenerateSummary`. Each written record is the input record with the new report and
without the input text's annotations (records.provenance.drop_annotations_of).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rg4cli.generation.run import GenerateSummary

__all__ = ["GenerateSettings", "GenerateSummary", "generate_records", "run_generate"]


@dataclass
class GenerateSettings:
    """What `rg4 generate` does (the options of run_generate)."""

    model_dir: str | os.PathLike
    image_root: str | os.PathLike | None = None
    decode: Any = None  # model.DecodeOptions; None: DecodeOptions(), the released test script's beam 3
    batch_size: int = 8
    device: str = "auto"
    dtype: str = "auto"
    seed: int = 0
    resume: bool = False
    on_error: str = "fail"
    sections: str = "reference"  # vocab.SECTION_REQUESTS: the record's own sections, as the released test code asks
    trust_remote_code: bool = False
    window: int | None = None


def generate_records(
    input: str | os.PathLike | None,
    output: str | os.PathLike | None,
    settings: GenerateSettings,
    *,
    log: Callable[[str], None] | None = None,
    model=None,
) -> GenerateSummary:
    """Generate a report for every study of `input` into `output`; `model`: an already loaded model."""
    from rg4cli.generation.run import run_generate  # torch loads here, not when the CLI reads the defaults

    options = {f.name: getattr(settings, f.name) for f in fields(settings)}
    return run_generate(input, output, log=log, model=model, **options)


def __getattr__(name: str):
    # run_generate and GenerateSummary load torch: imported on first use, so that the CLI can
    # read GenerateSettings' defaults at start-up without it.
    if name in ("run_generate", "GenerateSummary"):
        from rg4cli.generation import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
