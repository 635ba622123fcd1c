"""Rates of input-agnostic reports over judged records (the paper's *hall.* column)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rg4cli.errors import InputError
from rg4cli.judges.verdict import _check_setting
from rg4cli.records.provenance import current_annotation
from rg4cli.vocab import CATEGORIES, INPUT_SETTINGS


def _field_of(item: dict, on_unbound: Callable[[str], None] | None = None) -> dict:
    if "input_agnostic" in item and "setting" in item:
        return item
    h = item.get("hallucination")
    if not isinstance(h, dict) or "input_agnostic" not in h:
        raise InputError("record has no `hallucination` field (run `rg4 hallucination` first)", field="hallucination")
    if current_annotation(item, "hallucination", on_unbound=on_unbound) is None:
        raise InputError(
            "was judged on another text than the record holds now (its report changed since); "
            "run `rg4 hallucination` again",
            field="hallucination",
        )
    return h


def _counts() -> dict:
    return {
        "reports": 0,
        "input_agnostic": 0,
        "present": {c: 0 for c in CATEGORIES},
        "unsupported": {c: 0 for c in CATEGORIES},
    }


def _rates(c: dict) -> dict:
    n = c["reports"]

    def r(k: int) -> float | None:
        return round(k / n, 6) if n else None

    return {
        "reports": n,
        "input_agnostic": c["input_agnostic"],
        "rate": r(c["input_agnostic"]),
        "present": {k: r(v) for k, v in c["present"].items()},
        "unsupported": {k: r(v) for k, v in c["unsupported"].items()},
    }


def summarize(records: Iterable[dict], *, on_unbound: Callable[[str], None] | None = None) -> dict:
    """Share of reports that are input-agnostic (the paper's *hall.*), overall and per setting.

    Takes records with a `hallucination` field (or the fields themselves); a record's
    field counts only while it is bound to the record's current text (records.provenance:
    otherwise InputError; a field without provenance counts, with `on_unbound`). Rates are
    fractions of the reports counted (null when there are none): `rate` = input-agnostic,
    `present[cat]` = reports with that content, `unsupported[cat]` = reports where that
    content is unsupported by the inputs (what makes them input-agnostic).
    """
    total = _counts()
    by_setting = {s: _counts() for s in INPUT_SETTINGS}
    backends = set()
    for item in records:
        h = _field_of(item, on_unbound)
        setting = h["setting"]
        _check_setting(setting)
        backends.add(h.get("backend"))
        unsupported = set(h.get("unsupported") or [])
        for c in (total, by_setting[setting]):
            c["reports"] += 1
            c["input_agnostic"] += bool(h["input_agnostic"])
            for cat in CATEGORIES:
                c["present"][cat] += bool(h.get(cat))
                c["unsupported"][cat] += cat in unsupported
    out = _rates(total)
    out["by_setting"] = {s: _rates(c) for s, c in by_setting.items() if c["reports"]}
    names = sorted(b for b in backends if b)
    out["backend"] = names[0] if len(names) == 1 else (names or None)
    return out


def format_summary(summary: dict) -> str:
    """A small stderr table: % input-agnostic, and per category % present / % unsupported."""

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}"

    head = f"{'setting':<8}{'reports':>8}{'hall.%':>8}" + "".join(f"{c + ' %pres/unsup':>18}" for c in CATEGORIES)
    lines = [head]
    rows = list(summary.get("by_setting", {}).items()) + [("all", summary)]
    for name, v in rows:
        cells = "".join(f"{pct(v['present'][c]) + ' / ' + pct(v['unsupported'][c]):>18}" for c in CATEGORIES)
        lines.append(f"{name:<8}{v['reports']:>8}{pct(v['rate']):>8}{cells}")
    return "\n".join(lines)
