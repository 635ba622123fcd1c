"""build-data sources besides MIMIC-CXR: IU X-ray, a folder of images / a DICOM export; the cron example."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rg4cli.cli.app import app
from rg4cli.dataset import BuildSettings, build_dataset
from rg4cli.records.provenance import annotation
from rg4cli.records.streams import RecordReader
from rg4cli.records.study import Study
from rg4cli.synth.iu import write_iu_tree
from rg4cli.synth.mimic import write_mimic_tree
from rg4cli.synth.studies import generate_studies

REPO = Path(__file__).resolve().parents[2]


def _read(path) -> list[dict]:
    return [rec for _, rec in RecordReader(str(path))]


def test_every_real_iu_report_is_read_and_accounted(iu_dir, tmp_path):
    out = tmp_path / "iu.jsonl"
    summary = build_dataset(BuildSettings(source=iu_dir, source_format="iu-xray", output=str(out), check_images=False))
    studies = summary["studies"]
    assert studies["in_metadata"] == 3261
    assert studies["used"] + sum(studies["skipped"].values()) == 3261
    records = _read(out)
    counts = Counter((r["split"], r["setting"]) for r in records)
    assert {s for _, s in counts} == {"sn", "mn"}  # IU has no prior studies
    assert {sp for sp, _ in counts} == {"train", "validate", None}
    for rec in records:
        Study.from_record(rec, need_frontal=True)  # every record is a valid study record
        assert rec["frontal"].startswith("images/") and rec["prior_report"] is None
    # CheXbert labels shipped with the reports ride along only while their findings text does
    labeled = [r for r in records if "labels" in r]
    assert labeled and all(annotation(r, "labels", r["findings"]) == r["labels"] for r in labeled)
    assert all(r["raw_findings"] == r["findings"] for r in labeled)
    assert not any("labels" in r for r in records if r["raw_findings"] != r["findings"])


def test_an_iu_shaped_tree_builds_with_r2gen_paths_and_16bit_images(tmp_path):
    from rg4cli.images import check_image

    write_iu_tree(tmp_path / "iu", generate_studies(6, seed=2, image_size=48, max_studies_per_subject=2), "png16")
    out = tmp_path / "iu.jsonl"
    summary = build_dataset(BuildSettings(source=tmp_path / "iu", source_format="iu-xray", output=str(out)))
    records = _read(out)
    assert summary["studies"]["skipped"] == {} and records
    assert {r["setting"] for r in records} == {"sn", "mn"}
    annotation = json.loads((tmp_path / "iu" / "annotation.json").read_text())
    split_of = {item["id"].split("_")[0]: sp for sp, items in annotation.items() for item in items}
    changed = [r for r in records if r["rewrite"]["changed"]]
    assert changed and len(changed) < len(records)
    for rec in records:  # labels bound to findings+impression: kept exactly when the rewrite left it alone
        assert ("labels" in rec) == (not rec["rewrite"]["changed"]), rec["id"]
        assert rec["split"] == {"val": "validate"}.get(split_of.get(rec["study_id"]), split_of.get(rec["study_id"]))
        assert rec["frontal"].endswith("/0.png") and (rec["lateral"] is None or rec["lateral"].endswith("/1.png"))
        check_image(tmp_path / "iu", rec["frontal"])


@pytest.mark.parametrize("image_format", ["dicom", "png"])
def test_a_folder_drop_becomes_study_records(tmp_path, image_format):
    specs = generate_studies(3, seed=4, image_size=40, max_studies_per_subject=2)
    write_mimic_tree(tmp_path / "tree", specs, image_format)
    drop = tmp_path / "drop"
    if image_format == "dicom":  # a PACS export: files without suffix, flat, studies mixed
        drop.mkdir()
        for k, path in enumerate(sorted((tmp_path / "tree" / "files").rglob("*.dcm"))):
            shutil.copy(path, drop / f"IM{k:04d}")
    else:  # one folder per study, views in the file names
        for spec in specs:
            (drop / spec.study_id).mkdir(parents=True)
            written = tmp_path / "tree" / Path(spec.frontal_path).with_suffix(".png")
            shutil.copy(written, drop / spec.study_id / f"{spec.view.lower()}.png")
            if spec.lateral_path:
                shutil.copy(
                    Path(tmp_path / "tree" / spec.lateral_path).with_suffix(".png"),
                    drop / spec.study_id / "lateral.png",
                )
    out = tmp_path / "studies.jsonl"
    build_dataset(BuildSettings(source=drop, source_format="folder", output=str(out)))
    records = _read(out)
    assert len(records) == len(specs)
    assert sorted(r["setting"] for r in records) == sorted("mn" if s.lateral_path else "sn" for s in specs)
    assert sorted(r["view"] for r in records) == sorted(s.view for s in specs)
    for rec in records:
        Study.from_record(rec, need_frontal=True)
        assert (drop / rec["frontal"]).is_file() and rec["findings"] is None


@pytest.mark.slow
def test_train_and_generate_run_end_to_end_on_an_iu_shaped_tree_and_cron_on_a_dicom_drop(tmp_path):
    runner = CliRunner()
    write_iu_tree(tmp_path / "iu", generate_studies(16, seed=1, image_size=64, max_studies_per_subject=1), "png16")
    res = runner.invoke(app, ["build-data", str(tmp_path / "iu"), "--from", "iu-xray", "-o", str(tmp_path / "d.jsonl")])
    assert res.exit_code == 0, res.output
    common = [
        "--image-root",
        str(tmp_path / "iu"),
        "--max-steps",
        "2",
        "--batch-size",
        "4",
        "--grad-accum",
        "1",
        "--checkpoint-every",
        "0",
        "--cache-dir",
        str(tmp_path / "cache"),
        "-q",
    ]
    res = runner.invoke(app, ["train", "--stage", "1", str(tmp_path / "d.jsonl"), "-o", str(tmp_path / "m1"), *common])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "train",
            "--stage",
            "2",
            "--init",
            str(tmp_path / "m1"),
            str(tmp_path / "d.jsonl"),
            "-o",
            str(tmp_path / "m2"),
            *common,
        ],
    )
    assert res.exit_code == 0, res.output
    fast = ["--max-new-tokens", "4", "--min-new-tokens", "2", "--num-beams", "1"]
    res = runner.invoke(
        app,
        [
            "generate",
            str(tmp_path / "d.jsonl"),
            "--model",
            str(tmp_path / "m2"),
            "--image-root",
            str(tmp_path / "iu"),
            "-o",
            str(tmp_path / "g.jsonl"),
            *fast,
        ],
    )
    assert res.exit_code == 0, res.output
    generated = _read(tmp_path / "g.jsonl")
    assert len(generated) == len(_read(tmp_path / "d.jsonl")) and all("report" in r for r in generated)

    # examples/cron-daily.sh on what a PACS export drops (DICOM, no suffixes)
    write_mimic_tree(tmp_path / "tree", generate_studies(2, seed=3, image_size=48, max_studies_per_subject=2), "dicom")
    day = tmp_path / "inbox" / "2030-01-01"
    day.mkdir(parents=True)
    for k, path in enumerate(sorted((tmp_path / "tree" / "files").rglob("*.dcm"))):
        shutil.copy(path, day / f"IM{k:04d}")
    env = dict(
        os.environ,
        DAY="2030-01-01",
        INBOX=str(tmp_path / "inbox"),
        OUTBOX=str(tmp_path / "outbox"),
        MODEL=str(tmp_path / "m2"),
        RG4=str(Path(os.sys.executable).with_name("rg4")),
        OMP_NUM_THREADS="1",
    )
    run = subprocess.run(
        ["bash", str(REPO / "examples" / "cron-daily.sh")], env=env, capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stderr
    drafts = _read(tmp_path / "outbox" / "2030-01-01.jsonl")
    listed = _read(tmp_path / "outbox" / "2030-01-01.studies.jsonl")
    assert len(drafts) == len(listed) > 0 and all(r["report"] for r in drafts)
