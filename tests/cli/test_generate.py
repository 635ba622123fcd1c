"""CLI tests of generate (library tests: tests/lib/test_generation.py)."""

from __future__ import annotations

import json

import pytest

from ..lib.jsonl import write_jsonl
from ..lib.test_generation import (
    FAST,
    _run,
)


def test_all_settings_in_input_order(generate_workdir):
    root, records = generate_workdir
    res = _run(
        [
            str(root / "studies.jsonl"),
            "--model",
            str(root / "model"),
            "--image-root",
            str(root),
            "--batch-size",
            "2",
            *FAST,
        ]
    )
    assert res.exit_code == 0, res.stderr
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["id"] for r in out] == [r["id"] for r in records]
    assert [r["setting"] for r in out] == ["sn", "mw", "sw", "mn", "sn", "mw", "mn", "sw"]
    for rec in out:
        assert rec["keep"] == int(rec["id"][1:])  # fields pass through
        assert rec["report"].startswith("findings:") or rec["report"].startswith("impression:") or rec["report"] == ""
        assert set(rec["gen"]) == {"input_tokens", "new_tokens"}
        assert 1 <= rec["gen"]["new_tokens"] <= 4
    # ATF: the LLM reads the same number of tokens in every setting (N fusion tokens + prompt).
    assert len({r["gen"]["input_tokens"] for r in out}) == 1
    assert "generated 8 report(s) (sn 2, sw 2, mn 2, mw 2)" in res.stderr


def test_deterministic_under_seed(generate_workdir):
    root, _ = generate_workdir
    args = [
        str(root / "studies.jsonl"),
        "--model",
        str(root / "model"),
        "--image-root",
        str(root),
        "--seed",
        "7",
        *FAST,
    ]
    first, second = _run(args), _run(args)
    assert first.exit_code == 0 and second.exit_code == 0
    strip = lambda s: [{k: v for k, v in json.loads(l).items() if k != "gen"} for l in s.splitlines()]  # noqa: E731 - one expression, used twice
    assert strip(first.stdout) == strip(second.stdout)


def test_missing_and_unreadable_images(generate_workdir, tmp_path):
    root, records = generate_workdir
    bad = [dict(records[0]), dict(records[1], frontal="img/absent.png")]
    res = _run(
        [str(write_jsonl(tmp_path / "a.jsonl", bad)), "--model", str(root / "model"), "--image-root", str(root), *FAST]
    )
    assert res.exit_code == 2
    assert f"{tmp_path / 'a.jsonl'}:2: frontal: image not found" in res.stderr
    (tmp_path / "garbage.png").write_bytes(b"\x89PNG but not really")
    bad = [dict(records[3], lateral=str(tmp_path / "garbage.png"))]
    res = _run(
        [
            str(write_jsonl(tmp_path / "b.jsonl", bad)),
            "--model",
            str(root / "model"),
            "--image-root",
            str(root),
            "--allow-outside-image-root",
            *FAST,
        ]
    )
    assert res.exit_code == 2
    errors = [line for line in res.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and f"{tmp_path / 'b.jsonl'}:1: lateral: cannot read image" in errors[0]
    assert "not an image format PIL can decode" in errors[0]
    # A cut-short file passes the header check and fails when its pixels are decoded (batch time).
    data = (root / "img" / "2.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    bad = [records[0], dict(records[2], frontal=str(tmp_path / "cut.png"))]
    res = _run(
        [
            str(write_jsonl(tmp_path / "d.jsonl", bad)),
            "--model",
            str(root / "model"),
            "--image-root",
            str(root),
            "--allow-outside-image-root",
            *FAST,
        ]
    )
    assert res.exit_code == 2 and f"{tmp_path / 'd.jsonl'}:2: frontal: cannot read image" in res.stderr
    # --on-error skip: the good records still come out, the bad ones are counted.
    mixed = [records[0], dict(records[1], frontal="img/absent.png"), records[2]]
    res = _run(
        [
            str(write_jsonl(tmp_path / "c.jsonl", mixed)),
            "--model",
            str(root / "model"),
            "--image-root",
            str(root),
            "--on-error",
            "skip",
            *FAST,
        ]
    )
    assert res.exit_code == 0
    assert [json.loads(l)["id"] for l in res.stdout.splitlines()] == ["s0", "s2"]
    assert "skipped 1" in res.stderr


def test_resume_appends_only_missing_ids(generate_workdir, tmp_path):
    root, records = generate_workdir
    out = tmp_path / "out.jsonl"
    part = write_jsonl(tmp_path / "part.jsonl", records[:3])
    assert (
        _run([str(part), "--model", str(root / "model"), "--image-root", str(root), "-o", str(out), *FAST]).exit_code
        == 0
    )
    with open(out, "a") as fh:
        fh.write('{"id": "s3", "cut sh')  # a killed run's last line
    res = _run(
        [
            str(root / "studies.jsonl"),
            "--model",
            str(root / "model"),
            "--image-root",
            str(root),
            "-o",
            str(out),
            "--resume",
            *FAST,
        ]
    )
    assert res.exit_code == 0, res.stderr
    ids = [json.loads(l)["id"] for l in out.read_text().splitlines()]
    assert ids == [r["id"] for r in records]
    assert "3 already in the output" in res.stderr


def test_model_errors(generate_workdir, tmp_path):
    root, _ = generate_workdir
    res = _run([str(root / "studies.jsonl"), *FAST])
    assert res.exit_code == 2 and "--model" in res.stderr
    res = _run([str(root / "studies.jsonl"), "--model", str(tmp_path / "nothing"), *FAST])
    assert res.exit_code == 2 and "no such model directory" in res.stderr


@pytest.mark.slow
def test_data_parallel_under_accelerate_matches_one_process(generate_workdir, tmp_path):
    """`accelerate launch` with 2 CPU processes: shards merged in input order, same reports."""
    import shutil
    import sys
    from pathlib import Path

    root, records = generate_workdir
    accelerate = Path(sys.executable).with_name("accelerate")
    if not accelerate.exists() and shutil.which("accelerate") is None:
        pytest.skip("accelerate launcher not installed")
    args = [
        str(root / "studies.jsonl"),
        "--model",
        str(root / "model"),
        "--image-root",
        str(root),
        *FAST,
        "--batch-size",
        "2",
    ]
    single = _run(args + ["-o", str(tmp_path / "one.jsonl")])
    assert single.exit_code == 0
    from ..cli.test_train_ddp import free_port, run_launched

    cmd = [
        str(accelerate if accelerate.exists() else "accelerate"),
        "launch",
        "--main_process_port",
        str(free_port()),
        "--num_processes",
        "2",
        "--cpu",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "rg4cli",
        "generate",
        *args,
        "-o",
        str(tmp_path / "two.jsonl"),
    ]
    proc = run_launched(cmd, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    one = [json.loads(l) for l in (tmp_path / "one.jsonl").read_text().splitlines()]
    two = [json.loads(l) for l in (tmp_path / "two.jsonl").read_text().splitlines()]
    assert [r["id"] for r in two] == [r["id"] for r in records]
    assert [r["report"] for r in two] == [r["report"] for r in one]
    assert proc.stderr.count("generated 8 report(s)") == 1  # the summary comes from the main process only
    assert not list(tmp_path.glob("rg4-generate-*"))  # shards cleaned up
