"""Reading what a run wrote: `rg4 score` summaries and `rg4 train` model directories.

Records and references are read with records.streams (one error policy for every command);
this module holds the two JSON inputs the other commands never read back. A file that is
not what its option says is an InputError naming it; a part that is merely absent (a model
directory without its loss log) becomes a note on the page.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rg4cli.errors import InputError

TRAIN_CONFIG = "train_config.json"
TRAIN_SUMMARY = "train_summary.json"
LOSS_LOG = "metrics.jsonl"
# Files that change while a directory is read back or that do not make the model.
_NOT_DIGESTED = {"checkpoints", LOSS_LOG, TRAIN_SUMMARY}


@dataclass
class ScoreInput:
    name: str
    path: str
    summary: dict


@dataclass
class TrainInput:
    name: str
    path: str
    config: dict
    summary: dict
    losses: list[tuple[int, float]] = field(default_factory=list)
    val: list[tuple[int, float]] = field(default_factory=list)
    digest: str | None = None

    @property
    def stage(self) -> str:
        task = self.config.get("task") or self.summary.get("task") or "?"
        stage = (self.config.get("task_config") or {}).get("stage")
        return f"{task} stage {stage}" if stage is not None else str(task)


def _read_json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"no such file ({what})", source=str(path)) from None
    except IsADirectoryError:
        raise InputError(f"is a directory; expected {what}", source=str(path)) from None
    except UnicodeDecodeError:
        raise InputError(f"not UTF-8 text; expected {what}", source=str(path)) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON ({exc.msg}); expected {what}", source=str(path), line=exc.lineno) from None


def read_score(spec: str) -> ScoreInput:
    """`PATH` or `NAME=PATH`: one `rg4 score` summary (the name defaults to the file's stem)."""
    name, sep, path = spec.partition("=")
    if not sep or not name or Path(spec).exists():
        name, path = "", spec
    p = Path(path)
    summary = _read_json(p, "a `rg4 score` summary")
    if not isinstance(summary, dict) or not isinstance(summary.get("overall"), dict):
        raise InputError("not a `rg4 score` summary (no `overall` block); pass the JSON `rg4 score` wrote", source=path)
    if not name:
        name = p.name.removesuffix(".json").removeprefix("score.")
    return ScoreInput(name, path, summary)


def read_train(spec: str) -> tuple[TrainInput, list[str]]:
    """A model directory of `rg4 train` (or the summary it printed, which names the directory)."""
    notes: list[str] = []
    p = Path(spec)
    printed: dict = {}
    if p.is_file():
        printed = _read_json(p, "a model directory of `rg4 train` or the summary it printed")
        if not isinstance(printed, dict) or not isinstance(printed.get("out_dir"), str):
            raise InputError("not a `rg4 train` summary (no `out_dir`); pass the model directory", source=spec)
        d = Path(printed["out_dir"])
        if not d.is_dir():  # the summary was moved with its directory beside it
            d = p.parent / Path(printed["out_dir"]).name
    elif p.is_dir():
        d = p
    else:
        raise InputError("no such file or directory (a model directory of `rg4 train`)", source=spec)
    config_path, summary_path = d / TRAIN_CONFIG, d / TRAIN_SUMMARY
    if not config_path.is_file() and not printed:
        raise InputError(f"no {TRAIN_CONFIG}: not a model directory written by `rg4 train`", source=str(d))
    config = _read_json(config_path, TRAIN_CONFIG) if config_path.is_file() else {}
    summary = _read_json(summary_path, TRAIN_SUMMARY) if summary_path.is_file() else printed
    if not isinstance(config, dict) or not isinstance(summary, dict):
        raise InputError("expected a JSON object", source=str(config_path))
    if not summary_path.is_file() and not printed:
        notes.append(f"{d}: no {TRAIN_SUMMARY} (a run that did not finish?)")
    losses, val = _read_losses(d / LOSS_LOG, notes)
    name = d.name if d.name not in ("", ".") else str(d)
    return TrainInput(name, str(d), config, summary, losses, val, model_digest(d)), notes


def _read_losses(path: Path, notes: list[str]) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    losses: list[tuple[int, float]] = []
    val: list[tuple[int, float]] = []
    if not path.is_file():
        notes.append(f"{path}: missing, so no loss curve for this stage")
        return losses, val
    bad = 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            if not isinstance(rec, dict) or not isinstance(rec.get("step"), int):
                continue
            if isinstance(rec.get("loss"), (int, float)):
                losses.append((rec["step"], float(rec["loss"])))
            metrics = rec.get("val")
            if isinstance(metrics, dict) and isinstance(metrics.get("loss"), (int, float)):
                val.append((rec["step"], float(metrics["loss"])))
    if bad:
        notes.append(f"{path}: {bad} line(s) that are not JSON were left out of the loss curve")
    return losses, val


def model_digest(directory: Path) -> str | None:
    """SHA-256 over the model's files (names and contents, sorted), logs and checkpoints left out."""
    files = sorted(
        f
        for f in directory.rglob("*")
        if f.is_file() and f.relative_to(directory).parts[0] not in _NOT_DIGESTED and not f.name.startswith(".")
    )
    if not files:
        return None
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(directory).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()[:16]
