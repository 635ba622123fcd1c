"""The study record (README "The study record"): typed view, validation, derived setting, text fields."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rg4cli.errors import InputError
from rg4cli.text.sections import join_sections

SETTINGS: tuple[str, ...] = ("sn", "sw", "mn", "mw")
VIEWS: tuple[str, ...] = ("PA", "AP")
TEXT_FIELDS: tuple[str, ...] = ("auto", "report", "findings", "impression", "findings+impression")

_STRING_FIELDS = ("frontal", "view", "lateral", "prior_report", "indication", "history", "findings",
                  "impression", "report", "setting")


def _present(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


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
    def from_record(cls, record: dict, *, source: str | None = None, line: int | None = None,
                    need_frontal: bool = False) -> "Study":
        """Validate a record; raise InputError naming the field that is wrong."""

        def bad(field_name: str, problem: str) -> InputError:
            return InputError(problem, source=source, line=line, field=field_name)

        rid = record.get("id")
        if rid is None:
            raise bad("id", "missing field")
        if not isinstance(rid, str) or not rid:
            raise bad("id", f"expected a non-empty string, got {rid!r}")
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
            if stated not in SETTINGS:
                raise bad("setting", f"expected one of {', '.join(SETTINGS)}, got {stated!r}")
            raise bad("setting", f"says {stated!r} but the inputs give {setting_of(record)!r} "
                      "(lateral/prior_report decide the setting); drop the field or fix the inputs")
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


def resolve_image(image_root: str | os.PathLike | None, rel: str, *, field_name: str = "frontal",
                  source: str | None = None, line: int | None = None) -> Path:
    """Resolve an image path against `--image-root`; error names the missing file."""
    path = Path(rel)
    if not path.is_absolute() and image_root is not None:
        path = Path(image_root) / path
    if not path.is_file():
        hint = "" if image_root is not None else " (relative paths are resolved against --image-root)"
        raise InputError(f"image not found: {path}{hint}", source=source, line=line, field=field_name)
    return path


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
        if value is not None and not isinstance(value, str):   # `findings: 0` is not an empty text
            raise InputError(f"expected a string or null, got {type(value).__name__}", source=source, line=line,
                             field=name)
    if which == "auto":
        if _present(record.get("report")):
            return record["report"]
        which = "findings+impression"
    if which == "findings+impression":
        text = join_sections(record.get("findings"), record.get("impression"))
        return text or None
    value = record.get(which)
    return value if _present(value) else None
