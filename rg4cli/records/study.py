"""The study record (docs/records.md "The study record"): typed view, validation, derived setting, text fields."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rg4cli.errors import InputError
from rg4cli.text.sections import join_sections
from rg4cli.vocab import INPUT_SETTINGS, VIEWS

TEXT_FIELDS: tuple[str, ...] = ("auto", "report", "findings", "impression", "findings+impression")

_STRING_FIELDS = (
    "frontal",
    "view",
    "lateral",
    "prior_report",
    "indication",
    "history",
    "findings",
    "impression",
    "report",
    "setting",
)


def _present(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def normalize_id(value: Any) -> Any:
    """A record id as rg4 compares and writes it: an integer id is its decimal string.

    `12` and `"12"` are the same study (R2Gen-style files and many datasets number their
    studies); any other non-string (float, bool, list) comes back unchanged for the
    caller to reject with its own message.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def setting_of(record: dict) -> str:
    """`s`/`m` = lateral absent/present, `n`/`w` = prior report absent/present.

    Derived from the inputs, never read from a `setting` field: a record whose
    stated setting disagrees with its inputs is caught by `Study.from_record`.
    """
    return ("m" if _present(record.get("lateral")) else "s") + ("w" if _present(record.get("prior_report")) else "n")


@dataclass
class Study:
    id: str
    frontal: str | None = None
    view: str | None = None
    lateral: str | None = None
    prior_report: str | None = None
    indication: str | None = None
    history: str | None = None
    findings: str | None = None
    impression: str | None = None
    extra: dict = field(default_factory=dict, repr=False)

    @property
    def setting(self) -> str:
        return setting_of({"lateral": self.lateral, "prior_report": self.prior_report})

    @classmethod
    def from_record(
        cls, record: dict, *, source: str | None = None, line: int | None = None, need_frontal: bool = False
    ) -> Study:
        """Validate a record; raise InputError naming the field that is wrong."""

        def bad(field_name: str, problem: str) -> InputError:
            return InputError(problem, source=source, line=line, field=field_name)

        rid = normalize_id(record.get("id"))
        if rid is None:
            raise bad("id", "missing field")
        if not isinstance(rid, str) or not rid:
            raise bad("id", f"expected a non-empty string or an integer, got {rid!r}")
        for name in _STRING_FIELDS:
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                raise bad(name, f"expected a string or null, got {type(value).__name__}")
        if need_frontal and not _present(record.get("frontal")):
            raise bad("frontal", "missing field: every study needs a frontal image path")
        view = record.get("view")
        if view is not None and view.upper() not in VIEWS:
            raise bad("view", f"expected PA or AP, got {view!r}")
        stated = record.get("setting")
        if stated is not None and stated != setting_of(record) and "original_setting" not in record:
            # A stale `setting` would make per-setting numbers lie; say so early.
            if stated not in INPUT_SETTINGS:
                raise bad("setting", f"expected one of {', '.join(INPUT_SETTINGS)}, got {stated!r}")
            raise bad(
                "setting",
                f"says {stated!r} but the inputs give {setting_of(record)!r} "
                "(lateral/prior_report decide the setting); drop the field or fix the inputs",
            )
        known = {"id", *_STRING_FIELDS}
        return cls(
            id=rid,
            frontal=record.get("frontal") or None,
            view=view.upper() if view else None,
            lateral=record.get("lateral") or None,
            prior_report=record.get("prior_report") if _present(record.get("prior_report")) else None,
            indication=record.get("indication"),
            history=record.get("history"),
            findings=record.get("findings"),
            impression=record.get("impression"),
            extra={k: v for k, v in record.items() if k not in known},
        )


def resolve_image(
    image_root: str | os.PathLike | None,
    rel: str,
    *,
    field_name: str = "frontal",
    source: str | None = None,
    line: int | None = None,
) -> Path:
    """Resolve an image path against `--image-root`, confined to it (rg4cli.images.resolve_image)."""
    from rg4cli.images import resolve_image as resolve

    return resolve(image_root, rel, field_name=field_name, source=source, line=line)


def text_of(record: dict, which: str = "auto", *, source: str | None = None, line: int | None = None) -> str | None:
    """The report text a command reads, chosen by `--text`.

    auto: `report` when present, else findings + impression. findings+impression
    is the marked target text (`findings: … impression: …`, see sections.join_sections),
    the same string `rg4 train` learns and `rg4 generate` writes as `report`, so
    character offsets computed on it (rg4 weights) line up everywhere.
    """
    if which not in TEXT_FIELDS:
        raise InputError(f"--text must be one of {', '.join(TEXT_FIELDS)}, got {which!r}")
    for name in ("report", "findings", "impression") if which == "auto" else which.split("+"):
        value = record.get(name)
        if value is not None and not isinstance(value, str):  # `findings: 0` is not an empty text
            raise InputError(
                f"expected a string or null, got {type(value).__name__}", source=source, line=line, field=name
            )
    if which == "auto":
        if _present(record.get("report")):
            return record["report"]
        which = "findings+impression"
    if which == "findings+impression":
        text = join_sections(record.get("findings"), record.get("impression"))
        return text or None
    value = record.get(which)
    return value if _present(value) else None


def resolve_text_field(record: dict, which: str = "auto") -> str:
    """The field `--text` resolves to for this record: auto -> report or findings+impression."""
    if which not in TEXT_FIELDS:
        raise InputError(f"--text must be one of {', '.join(TEXT_FIELDS)}, got {which!r}")
    if which == "auto":
        return "report" if _present(record.get("report")) else "findings+impression"
    return which


def fields_read(text_field: str) -> tuple[str, ...]:
    """The record fields a resolved text field is made of."""
    return ("findings", "impression") if text_field == "findings+impression" else (text_field,)


@dataclass(frozen=True)
class ChosenText:
    """The text a command reads from a record, and the field it came from (its provenance)."""

    field: str  # report, findings, impression or findings+impression
    text: str  # as the record has it (what annotations are bound to)

    @property
    def read(self) -> str:
        """The text a labeler or judge reads: NFC, without soft hyphens and zero-width characters."""
        from rg4cli.text.normalize import normalize_text

        return normalize_text(self.text)


def choose_text(record: dict, which: str = "auto", *, purpose: str = "read") -> ChosenText:
    """The text `--text WHICH` picks from a record, or InputError naming the field at fault.

    The one rule every annotating command (label, hallucination, weights) follows:
    a field of the wrong type is an error naming it; no text at all (missing or
    blank) is an error naming the field(s) read, `no text to PURPOSE`. Callers turn
    the error into a rejected record (`RecordReader.reject(line, exc.field, exc.problem)`).
    """
    field_name = resolve_text_field(record, which)
    parts = fields_read(field_name)
    checked = ("report", "findings", "impression") if which == "auto" else parts
    for name in checked:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise InputError(f"expected a string or null, got {type(value).__name__}", field=name)
    text = text_of(record, field_name)
    if text is None or not text.strip():
        where = "report, findings or impression" if which == "auto" else " and ".join(parts)
        raise InputError(
            f"no text to {purpose} (empty or missing {where})", field="report" if which == "auto" else "/".join(parts)
        )
    return ChosenText(field_name, text)
