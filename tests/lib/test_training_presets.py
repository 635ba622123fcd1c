"""Every default in docs/design.md "Presets" is the code's: the table is parsed and checked row by row."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rg4cli.training.settings import PRESETS_HELP, RECIPES, TrainSettings, preset_defaults, presets_help

DESIGN = Path(__file__).resolve().parents[2] / "docs" / "design.md"


def _table() -> dict[str, tuple[list[str], list[str]]]:
    text = DESIGN.read_text(encoding="utf-8")
    section = text[text.index("## Presets") :]
    rows = {}
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| default") or line.startswith("|---"):
            if rows and not line.startswith("|"):
                break
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        key = re.sub(r"[`*]", "", cells[0]).lstrip("-").replace("-", "_")
        rows[key] = (re.findall(r"`([^`]*)`", cells[1]), re.findall(r"`([^`]*)`", cells[2]))
    return rows


def _value(text: str):
    if text in ("true", "false"):
        return text == "true"
    if "," in text:
        return [t.strip() for t in text.split(",")]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def test_design_presets_table_lists_every_default_with_the_codes_value():
    rows = _table()
    for column, preset in ((0, "paper"), (1, "tiny")):
        defaults = preset_defaults(preset)
        assert set(rows) == set(defaults), set(rows) ^ set(defaults)
        for key, cells in rows.items():
            written = [_value(v) for v in cells[column]]
            want = defaults[key]
            got = tuple(written) if isinstance(want, tuple) else written[0]
            assert got == want, (preset, key, got, want)


def test_help_table_shows_the_same_defaults():
    text = presets_help()
    for key, _value in preset_defaults("paper").items():
        assert key.replace("_", "-") in text
    assert "cycle" in text and "per-epoch" in text and "one-string" in text
    assert PRESETS_HELP == text  # the copy `rg4 train --help` shows without importing torch


@pytest.mark.parametrize("preset", ["paper", "tiny"])
def test_settings_take_the_presets_recipe_unless_given(preset):
    s = TrainSettings("x.jsonl", preset=preset, stage=1)
    assert s.recipe()["batch_size"] == RECIPES[preset]["batch_size"][1]
    assert TrainSettings("x.jsonl", preset=preset, stage=2).recipe()["batch_size"] == 16
    given = TrainSettings("x.jsonl", preset=preset, sampler="once", max_grad_norm=0.5, warmup="ratio").recipe()
    assert (given["sampler"], given["max_grad_norm"], given["warmup"]) == ("once", 0.5, "ratio")
    # The classifier and decoder tasks keep rg4's recipe whatever the preset.
    assert TrainSettings("x.jsonl", preset=preset, task="labeler").recipe()["sampler"] == "once"
    assert TrainSettings("x.jsonl", preset=preset, prior_padding="masked").model_options()["mask_prior_padding"]
