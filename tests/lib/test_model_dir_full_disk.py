"""`rg4 train -o DIR` on a full disk: one line, no traceback, no half-written model left; an
earlier model in DIR stays whole."""

from __future__ import annotations

import errno
import json

import pytest
from typer.testing import CliRunner

from rg4cli.cli.app import app
from rg4cli.errors import Rg4Error
from rg4cli.model.atomic_dir import save_into

from ..conftest import REPORT_CORPUS


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_save_into_moves_all_or_nothing(tmp_path):
    out = tmp_path / "m"
    save_into(out, lambda d: (d / "a.txt").write_text("1"))
    assert (out / "a.txt").read_text() == "1"

    def half(d):
        (d / "a.txt").write_text("2")
        _full()

    with pytest.raises(Rg4Error, match=r"m: cannot write the model: No space left on device; nothing half"):
        save_into(out, half)
    assert [p.name for p in out.iterdir()] == ["a.txt"] and (out / "a.txt").read_text() == "1"


@pytest.mark.slow
def test_train_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    import safetensors.torch

    records = [
        {"id": f"r{i}", "report": text, "labels": {"Pleural Effusion": 1 if "effusion" in text.lower() else 0}}
        for i, text in enumerate(REPORT_CORPUS * 3)
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    monkeypatch.setattr(safetensors.torch, "save_file", _full)
    args = ["train", "--task", "labeler", "--epochs", "1", "--batch-size", "2", "--grad-accum", "1", "-q"]
    res = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "run"), str(src)])
    assert res.exit_code == 1, res.stderr
    assert "Traceback" not in res.stderr and "SafetensorError" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "No space left on device" in errors[0], res.stderr
    assert not list((tmp_path / "run").glob("**/*.safetensors"))
    assert not list((tmp_path / "run").glob(".rg4-saving-*"))
