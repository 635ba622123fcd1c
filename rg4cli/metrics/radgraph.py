"""RadGraph F1 rewards, as the radgraph package (PyPI 0.1.18) computes them from annotations.

An annotation is RadGraph's per-report dict: `{"entities": {id: {"tokens", "label",
"relations": [[relation, target_id], ...]}}}`. The three reward levels
(`radgraph.rewards.compute_reward`):

- `simple`: F1 of the sets of (tokens, label) over all entities;
- `partial`: entities without relations as (tokens, label); with relations as
  (tokens, label, True);
- `complete`: entities without relations as (tokens, label); each relation as
  (tokens, label, relation, target tokens).

P and R are over the two sets, F1 = 2PR/(P+R), 0 when P + R = 0; a report pair where either
side has no entity scores 0 on every level, and so does a pair with an empty text (the
package never annotates it).

Lower-casing: release 0.1.18 lower-cases the entity tokens only inside `complete`'s relation
tuples (entities without relations keep their case, and `simple`/`partial` compare tokens as
written). `lowercase="release"` (default) does exactly that; `lowercase="all"` lower-cases
every token on every level, which is what a fix on the package's development branch does
and no PyPI release has. docs/metrics-reference.md says which numbers this changes.

Annotating reports needs the RadGraph model (DyGIE++ over BERT, AllenNLP): rg4 runs the
radgraph package's own `RadGraph` on a local model directory, offline (`annotate`); the
model itself is not reimplemented here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rg4cli.errors import InputError

REWARD_LEVELS = ("simple", "partial", "complete")
LOWERCASE = ("release", "all")


def _case(tokens: str, lower: bool) -> str:
    return tokens.lower() if lower else tokens


def _candidates(annotation: dict, level: str, lowercase: str) -> set:
    every = lowercase == "all"
    entities = annotation["entities"]
    out: set = set()
    for entity in entities.values():
        tokens, label, relations = entity["tokens"], entity["label"], entity["relations"]
        if level == "simple" or not relations:
            out.add((_case(tokens, every), label))
        elif level == "partial":
            out.add((_case(tokens, every), label, True))
        else:
            out.update((tokens.lower(), label, rel[0], entities[rel[1]]["tokens"].lower()) for rel in relations)
    return out


def _f1(hyp: set, ref: set) -> float:
    precision = len(hyp & ref) / len(hyp) if hyp else 0.0
    recall = len(ref & hyp) / len(ref) if ref else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def reward(hyp: dict, ref: dict, level: str, lowercase: str = "release") -> float:
    """One report pair's RadGraph F1 at `level` (simple, partial or complete)."""
    if level not in REWARD_LEVELS:
        raise ValueError(f"reward level must be one of {', '.join(REWARD_LEVELS)}, got {level!r}")
    if lowercase not in LOWERCASE:
        raise ValueError(f"lowercase must be one of {', '.join(LOWERCASE)}, got {lowercase!r}")
    if not hyp["entities"] or not ref["entities"]:
        return 0.0
    return _f1(_candidates(hyp, level, lowercase), _candidates(ref, level, lowercase))


def rewards(
    hyp_annotations: Sequence[dict | None], ref_annotations: Sequence[dict | None], lowercase: str = "release"
) -> dict[str, list[float]]:
    """Per pair and level; None (an empty text, not annotated) scores 0."""
    out: dict[str, list[float]] = {level: [] for level in REWARD_LEVELS}
    for hyp, ref in zip(hyp_annotations, ref_annotations):
        for level in REWARD_LEVELS:
            out[level].append(0.0 if hyp is None or ref is None else reward(hyp, ref, level, lowercase))
    return out


def check_directory(directory: str | os.PathLike) -> Path:
    """The model directory (or annotations file), checked before any work."""
    path = Path(directory)
    if path.is_file():
        return path
    missing = [n for n in ("config.json", "weights.th", "vocabulary") if not (path / n).exists()]
    if missing:
        raise InputError(
            f"--radgraph {path}: not a RadGraph model directory (missing {', '.join(missing)}); "
            "extract the package's model archive (e.g. radgraph.tar.gz) into a directory named by its model type"
        )
    try:
        import radgraph  # type: ignore[import-not-found]  # noqa: F401 - an optional package, imported to test it is there
    except ImportError:
        raise InputError(
            "--radgraph DIR runs the radgraph package's model, which is not installed (and needs transformers < 5): "
            "pass a JSONL of annotations made where it runs instead (docs/metrics-reference.md)"
        ) from None
    return path


class RadGraphAnnotator:
    """The radgraph package's model from a local directory (config.json, weights.th, vocabulary/).

    The directory's name is the package's model type (radgraph, radgraph-xl, ...), as in its
    cache layout; the BERT it names must be in the local Hugging Face cache. Hub access is
    switched off while it loads and runs.
    """

    def __init__(self, directory: str | os.PathLike, device: str = "cpu"):
        path = check_directory(directory)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from radgraph import RadGraph  # type: ignore[import-not-found]  # optional, untyped

        try:
            self.model = RadGraph(model_type=path.name, model_cache_dir=str(path.parent), device=device)
        except Exception as exc:  # the package raises bare Exceptions for missing files and hub errors
            detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else exc.__class__.__name__
            if "encode_plus" in detail:
                detail = (
                    "radgraph 0.1.18's AllenNLP code needs transformers < 5 (it calls encode_plus); annotate "
                    "the reports where it runs and pass the annotations file (docs/metrics-reference.md)"
                )
            raise InputError(f"--radgraph {path}: cannot load the model offline: {detail}") from None

    def annotate(self, texts: Sequence[str]) -> list[dict[str, Any] | None]:
        """One annotation per text (None for an empty one, as the package's F1RadGraph skips them)."""
        todo = [t for t in dict.fromkeys(texts) if t]
        table: dict[str, Any] = {}
        if todo:
            result = self.model(list(todo))
            table = {t: result[str(i)] for i, t in enumerate(todo)}
        return [table.get(t) if t else None for t in texts]


class AnnotationFile:
    """RadGraph annotations made elsewhere: JSONL lines {"report": text, "entities": {...}} (the
    package's annotation of that text, with the text as rg4 reads it under "report")."""

    def __init__(self, path: str | os.PathLike):
        import json

        self.path = Path(path)
        self.table: dict[str, dict] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"--radgraph {self.path}: cannot read: {exc}") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                raise InputError("not JSON", source=str(self.path), line=n) from None
            if (
                not isinstance(row, dict)
                or not isinstance(row.get("report"), str)
                or not isinstance(row.get("entities"), dict)
            ):
                raise InputError('expected {"report": text, "entities": {...}}', source=str(self.path), line=n)
            self.table[row["report"]] = row

    def annotate(self, texts: Sequence[str]) -> list[dict[str, Any] | None]:
        missing = [t for t in texts if t and t not in self.table]
        if missing:
            raise InputError(
                f"--radgraph {self.path}: no annotation for {len(set(missing))} report(s), "
                f'e.g. {missing[0][:60]!r} (its "report" must be the text exactly as scored)'
            )
        return [self.table[t] if t else None for t in texts]
