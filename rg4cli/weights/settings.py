"""What `rg4 weights` is told: the stage's settings and the weighting knobs (no torch: the CLI
reads its defaults from here when it starts)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rg4cli.errors import InputError
from rg4cli.paper import TLW_LAMBDA, TLW_THRESHOLD
from rg4cli.records.study import resolve_text_field

BACKENDS = ("ig", "rules")
BASELINES = ("pad", "zero")
NORMALIZATIONS = ("label", "report")
METHODS = ("gausslegendre", "trapezoid", "riemann_middle")  # IG quadratures (weights.attribution)


@dataclass
class WeightingOptions:
    """How attributions become sentence weights (WeighSettings.weighting; the knobs of paper Alg. 1)."""

    threshold: float = TLW_THRESHOLD
    lam: float = TLW_LAMBDA
    sigma: float = 1.0
    steps: int = 50
    method: str = "gausslegendre"
    baseline: str = "pad"
    normalize: str = "label"
    absolute: bool = False

    def check(self) -> WeightingOptions:
        if self.steps < 1:
            raise InputError(f"--steps must be at least 1, got {self.steps}")
        if self.sigma < 0:
            raise InputError(f"--sigma must be 0 (off) or positive, got {self.sigma}")
        if self.lam <= 0:
            raise InputError(f"--lam must be positive, got {self.lam}")
        for name, value, choices in (
            ("method", self.method, METHODS),
            ("baseline", self.baseline, BASELINES),
            ("normalize", self.normalize, NORMALIZATIONS),
        ):
            if value not in choices:
                raise InputError(f"--{name} must be one of {', '.join(choices)}, got {value!r}")
        if self.method == "trapezoid" and self.steps < 2:
            raise InputError("--method trapezoid needs --steps 2 or more")
        return self

    def meta(self, backend: str) -> dict[str, Any]:
        if backend == "rules":
            return {"backend": "rules", "lam": self.lam}
        return {"backend": backend, **asdict(self)}


@dataclass
class WeighSettings:
    """What `rg4 weights` does: the backend, its labeler, the text, and the weighting knobs."""

    backend: str = "auto"  # ig, rules, or auto: ig when `labeler_model` is given, else rules
    labeler_model: str | None = None  # ig: an `rg4 train --task labeler` directory or the official chexbert.pth
    labeler_bert: str | None = None  # bert-base-uncased directory for an official chexbert.pth
    text: str = "auto"
    batch_size: int = 128  # interpolated sequences per IG forward pass
    device: str = "auto"
    on_error: str = "fail"
    resume: bool = False  # keep the records already in the output, pass over their ids
    weighting: WeightingOptions = field(default_factory=WeightingOptions)

    def resolved_backend(self) -> str:
        return ("ig" if self.labeler_model else "rules") if self.backend == "auto" else self.backend

    def check(self) -> WeighSettings:
        if self.backend not in (*BACKENDS, "auto"):
            raise InputError(f"--backend must be ig, rules or auto, got {self.backend!r}")
        if self.resolved_backend() == "ig" and not self.labeler_model:
            raise InputError(
                "--backend ig needs --labeler-model: a BERT labeler directory (train one with "
                "`rg4 train --task labeler -o labeler/`) or the official chexbert.pth with "
                "--labeler-bert DIR; or use --backend rules"
            )
        if self.batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {self.batch_size}")
        resolve_text_field({}, self.text)  # --text is one of TEXT_FIELDS
        self.weighting.check()
        return self
