"""The verdict every judge shares: which content a study's inputs cannot support.

Rules, DiscBERT and LLM judges find the four categories (and the views a text names);
this module turns what they found into `unsupported` and `input_agnostic`, and holds the
result layout and batch checks they have in common.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rg4cli.errors import InputError
from rg4cli.vocab import CATEGORIES, INPUT_SETTINGS

VIEW_KINDS: tuple[str, ...] = ("lateral", "frontal", "pa", "ap", "two_views", "single_view", "other")

VERDICT_RULE = """\
A report is input-agnostic when it holds content that the study's inputs cannot support:
communication (comm) and prior procedure (pp): always (no input records a phone call or
an operation); prior comparison (pc): when no prior report was given (settings sn, mn);
view: when the views it names were not supplied: a lateral view, or "two views" / "PA
and lateral", without a lateral image (settings sn, sw); a "single view" when a lateral
image was given (mn, mw); oblique, decubitus or apical lordotic views (never an input);
PA when the study's `view` is AP and the other way round. Frontal, portable, upright or
supine statements are supported by the frontal image. Statements that no prior study
exists ("no prior studies", "comparison: none") are not comparisons. When a judge
reports view content without naming the view (DiscBERT alone), it counts as unsupported
in the single-image settings only."""


# ---- the verdict -----------------------------------------------------------------


def _check_setting(setting: str) -> None:
    if setting not in INPUT_SETTINGS:
        raise InputError(f"unknown setting {setting!r}; expected one of {', '.join(INPUT_SETTINGS)}")


def views_supported(views: Iterable[str] | None, setting: str, projection: str | None = None) -> bool:
    """Whether naming these views is supported by the inputs of `setting` (see VERDICT_RULE).

    `views` None means "view content whose view is not known": unsupported only
    when a single image was given.
    """
    _check_setting(setting)
    multi = setting[0] == "m"
    if views is None:
        return multi
    proj = projection.lower() if projection else None
    for kind in views:
        if kind not in VIEW_KINDS:
            raise InputError(f"unknown view kind {kind!r}; expected one of {', '.join(VIEW_KINDS)}")
        if kind in ("lateral", "two_views") and not multi:
            return False
        if kind == "single_view" and multi:
            return False
        if kind == "other":
            return False
        if kind in ("pa", "ap") and proj is not None and kind != proj:
            return False
    return True


def unsupported_categories(
    found: dict[str, bool], setting: str, view_detail: Iterable[str] | None = None, projection: str | None = None
) -> list[str]:
    """The categories present in `found` that `setting`'s inputs cannot support, in CATEGORIES order."""
    _check_setting(setting)
    out = []
    for cat in CATEGORIES:
        if not found.get(cat):
            continue
        if cat in ("pp", "comm"):
            out.append(cat)
        elif cat == "pc":
            if setting[1] == "n":
                out.append(cat)
        elif not views_supported(None if view_detail is None else list(view_detail), setting, projection):
            out.append(cat)
    return out


def verdict(
    found: dict[str, bool], setting: str, view_detail: Iterable[str] | None = None, projection: str | None = None
) -> bool:
    """True when the content `found` ({pc, pp, view, comm: bool}) is input-agnostic in `setting`.

    comm and pp always; pc when no prior report (setting *n); view when it names a
    view that was not supplied (`view_detail`: the view kinds named, see VIEW_KINDS;
    None = not known); `projection` (PA/AP, the study's `view`) checks PA/AP claims.
    """
    return bool(unsupported_categories(found, setting, view_detail, projection))


# ---- what every judge returns ------------------------------------------------------


def _empty_result(setting: str, backend: str) -> dict:
    out: dict[str, Any] = {cat: False for cat in CATEGORIES}
    out.update(views=[], unsupported=[], input_agnostic=False, setting=setting, backend=backend, sentences=[])
    return out


def _check_batch(texts: Sequence, settings: Sequence[str], projections: Sequence | None) -> list:
    if isinstance(texts, str):
        raise InputError("judge() takes a list of texts, not one string")
    if len(texts) != len(settings):
        raise InputError(f"judge(): {len(texts)} texts but {len(settings)} settings")
    if projections is None:
        return [None] * len(texts)
    if len(projections) != len(texts):
        raise InputError(f"judge(): {len(texts)} texts but {len(projections)} projections")
    return list(projections)
