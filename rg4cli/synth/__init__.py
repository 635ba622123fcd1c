"""rg4 synth: phantom studies, reports and images (MIMIC-CXR-JPG or IU X-ray layout).

`synthesize(SynthSettings(output=...))` writes the tree in one call; `generate_studies`
and the tree writers (synth.mimic, synth.iu) are the parts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rg4cli.errors import InputError

LAYOUTS = ("mimic", "iu")

__all__ = ["LAYOUTS", "SynthSettings", "synthesize"]


@dataclass
class SynthSettings:
    """What `rg4 synth` writes (docs/datasets.md "rg4 synth")."""

    output: Path
    subjects: int = 20
    studies_per_subject: int = 5
    image_size: int = 128
    image_format: str = ""  # default: jpeg, png for the iu layout
    layout: str = "mimic"
    seed: int = 0
    force: bool = False

    def check(self) -> SynthSettings:
        if self.subjects < 1:
            raise InputError(f"must be at least 1, got {self.subjects}", field="--subjects")
        if self.studies_per_subject < 1:
            raise InputError(f"must be at least 1, got {self.studies_per_subject}", field="--studies-per-subject")
        if not 32 <= self.image_size <= 1024:
            raise InputError(f"must be between 32 and 1024, got {self.image_size}", field="--image-size")
        if self.layout not in LAYOUTS:
            raise InputError(f"must be mimic or iu, got {self.layout!r}", field="--layout")
        from rg4cli.synth.images import IMAGE_FORMATS  # numpy/scipy: loaded when synth runs, not at CLI start

        self.image_format = self.image_format or ("png" if self.layout == "iu" else "jpeg")
        if self.image_format not in IMAGE_FORMATS:
            raise InputError(
                f"must be one of {', '.join(IMAGE_FORMATS)}, got {self.image_format!r}", field="--image-format"
            )
        out = Path(self.output)
        if out.exists() and not out.is_dir():
            raise InputError("exists and is not a directory", source=str(out), field="--output")
        if out.is_dir() and any(out.iterdir()) and not self.force:
            raise InputError("directory is not empty (use --force to write into it)", source=str(out), field="--output")
        return self


def synthesize(settings: SynthSettings) -> dict:
    """Write the phantom tree `settings` describes; return its counts (subjects, studies, images)."""
    from rg4cli.synth.mimic import write_mimic_tree
    from rg4cli.synth.studies import generate_studies

    s = settings.check()
    studies = generate_studies(
        s.subjects, seed=s.seed, image_size=s.image_size, max_studies_per_subject=s.studies_per_subject
    )
    if s.layout == "iu":
        from rg4cli.synth.iu import write_iu_tree

        return write_iu_tree(Path(s.output), studies, s.image_format)
    return write_mimic_tree(Path(s.output), studies, s.image_format)
