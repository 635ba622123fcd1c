"""`rg4 train --task import`: released checkpoints become model dirs that the other commands read.

The files are made as in tests/lib/test_model_official.py: the released modules' attribute
names, saved the way the released training code saves them (`config` = Lightning's
AttributeDict).
"""

from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image
from typer.testing import CliRunner

from rg4cli.cli.app import app

from ..lib.test_model_official import (
    RELEASED_HPARAMS,
    Payload,
    ReleasedDiscBertLayout,
    _bert_dir,
    _layout,
    save_as_released,
)

torch.set_num_threads(1)


def test_import_from_the_cli_then_generate(tiny_model, tmp_path):
    pth = save_as_released(tmp_path, _layout(tiny_model).released_state(), RELEASED_HPARAMS, "stage2")
    runner = CliRunner()
    res = runner.invoke(
        app, ["train", "--task", "import", "--init", str(pth), "--preset", "tiny", "-o", str(tmp_path / "model")]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["kind"] == "llm-rg4" and summary["out_dir"] == str(tmp_path / "model")
    (tmp_path / "img").mkdir()
    for i in range(2):
        Image.fromarray((np.random.RandomState(i).rand(120, 120) * 255).astype("uint8")).save(
            tmp_path / "img" / f"{i}.png"
        )
    studies = [
        {"id": "a", "frontal": "img/0.png", "view": "PA"},
        {"id": "b", "frontal": "img/0.png", "lateral": "img/1.png", "prior_report": "Clear lungs."},
    ]
    (tmp_path / "studies.jsonl").write_text("".join(json.dumps(s) + "\n" for s in studies))
    res = runner.invoke(
        app,
        [
            "generate",
            str(tmp_path / "studies.jsonl"),
            "--model",
            str(tmp_path / "model"),
            "--image-root",
            str(tmp_path),
            "--max-new-tokens",
            "4",
            "--min-new-tokens",
            "1",
            "--num-beams",
            "1",
        ],
    )
    assert res.exit_code == 0, res.output
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["id"] for r in out] == ["a", "b"] and [r["setting"] for r in out] == ["sn", "mw"]
    assert all(r["gen"]["new_tokens"] >= 1 for r in out)


def test_a_payload_in_place_of_the_config_is_one_line_exit_2_and_runs_nothing(tiny_model, tmp_path):
    marker = tmp_path / "payload-ran"
    pth = tmp_path / "evil.pth"
    torch.save({"model": _layout(tiny_model).released_state(), "config": Payload(marker), "epoch": 1, "step": 2}, pth)
    res = CliRunner().invoke(
        app, ["train", "--task", "import", "--init", str(pth), "--preset", "tiny", "-o", str(tmp_path / "model")]
    )
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused" in lines[0] and "posix.system" in lines[0] and "Traceback" not in res.output
    assert not marker.exists() and not (tmp_path / "model").exists()


def test_import_usage_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--task", "import", "-o", str(tmp_path / "m")])
    assert res.exit_code == 2 and "--init FILE" in res.stderr
    res = runner.invoke(
        app, ["train", "--task", "import", "--init", str(tmp_path / "none.pth"), "-o", str(tmp_path / "m")]
    )
    assert res.exit_code == 2 and "no such checkpoint" in res.stderr
    torch.save({"model": {"encoder.weight": torch.ones(2)}}, tmp_path / "other.pth")
    res = runner.invoke(
        app, ["train", "--task", "import", "--init", str(tmp_path / "other.pth"), "-o", str(tmp_path / "m")]
    )
    assert res.exit_code == 2 and "neither a released LLM-RG4 checkpoint" in res.stderr


def test_released_discbert_imports_for_rg4_hallucination(tmp_path):
    bert = _bert_dir(tmp_path)
    released = ReleasedDiscBertLayout(bert).eval()
    pth = save_as_released(tmp_path, released.state_dict(), {"BertModel": str(bert)}, "discbert")
    res = CliRunner().invoke(
        app, ["train", "--task", "import", "--init", str(pth), "--bert", str(bert), "-o", str(tmp_path / "disc")]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["kind"] == "discbert"
    texts = ["the heart is normal.", "compared to prior study, the heart is normal. discussed with dr ."]
    with torch.no_grad():
        want = torch.softmax(released.labeler(texts)[0], -1)[:, 1]
    records = [{"id": str(j), "frontal": "x.png", "report": t} for j, t in enumerate(texts)]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    for model in (tmp_path / "disc", pth):  # the model dir, or the released file itself (with --judge-bert)
        res = CliRunner().invoke(
            app,
            [
                "hallucination",
                str(tmp_path / "r.jsonl"),
                "--backend",
                "discbert",
                "--judge-model",
                str(model),
                "--judge-bert",
                str(bert),
            ],
        )
        assert res.exit_code == 0, res.output
        out = [json.loads(line)["hallucination"] for line in res.stdout.splitlines()]
        assert [o["scores"]["pc"] for o in out] == [round(float(want[j]), 4) for j in range(2)]


def test_the_released_discbert_fine_tunes_on_judged_flags(tmp_path):
    from rg4cli.model.classifiers import load_classifier, predict_discbert

    bert = _bert_dir(tmp_path)
    pth = save_as_released(tmp_path, ReleasedDiscBertLayout(bert).state_dict(), {"BertModel": str(bert)}, "discbert")
    flags = [
        {"pc": True, "pp": False, "view": False, "comm": True},
        {"pc": False, "pp": False, "view": True, "comm": False},
    ]
    records = [
        {"id": str(k), "report": t, "hallucination": f}
        for k, (t, f) in enumerate(
            zip(["compared to prior study, discussed with dr .", "lateral view . the heart is normal ."], flags)
        )
    ] * 4
    (tmp_path / "judged.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    res = CliRunner().invoke(
        app,
        [
            "train",
            "--task",
            "discbert",
            "--init",
            str(pth),
            "--bert",
            str(bert),
            "--max-steps",
            "3",
            "--batch-size",
            "4",
            "--lr",
            "1e-3",
            "-q",
            "-o",
            str(tmp_path / "tuned"),
            "--val",
            str(tmp_path / "judged.jsonl"),
            str(tmp_path / "judged.jsonl"),
        ],
    )
    assert res.exit_code == 0, res.output
    clf = load_classifier(tmp_path / "tuned", "discbert")
    assert clf.model.head_outputs == 2  # the released two-class heads, fine-tuned
    assert len(predict_discbert(clf, ["lateral view ."])) == 1
