"""Shared test fixtures: where the real IU reports live (skip when absent), small corpora."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RG4_SHARED", REPO.parent / "shared"))
IU_DIR = SHARED / "data" / "iu"

# Two cores: keep each test process from oversubscribing them.
torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture
def iu_dir() -> Path:
    if not (IU_DIR / "reports.jsonl").exists():
        pytest.skip("real IU reports not available (../shared/data/iu)")
    return IU_DIR


REPORT_CORPUS = [
    "findings: The heart is normal in size. There is no pleural effusion or pneumothorax. "
    "impression: No acute cardiopulmonary process.",
    "findings: Moderate right pleural effusion with adjacent atelectasis. The heart is enlarged. "
    "impression: Right effusion. Cardiomegaly.",
    "findings: Small left apical pneumothorax. A right internal jugular catheter ends in the SVC. "
    "impression: Small left pneumothorax.",
    "findings: Patchy opacity in the left lower lobe may represent pneumonia. impression: Possible pneumonia.",
]


# ---- shared fixtures, built once per test run -------------------------------------------
# Session-scoped: each is made once however many modules use it. Tests read them and write
# their own outputs under tmp_path; nothing here may be changed by a test.


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """An untrained tiny-preset model dir (tokenizer from REPORT_CORPUS, seed 0)."""
    from rg4cli.model import build_model, save_model_dir

    out = tmp_path_factory.mktemp("tiny-model") / "model"
    save_model_dir(build_model("tiny", tokenizer_texts=REPORT_CORPUS, seed=0), out)
    return out


@pytest.fixture(scope="session")
def tiny_model():
    """The tiny preset built without a report corpus (seed 0); copy what you change."""
    from rg4cli.model import build_model

    return build_model("tiny", seed=0)


@pytest.fixture(scope="session")
def generate_workdir(tmp_path_factory, tiny_model_dir):
    """Eight grayscale images, the tiny model dir and eight studies in the four settings."""
    import json
    import shutil

    import numpy as np
    from PIL import Image

    root = tmp_path_factory.mktemp("gen")
    (root / "img").mkdir()
    for i in range(8):
        arr = (np.random.RandomState(i).rand(130, 120) * 255).astype("uint8")
        Image.fromarray(arr).save(root / "img" / f"{i}.png")  # grayscale, like X-rays
    shutil.copytree(tiny_model_dir, root / "model")
    records = []
    for i, setting in enumerate(["sn", "mw", "sw", "mn", "sn", "mw", "mn", "sw"]):
        rec = {"id": f"s{i}", "frontal": f"img/{i}.png", "view": "PA", "keep": i, "findings": "reference"}
        if setting[0] == "m":
            rec["lateral"] = f"img/{(i + 1) % 8}.png"
        if setting[1] == "w":
            rec["prior_report"] = "The lungs are clear."
        records.append(rec)
    (root / "studies.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return root, records


# `rg4 synth`'s tree, as the CLI writes it.
SYNTH_SUBJECTS, SYNTH_SEED, SYNTH_SIZE = 20, 1, 96


@pytest.fixture(scope="session")
def synth_tree(tmp_path_factory) -> Path:
    import re

    from typer.testing import CliRunner

    from rg4cli.cli.app import app

    root = tmp_path_factory.mktemp("synth") / "mimic"
    result = CliRunner().invoke(
        app,
        ["synth", "--subjects", str(SYNTH_SUBJECTS), "--seed", str(SYNTH_SEED), "--image-size", str(SYNTH_SIZE)]
        + ["-o", str(root)],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert re.search(rf"{SYNTH_SUBJECTS} subjects, \d+ studies, \d+ images", result.stderr)
    return root


@pytest.fixture(scope="session")
def synth_studies():
    from rg4cli.synth.studies import generate_studies

    return generate_studies(50, seed=7, image_size=64)


@pytest.fixture(scope="session")
def phantom_tree(tmp_path_factory) -> Path:
    """A small MIMIC-CXR-JPG phantom tree (40 subjects, 32 px) for `rg4 build-data`."""
    from rg4cli.synth.mimic import write_mimic_tree
    from rg4cli.synth.studies import generate_studies

    root = tmp_path_factory.mktemp("phantom")
    write_mimic_tree(root, generate_studies(40, seed=3, image_size=32))
    return root


@pytest.fixture(scope="session")
def built_dataset(phantom_tree, tmp_path_factory) -> tuple[Path, dict]:
    """`rg4 build-data` on phantom_tree: the records and the statistics."""
    import json

    from typer.testing import CliRunner

    from rg4cli.cli.app import app

    out = tmp_path_factory.mktemp("built") / "rg4.jsonl"
    stats = out.with_name("stats.json")
    args = ["build-data", str(phantom_tree), "-o", str(out), "--stats", "--stats-json", str(stats)]
    result = CliRunner().invoke(app, [*args, "--rejects", str(out.with_name("rejects.jsonl"))])
    assert result.exit_code == 0, result.output
    assert "Table 1" in result.stderr and result.stdout == ""
    return out, json.loads(stats.read_text())


@pytest.fixture(scope="session")
def generator_phantom(tmp_path_factory) -> dict:
    """Generator records from a phantom tree: 8 sn ones and 4 of each setting, a feature cache dir."""
    from rg4cli.records.study import setting_of
    from rg4cli.vocab import INPUT_SETTINGS

    from .lib.corpora import phantom_records
    from .lib.jsonl import write_jsonl

    root = tmp_path_factory.mktemp("phantom")
    records = phantom_records(root)
    sn = [r for r in records if setting_of(r) == "sn"][:8]
    mixed = []
    for s in INPUT_SETTINGS:  # 4 of each setting for stage 2
        mixed += [r for r in records if setting_of(r) == s][:4]
    return {
        "root": root,
        "sn": write_jsonl(root / "sn.jsonl", sn),
        "mixed": write_jsonl(root / "mixed.jsonl", mixed),
        "cache": root / "cache",
    }


@pytest.fixture(scope="session")
def stage1_model(generator_phantom, tmp_path_factory) -> Path:
    """A tiny stage-1 generator trained on generator_phantom's sn records."""
    from rg4cli.training.engine import EngineConfig, train
    from rg4cli.training.generator import GeneratorTask

    out = tmp_path_factory.mktemp("stage1") / "model"
    phantom = generator_phantom
    task = GeneratorTask(
        str(phantom["sn"]), out, image_root=phantom["root"], batch_size=4, tlw="off", cache_dir=phantom["cache"]
    )
    train(task, EngineConfig(out_dir=out, epochs=12, lr=3e-3, grad_accum=1, progress=False, seed=0))
    return out


