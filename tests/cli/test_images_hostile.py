"""generate and train on hostile image paths and files: one line, --on-error skip holds, nothing read outside the root."""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from rg4cli.cli.app import app

torch.set_num_threads(1)
FAST = ["--max-new-tokens", "3", "--min-new-tokens", "1", "--num-beams", "1"]


def _bomb(path, side=20000):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("hostile")
    images = root / "images"
    images.mkdir()
    for i in range(2):
        Image.fromarray((np.random.RandomState(i).rand(64, 64) * 255).astype("uint8")).save(images / f"{i}.png")
    _bomb(images / "bomb.png")
    (root / "secret.png").write_bytes((images / "0.png").read_bytes())
    os.symlink(root / "secret.png", images / "link.png")
    shutil.copytree(tiny_model_dir, root / "model")
    return root


def _studies(path, frontals):
    path.write_text(
        "".join(
            json.dumps({"id": f"s{k}", "frontal": f, "findings": "The lungs are clear."}) + "\n"
            for k, f in enumerate(frontals)
        )
    )
    return path


def _generate(work, studies, *extra):
    return CliRunner().invoke(
        app,
        ["generate", str(studies), "--model", str(work / "model"), "--image-root", str(work / "images"), *FAST, *extra],
    )


def test_a_huge_png_header_is_one_line_and_skip_keeps_the_other_studies(work, tmp_path):
    studies = _studies(tmp_path / "s.jsonl", ["0.png", "bomb.png", "1.png"])
    res = _generate(work, studies)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert f"{studies}:2: frontal: cannot read image" in res.stderr.strip().splitlines()[-1]
    res = _generate(work, studies, "--on-error", "skip")
    assert res.exit_code == 0, res.output
    assert [json.loads(line)["id"] for line in res.stdout.splitlines()] == ["s0", "s2"]
    assert "Traceback" not in res.stderr and "more pixels than the limit" in res.stderr


def test_paths_leaving_the_image_root_are_refused_alike_unless_allowed(work, tmp_path):
    errors = []
    for rel in ("../secret.png", str(work / "secret.png"), "link.png", "../nothing-here.png", "missing.png"):
        res = _generate(work, _studies(tmp_path / "s.jsonl", [rel]))
        assert res.exit_code == 2 and "Traceback" not in res.output
        errors.append(res.stderr.strip().splitlines()[-1].replace(rel, "PATH"))
    assert len(set(errors)) == 1 and "--allow-outside-image-root" in errors[0]
    res = _generate(work, _studies(tmp_path / "s.jsonl", ["../secret.png", "link.png"]), "--allow-outside-image-root")
    assert res.exit_code == 0, res.output
    assert len(res.stdout.splitlines()) == 2


def test_train_refuses_a_path_outside_the_root_and_skips_a_bomb(work, tmp_path):
    studies = _studies(tmp_path / "t.jsonl", ["0.png", "../secret.png", "bomb.png", "1.png"])
    common = [
        "--image-root",
        str(work / "images"),
        "-o",
        str(tmp_path / "m"),
        "--max-steps",
        "1",
        "--batch-size",
        "2",
        "--grad-accum",
        "1",
        "--checkpoint-every",
        "0",
        "--cache-dir",
        str(tmp_path / "cache"),
        "-q",
    ]
    res = CliRunner().invoke(app, ["train", "--stage", "1", str(studies), *common])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert f"{studies}:2: frontal: image not found" in res.stderr
    res = CliRunner().invoke(app, ["train", "--stage", "1", str(studies), "--on-error", "skip", *common])
    assert res.exit_code == 0, res.output
