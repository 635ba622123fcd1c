"""`rg4 generate --resume` gives the bytes of an uninterrupted run, plain and gzip, after a kill
at any point; a truncated image does not take the good records of its batch with it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rg4cli.errors import InputError
from rg4cli.generation.run import run_generate
from rg4cli.model import DecodeOptions, build_model, load_model_dir, save_model_dir
from rg4cli.records import outputs

from ..conftest import REPORT_CORPUS

torch.set_num_threads(1)
DECODE = DecodeOptions(num_beams=2, max_new_tokens=4, min_new_tokens=1)
N = 14


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("genresume")
    (root / "img").mkdir()
    for i in range(5):
        arr = (np.random.RandomState(i).rand(70, 64) * 255).astype("uint8")
        Image.fromarray(arr).save(root / "img" / f"{i}.png")
    whole = (root / "img" / "0.png").read_bytes()
    (root / "img" / "cut.png").write_bytes(whole[: len(whole) * 2 // 3])
    save_model_dir(build_model("tiny", tokenizer_texts=REPORT_CORPUS, seed=0), root / "model")
    records = []
    for i in range(N):  # every setting, mixed, so batches of one setting interleave
        rec = {"id": f"s{i}", "frontal": f"img/{i % 5}.png", "view": "PA"}
        if i % 3 == 1:
            rec["lateral"] = f"img/{(i + 1) % 5}.png"
        if i % 4 >= 2:
            rec["prior_report"] = "The lungs are clear." if i % 2 else "Small effusion."
        records.append(rec)
    (root / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    model = load_model_dir(root / "model")
    return root, model


def _gen(root, model, out, *, resume=False, batch_size=3):
    return run_generate(
        str(root / "in.jsonl"),
        str(out),
        model_dir=None,
        image_root=root,
        decode=DECODE,
        batch_size=batch_size,
        window=5,  # small: the oldest record forces partial batches, as on long inputs
        resume=resume,
        model=model,
    )


@pytest.fixture(scope="module")
def uninterrupted(setup, tmp_path_factory):
    root, model = setup
    d = tmp_path_factory.mktemp("whole")
    _gen(root, model, d / "out.jsonl")
    _gen(root, model, d / "out.jsonl.gz")
    return (d / "out.jsonl").read_bytes(), (d / "out.jsonl.gz").read_bytes()


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_kill_9_at_any_byte_then_resume_is_byte_identical(setup, uninterrupted, tmp_path, suffix):
    """kill -9 leaves FILE.partial holding a prefix of the uninterrupted run's lines (flushed per
    record): cut there at several points, line ends and mid-line, then --resume."""
    root, model = setup
    plain, gz = uninterrupted
    want = plain if suffix == ".jsonl" else gz
    ends = [i + 1 for i, b in enumerate(plain) if b == ord("\n")]
    for cut in sorted({0, 5, ends[0], ends[3] + 9, ends[6], ends[N // 2] + 2, ends[-2] + 1, len(plain)}):
        out = tmp_path / f"c{cut}" / ("out" + suffix)
        out.parent.mkdir()
        (out.parent / (out.name + ".partial")).write_bytes(plain[:cut])
        summary = _gen(root, model, out, resume=True)
        assert out.read_bytes() == want, f"cut at byte {cut}"
        assert summary.written + summary.resumed == N
        assert not list(out.parent.glob("*.partial"))


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
@pytest.mark.parametrize("after", [1, 6])
def test_an_interrupt_keeps_the_old_output_and_resume_completes_it(setup, uninterrupted, tmp_path, suffix, after):
    root, model = setup
    out = tmp_path / ("out" + suffix)
    out.write_bytes(b"an older complete output\n")
    real_write = outputs.RecordWriter.write

    def interrupted(self, record):  # Ctrl-C after `after` records
        if self.count == after:
            raise KeyboardInterrupt
        real_write(self, record)

    outputs.RecordWriter.write = interrupted
    try:
        with pytest.raises(KeyboardInterrupt):
            _gen(root, model, out)
    finally:
        outputs.RecordWriter.write = real_write
    assert out.read_bytes() == b"an older complete output\n"  # never replaced by a partial output
    assert (tmp_path / (out.name + ".partial")).read_text().count("\n") == after
    _gen(root, model, out, resume=True)
    assert out.read_bytes() == uninterrupted[suffix.endswith(".gz")]


def test_a_truncated_image_keeps_the_good_records_of_its_batch(setup, tmp_path):
    root, model = setup
    lines = (root / "in.jsonl").read_text().splitlines()
    bad = json.dumps({"id": "bad", "frontal": "img/cut.png", "view": "PA"})
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([lines[0], lines[5], bad, lines[10]]) + "\n")  # s0, s5, s10 share bad's setting
    out = tmp_path / "out.jsonl"
    with pytest.raises(
        InputError, match=r"in.jsonl:3: frontal: cannot read image .*img/cut.png: image file is truncated"
    ):
        run_generate(str(src), str(out), model_dir=None, image_root=root, decode=DECODE, batch_size=8, model=model)
    kept = [json.loads(line)["id"] for line in (tmp_path / "out.jsonl.partial").read_text().splitlines()]
    assert kept == ["s0", "s5"] and not out.exists()


def _cli(root, out):
    args = [sys.executable, "-m", "rg4cli", "generate", str(root / "in.jsonl"), "--model", str(root / "model")]
    args += ["--image-root", str(root), "--batch-size", "3", "--num-beams", "2", "--max-new-tokens", "4"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "OMP_NUM_THREADS": "1"}
    return args + ["--min-new-tokens", "1", "-o", str(out)], env


@pytest.fixture(scope="module")
def cli_whole(setup, tmp_path_factory):
    """The bytes of an uninterrupted CLI run (its window is the CLI's default, not the library runs')."""
    whole = tmp_path_factory.mktemp("cliwhole") / "out.jsonl.gz"
    args, env = _cli(setup[0], whole)
    ref = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr
    return whole.read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_real_signals_then_resume(setup, cli_whole, tmp_path, sig):
    """The real thing, in a subprocess: a signal once 3 records are out, then --resume."""
    out = tmp_path / "out.jsonl.gz"
    args, env = _cli(setup[0], out)
    partial = tmp_path / "out.jsonl.gz.partial"
    proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if partial.exists() and partial.read_bytes().count(b"\n") >= 3:
            proc.send_signal(sig)
            break
        time.sleep(0.005)
    err = proc.communicate(timeout=600)[1]
    assert "Traceback" not in err, err
    if proc.returncode != 0:  # killed before the end (else it finished first: still compared)
        assert proc.returncode in (-9, 130, 143), err
        assert not out.exists() and partial.exists()
    done = subprocess.run(args + ["--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == cli_whole
