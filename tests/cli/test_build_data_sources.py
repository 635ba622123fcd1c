"""`rg4 build-data` options: --from, --batch-size, one-line errors for each source."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rg4cli.cli.app import app
from rg4cli.synth.mimic import write_mimic_tree
from rg4cli.synth.studies import generate_studies


def _run(*args):
    return CliRunner().invoke(app, ["build-data", *map(str, args)])


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("tree")
    write_mimic_tree(root, generate_studies(4, seed=1, image_size=32))
    return root


def test_batch_size_does_not_change_the_records_and_batch_is_not_an_option(tree, tmp_path):
    a = _run(tree, "--batch-size", "2", "-o", tmp_path / "a.jsonl")
    b = _run(tree, "--batch-size", "64", "-o", tmp_path / "b.jsonl")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert "--batch-size" in _run("--help").output and "--batch " not in _run("--help").output
    old = _run(tree, "--batch", "2", "-o", tmp_path / "c.jsonl")
    assert old.exit_code == 2 and not (tmp_path / "c.jsonl").exists()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--from", "pacs"], "--from must be one of mimic-cxr, iu-xray, mimic-rg4, folder"),
        (["--batch-size", "0"], "--batch-size must be >= 1"),
        (["--from", "iu-xray"], "no IU X-ray reports in"),
        (["--from", "mimic-rg4"], "no *.json annotation files in"),
        (["--from", "folder", "--limit", "-1"], "--limit must be >= 0"),
    ],
)
def test_bad_options_and_sources_are_one_line(tree, tmp_path, args, needle):
    res = _run(tree if "iu-xray" not in args else tmp_path, *args, "-o", tmp_path / "o.jsonl")
    assert res.exit_code == 2, res.output
    assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.output


def test_a_release_file_without_a_tokenizer_imports_and_says_the_scores_were_not_mapped(tmp_path):
    item = {
        "id": "d1",
        "finding": "The heart is normal.",
        "impression": "s",
        "APPA_flag": "PA",
        "APPA_imagepath": "files/p10/p10000001/s50000001/d1.jpg",
        "history": 0,
        "indication": "cough",
        "new_scores": [0, 1, 1, 0],
    }
    (tmp_path / "mimic_sn.json").write_text(json.dumps({"train": [item], "val": [], "test": []}))
    res = _run(
        tmp_path / "mimic_sn.json",
        "--from",
        "mimic-rg4",
        "-o",
        tmp_path / "o.jsonl",
        "--stats-json",
        tmp_path / "s.json",
    )
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "o.jsonl").read_text())
    assert rec["id"] == "s50000001_sn" and rec["subject_id"] == "10000001" and rec["impression"] is None
    assert "sentence_weights" not in rec
    notes = json.loads((tmp_path / "s.json").read_text())["studies"]["notes"]
    assert any("--scores-tokenizer" in k for k in notes)
