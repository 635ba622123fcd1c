"""CLI tests of build data openai (library tests: tests/lib/test_dataset_rewriters_openai.py)."""

from __future__ import annotations

import json

import pytest

from ..lib.rewrite_server import KEY, free_port


def test_build_data_cli_with_the_openai_generator(server_factory, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from rg4cli.cli.app import app

    from ..lib.test_dataset_assembly import _tree

    srv = server_factory(script=["429", "500", "badjson"])
    _tree(tmp_path)
    monkeypatch.setenv("RG4_TEST_KEY", KEY)
    out = tmp_path / "out.jsonl"
    (tmp_path / "prompt.txt").write_text("Edit the report. Answer in JSON.\n")
    res = CliRunner().invoke(
        app,
        [
            "build-data",
            str(tmp_path),
            "-o",
            str(out),
            "--generator",
            "openai",
            "--system-prompt",
            str(tmp_path / "prompt.txt"),
            "--base-url",
            srv.url,
            "--model-name",
            "test-model",
            "--api-key-env",
            "RG4_TEST_KEY",
            "--workers",
            "2",
            "--backoff",
            "0.01",
            "--stats",
        ],
    )
    assert res.exit_code == 0, res.output
    assert KEY not in res.output
    recs = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    sn = recs["s50000002_sn"]
    assert (sn["findings"], sn["impression"]) == ("Left effusion is present.", "left effusion.")
    assert sn["rewrite"]["generator"] == "openai" and sn["rewrite"]["resolved"]
    sw = recs["s50000002_sw"]  # the prior report supports the comparison: never sent
    assert sw["findings"] == sw["raw_findings"] and sw["rewrite"]["rounds"] == 0
    assert "http_429 1" in res.stderr and "http_5xx 1" in res.stderr and "malformed 1" in res.stderr
    assert all(h["Authorization"] == "Bearer " + KEY for h in srv.headers)
    assert srv.requests[0]["messages"][0] == {"role": "system", "content": "Edit the report. Answer in JSON."}


@pytest.mark.parametrize("endpoint", ["refused", "500"])
def test_build_data_exits_1_and_counts_what_it_could_not_rewrite(server_factory, monkeypatch, tmp_path, endpoint):
    from typer.testing import CliRunner

    from rg4cli.cli.app import app

    from ..lib.test_dataset_assembly import _tree

    url = f"http://127.0.0.1:{free_port()}/v1" if endpoint == "refused" else server_factory(default="500").url
    _tree(tmp_path)
    monkeypatch.setenv("RG4_TEST_KEY", KEY)
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(
        app,
        [
            "build-data",
            str(tmp_path),
            "-o",
            str(out),
            "--generator",
            "openai",
            "--base-url",
            url,
            "--model-name",
            "m",
            "--api-key-env",
            "RG4_TEST_KEY",
            "--workers",
            "2",
            "--max-retries",
            "1",
            "--backoff",
            "0.01",
            "--timeout",
            "5",
        ],
    )
    assert res.exit_code == 1, res.output
    last = res.stderr.strip().splitlines()[-1]
    assert "could not be rewritten" in last and "Traceback" not in res.output and KEY not in res.output
    n_failed = int(last.split("error: ")[1].split()[0])
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert n_failed >= 1 and written  # the examples that needed no rewrite are written
    assert all(r["rewrite"]["rounds"] == 0 for r in written)
