"""Annotation provenance: every field derived from a text is bound to that text.

A command that derives an annotation from a report text (`labels`, `hallucination`,
`sentence_weights`, or any `--into NAME`) records, in the record's `provenance`
field, which text field it read and a digest of the exact string:

    "provenance": {"labels": {"text": "findings+impression", "sha256": "3f2a…"}}

A consumer asks `annotation(record, name, text)` with the text it is about to use:
the annotation comes back only when the digest matches that text. A stale annotation
(the text changed since: `rg4 generate` wrote a new report, the rewriter replaced it)
is never returned; the consumer recomputes it or stops with one line. Commands that
write a new text call `drop_annotations_of` so the old text's annotations leave the
record with it.

Files without provenance (rg4 output older than this rule, other tools): the
annotation is returned and the consumer is told through `on_unbound`, once per
run, so it can warn (docs/records.md "Annotations are bound to their text").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from rg4cli.errors import InputError
from rg4cli.records.study import TEXT_FIELDS, text_of

PROVENANCE = "provenance"
# The annotations rg4 itself writes; `--into NAME` adds others under their own names.
ANNOTATIONS: tuple[str, ...] = ("labels", "hallucination", "sentence_weights")
# Fields that describe an annotation and leave the record with it (besides NAME_explain).
COMPANIONS: dict[str, tuple[str, ...]] = {"sentence_weights": ("weights_meta",)}
DIGEST_CHARS = 16  # 64 bits of SHA-256: collisions between two texts of one record are not a concern


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]


def bind(record: dict, name: str, value: Any, *, text_field: str, text: str) -> None:
    """Set record[name] = value, bound to `text` (read from `text_field`)."""
    record[name] = value
    prov = record.get(PROVENANCE)
    if not isinstance(prov, dict):
        prov = {}
    prov[name] = {"text": text_field, "sha256": text_digest(text)}
    record[PROVENANCE] = prov


def binding(record: dict, name: str) -> dict | None:
    prov = record.get(PROVENANCE)
    if isinstance(prov, dict) and isinstance(prov.get(name), dict):
        return prov[name]
    return None


def status(record: dict, name: str, text: str | None) -> str:
    """'absent', 'match', 'stale' (bound to another text) or 'unbound' (no provenance)."""
    if record.get(name) is None:
        return "absent"
    bound = binding(record, name)
    if bound is None:
        return "unbound"
    if text is not None and bound.get("sha256") == text_digest(text):
        return "match"
    return "stale"


def annotation(record: dict, name: str, text: str | None, *, on_unbound: Callable[[str], None] | None = None) -> Any:
    """record[name] when it was computed from `text`, else None.

    An annotation without provenance is returned as it is (older files), and
    `on_unbound(name)` is called so the consumer can warn once.
    """
    state = status(record, name, text)
    if state == "match":
        return record[name]
    if state == "unbound":
        if on_unbound is not None:
            on_unbound(name)
        return record[name]
    return None


# The command that writes each annotation: what a consumer tells the user to run again.
WRITERS: dict[str, str] = {
    "labels": "rg4 label",
    "hallucination": "rg4 hallucination",
    "sentence_weights": "rg4 weights",
}


def require_annotation(record: dict, name: str, text: str, *, on_unbound: Callable[[str], None] | None = None) -> Any:
    """record[name] for `text` (None when absent), or InputError when it was computed from another text.

    For consumers that cannot recompute the annotation (`rg4 train` reading
    `sentence_weights`): one line naming the field and the command to run again.
    """
    if status(record, name, text) == "stale":
        field = (binding(record, name) or {}).get("text", "text")
        raise InputError(
            f"computed from another text than the one read here (its {field} changed since); run "
            f"`{WRITERS.get(name, 'the command that wrote it')}` on this file again",
            field=name,
        )
    return annotation(record, name, text, on_unbound=on_unbound)


def current_annotation(record: dict, name: str, *, on_unbound: Callable[[str], None] | None = None) -> Any:
    """record[name] when the text field its provenance names still holds the text it was computed from.

    For consumers that do not read a text themselves (a summary of `hallucination`
    fields): the binding says which field (`report`, `findings+impression`, ...) the
    annotation came from, and that field's current text must still match. An
    annotation without provenance is returned, with `on_unbound(name)`.
    """
    if record.get(name) is None:
        return None
    bound = binding(record, name)
    if bound is None:
        return annotation(record, name, None, on_unbound=on_unbound)
    field = bound.get("text")
    text = text_of(record, field) if field in TEXT_FIELDS and field != "auto" else None
    return annotation(record, name, text) if text is not None else None


def drop_annotations_of(record: dict, *, keep: tuple[str, ...] = ()) -> dict:
    """Remove every bound annotation, and rg4's own ones without provenance, except `keep`.

    Called by commands that replace a record's text (generate, the rewriter), so no
    annotation of the old text survives next to the new one.
    """
    prov = record.get(PROVENANCE)
    names = set(ANNOTATIONS)
    if isinstance(prov, dict):
        prov = record[PROVENANCE] = dict(prov)  # a copied record may share it with its source
        names |= set(prov)
    for name in names - set(keep):
        record.pop(name, None)
        record.pop(f"{name}_explain", None)
        for companion in COMPANIONS.get(name, ()):
            record.pop(companion, None)
        if isinstance(prov, dict):
            prov.pop(name, None)
    if isinstance(prov, dict) and not prov:
        record.pop(PROVENANCE, None)
    return record


class UnboundWarning:
    """`on_unbound` callback that logs one line per annotation name per run."""

    def __init__(self, log: Callable[[str], None], command: str) -> None:
        self._log, self._command, self._seen = log, command, set()

    def __call__(self, name: str) -> None:
        if name not in self._seen:
            self._seen.add(name)
            self._log(
                f"rg4 {self._command}: warning: `{name}` has no provenance (a file from an older rg4 or "
                f"another tool); it is used as if computed from the text read here"
            )