@pytest.fixture(scope="session")
def classifier_data(tmp_path_factory) -> tuple[Path, Path]:
    """Train (48) and validation (16) records for the BERT classifiers."""
    from .lib.corpora import make_records
    from .lib.jsonl import write_jsonl

    d = tmp_path_factory.mktemp("clf")
    return write_jsonl(d / "train.jsonl", make_records(48, 0)), write_jsonl(d / "val.jsonl", make_records(16, 1))


@pytest.fixture(scope="session")
def bert_dir(tmp_path_factory) -> Path:
    """A small 'pretrained' BERT directory (config, weights, vocabulary) as --init takes it."""
    from transformers import BertModel

    from rg4cli.model.classifiers import tiny_bert_config
    from rg4cli.model.tokenizers import build_wordpiece_tokenizer

    from .lib.corpora import make_records

    path = tmp_path_factory.mktemp("bert")
    tokenizer = build_wordpiece_tokenizer([r["findings"] for r in make_records(40)], vocab_size=300)
    torch.manual_seed(7)
    BertModel(tiny_bert_config(len(tokenizer)), add_pooling_layer=False).save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    return path


@pytest.fixture(scope="session")
def labeler_dir(tmp_path_factory) -> Path:
    """An untrained BERT labeler directory (random weights, init 0.2)."""
    from rg4cli.model.classifiers import save_classifier_dir

    from .lib.models import random_labeler

    out = tmp_path_factory.mktemp("weights") / "labeler"
    save_classifier_dir(random_labeler(hidden=32, init=0.2), out)
    return out


@pytest.fixture
def scored_files(tmp_path):
    """References, good and bad hypotheses (24 each) as `rg4 score` reads them."""
    from .lib.corpora import REPORTS
    from .lib.jsonl import jsonl_arg

    refs, good, bad = [], [], []
    for i in range(24):
        text, lab = REPORTS[i % 4]
        wrong_text, wrong_lab = REPORTS[(i + 1) % 4]
        findings, impression = text[len("findings: ") :].split(" impression: ")
        ref = {
            "id": f"s{i}",
            "findings": findings,
            "impression": impression,
            "labels": lab,
            "frontal": "f.jpg",
            "lateral": "l.jpg" if i % 2 else None,
            "prior_report": None,
        }
        refs.append(ref)
        hall = {
            "pc": i % 3 == 0,
            "pp": False,
            "view": False,
            "comm": False,
            "input_agnostic": i % 3 == 0,
            "unsupported": ["pc"] if i % 3 == 0 else [],
        }
        good.append(
            {
                "id": f"s{i}",
                "report": text if i % 6 else wrong_text,
                "labels": lab if i % 6 else wrong_lab,
                "hallucination": hall,
            }
        )
        bad.append({"id": f"s{i}", "report": wrong_text, "labels": wrong_lab})
    return {
        "ref": jsonl_arg(tmp_path / "ref.jsonl", refs),
        "good": jsonl_arg(tmp_path / "good.jsonl", good),
        "bad": jsonl_arg(tmp_path / "bad.jsonl", bad),
        "dir": tmp_path,
        "refs": refs,
        "good_recs": good,
    }


@pytest.fixture
def server_factory():
    """Make loopback chat-completions servers (tests.lib.rewrite_server.Server); closed after the test."""
    from .lib.rewrite_server import Server

    made = []

    def make(**kw):
        s = Server(**kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()
