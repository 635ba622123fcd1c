"""Run the bad-input corpus (cases.py) in-process: exit status, one error line, no traceback,
the records before the bad one written, the inputs untouched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from rg4cli.cli.app import app
from rg4cli.records.streams import DirLock, RecordWriter

from ..conftest import REPORT_CORPUS
from .cases import CASES, Case


@pytest.fixture(scope="module")
def shared(tmp_path_factory, tiny_model_dir) -> dict[str, Path]:
    """Small model dirs, images and a MIMIC tree the cases read (built once)."""
    from rg4cli.model.classifiers import new_classifier, save_classifier_dir, tiny_bert_config
    from rg4cli.model.tokenizers import build_wordpiece_tokenizer

    from ..lib.test_dataset_assembly import _tree

    root = tmp_path_factory.mktemp("badinput")
    tok = build_wordpiece_tokenizer(REPORT_CORPUS * 3, vocab_size=120)
    cfg = tiny_bert_config(len(tok), hidden_size=16, layers=1, heads=2)
    paths = {
        "lab": save_classifier_dir(new_classifier("labeler", tok, cfg), root / "lab"),
        "disc": save_classifier_dir(new_classifier("discbert", tok, cfg), root / "disc"),
    }
    shutil.copytree(tiny_model_dir, root / "gen")
    paths["gen"] = root / "gen"
    (root / "img" / "img").mkdir(parents=True)
    for i in range(2):
        arr = (np.random.RandomState(i).rand(64, 60) * 255).astype("uint8")
        Image.fromarray(arr).save(root / "img" / "img" / f"{i}.png")
    paths["img"] = root / "img"
    (root / "mimic").mkdir()
    _tree(root / "mimic")
    paths["mimic"] = root / "mimic"
    return {k: Path(v) for k, v in paths.items()}


def _fill(text: str, places: dict[str, str]) -> str:
    return text.format(**places)


def _damage(shared: dict[str, Path], d: Path, model: str, file: str, how: str) -> None:
    shutil.copytree(shared[model], d / "model")
    target = d / "model" / file
    data = target.read_bytes()
    target.write_bytes(b"" if how == "empty" else data[: len(data) // 2])


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_corpus_covers_every_command():
    commands = {case.argv[0] for case in CASES}
    assert commands == {"synth", "build-data", "label", "hallucination", "weights", "train", "generate", "score"}
    assert len(CASES) >= 60 and len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input(case: Case, shared, tmp_path):
    d = tmp_path / "case"
    d.mkdir()
    for name, data in case.files.items():
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(data)
    places = {"d": str(d), **{k: str(v) for k, v in shared.items()}}
    held = None
    kind = case.setup[0] if case.setup else None
    if kind == "lock":
        held = RecordWriter(d / case.setup[1])
    elif kind == "dirlock":
        held = DirLock(d / case.setup[1])
    elif kind == "damage":
        _damage(shared, d, *case.setup[1:])
        places[case.setup[1]] = str(d / "model")
    before = {name: (d / name).read_bytes() for name in case.files}
    try:
        result = CliRunner().invoke(app, [_fill(a, places) for a in case.argv])
    finally:
        if held is not None:
            held.close() if isinstance(held, RecordWriter) else held.release()
    stderr = result.stderr
    assert "Traceback" not in stderr and "Aborted" not in stderr, stderr[-2000:]
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == case.exit, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if ": error: " in line]
    if case.error is None:
        assert errors == [], stderr[-2000:]
    else:
        assert len(errors) == 1, stderr[-2000:]
        assert errors[0].startswith(f"rg4 {case.argv[0]}: error: ")
        assert _fill(case.error, places) in errors[0], errors[0]
    for name, data in before.items():
        assert (d / name).read_bytes() == data, f"{name} changed"
    kept = set()
    if case.out is not None:
        name, ids = case.out
        if case.exit == 0:
            assert _ids(d / name) == ids
        else:  # a stopped run never publishes; a command with --resume keeps what it wrote for it
            assert not (d / name).exists() or (d / name).read_bytes() == before.get(name)
            if ids is None:  # some records, how many does not matter
                assert _ids(d / (name + ".partial"))
                kept.add(name + ".partial")
            elif ids:
                assert _ids(d / (name + ".partial")) == ids
                kept.add(name + ".partial")
    # no writer left a temporary file other than the one kept for --resume
    assert {p.name for p in d.glob("*.partial")} <= kept or kind == "lock"
