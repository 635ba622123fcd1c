"""Joins by id: a reference file indexed by id, input records paired with it."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

from rg4cli.errors import InputError
from rg4cli.records.jsonl import RecordReader


@dataclass
class RefIndex:
    """References indexed by id (`--ref FILE`)."""

    name: str
    by_id: dict[str, dict]
    lines: dict[str, int] = field(default_factory=dict)


def index_by_id(path: str | os.PathLike, *, on_error: str = "fail") -> RefIndex:
    """Read a reference file into a dict by id; duplicate ids are an error."""
    reader = RecordReader(path, on_error=on_error)
    by_id: dict[str, dict] = {}
    lines: dict[str, int] = {}
    dups: list[str] = []
    for lineno, rec in reader:
        if rec["id"] in by_id:
            dups.append(f"{rec['id']!r} (lines {lines[rec['id']]} and {lineno})")
            continue
        by_id[rec["id"]] = rec
        lines[rec["id"]] = lineno
    if dups:
        raise InputError(
            f"{len(dups)} duplicate id(s): {', '.join(dups[:3])}" + (" ..." if len(dups) > 3 else ""),
            source=reader.name,
            field="id",
        )
    return RefIndex(reader.name, by_id, lines)


@dataclass
class Joined:
    pairs: list[tuple[dict, dict]]
    missing_in_ref: list[str]
    missing_in_input: list[str]


def join_by_id(
    records: Iterable[tuple[int, dict]], ref: RefIndex, *, input_name: str = "<stdin>", on_missing: str = "fail"
) -> Joined:
    """Pair input records with references by id, in input order.

    Ids missing on either side and duplicate input ids are reported by count and
    first examples; `on_missing="skip"` keeps only the ids present on both sides.
    """
    pairs: list[tuple[dict, dict]] = []
    seen: dict[str, int] = {}
    dups: list[str] = []
    missing_in_ref: list[str] = []
    for lineno, rec in records:
        rid = rec["id"]
        if rid in seen:
            dups.append(f"{rid!r} (lines {seen[rid]} and {lineno})")
            continue
        seen[rid] = lineno
        if rid in ref.by_id:
            pairs.append((rec, ref.by_id[rid]))
        else:
            missing_in_ref.append(rid)
    if dups:
        raise InputError(
            f"{len(dups)} duplicate id(s): {', '.join(dups[:3])}" + (" ..." if len(dups) > 3 else ""),
            source=input_name,
            field="id",
        )
    missing_in_input = [rid for rid in ref.by_id if rid not in seen]
    if on_missing == "fail" and (missing_in_ref or missing_in_input):
        parts = []
        if missing_in_ref:
            parts.append(
                f"{len(missing_in_ref)} id(s) of {input_name} not in {ref.name} "
                f"(first: {', '.join(map(repr, missing_in_ref[:3]))})"
            )
        if missing_in_input:
            parts.append(
                f"{len(missing_in_input)} id(s) of {ref.name} not in {input_name} "
                f"(first: {', '.join(map(repr, missing_in_input[:3]))})"
            )
        raise InputError("; ".join(parts) + "; use --on-missing skip to score the common ids", field="id")
    return Joined(pairs, missing_in_ref, missing_in_input)
