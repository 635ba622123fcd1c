"""CLI tests of train generator (library tests: tests/lib/test_training_generator.py)."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from rg4cli.cli.app import app
from rg4cli.text.sections import join_sections
from rg4cli.training.generator import INIT_MODEL_DIR

from ..lib.jsonl import write_jsonl


def test_cli_errors_name_the_problem(generator_phantom, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--stage", "2", "-o", str(tmp_path / "x"), str(generator_phantom["sn"])])
    assert res.exit_code == 2 and "--stage 2 needs --init" in res.output
    recs = [json.loads(l) for l in generator_phantom["sn"].read_text().splitlines()][:2]
    recs[1]["sentence_weights"] = [{"start": 0, "end": 10_000, "weight": 1.75}]
    bad = write_jsonl(tmp_path / "bad.jsonl", recs)
    res = runner.invoke(
        app, ["train", "--image-root", str(generator_phantom["root"]), "-o", str(tmp_path / "y"), str(bad)]
    )
    assert res.exit_code == 2 and "bad.jsonl:2: sentence_weights: item 0" in res.output
    res = runner.invoke(
        app, ["train", "--stage", "2", "--init", str(tmp_path), "-o", str(tmp_path / "w"), str(generator_phantom["sn"])]
    )
    assert res.exit_code == 2 and "not an rg4 model directory" in res.output
    res = runner.invoke(
        app,
        [
            "train",
            "--stage",
            "2",
            "--init",
            str(tmp_path),
            "--settings",
            "sn,xx",
            "-o",
            str(tmp_path / "z"),
            str(generator_phantom["sn"]),
        ],
    )
    assert res.exit_code == 2 and "unknown setting 'xx'" in res.output


def test_decoder_task_pretrains_a_language_model_the_generator_builds_on(generator_phantom, tmp_path):
    """--task decoder: a causal LM on the distinct report texts; --decoder DIR puts it under the tiny generator."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rg4cli.model import load_model_dir
    from rg4cli.training.decoder_lm import read_decoder_texts

    runner = CliRunner()
    lm = tmp_path / "lm"
    res = runner.invoke(
        app,
        [
            "train",
            "--task",
            "decoder",
            str(generator_phantom["mixed"]),
            "-o",
            str(lm),
            "--max-steps",
            "30",
            "--batch-size",
            "8",
            "--grad-accum",
            "1",
            "--checkpoint-every",
            "0",
            "--seed",
            "0",
            "--sampler",
            "length",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["final_loss"] < summary["first_loss"] - 1.0  # it learns the report language
    records = [json.loads(line) for line in generator_phantom["mixed"].read_text().splitlines()]
    texts = read_decoder_texts(str(generator_phantom["mixed"]))
    targets = {join_sections(r["findings"], r["impression"]) for r in records}
    assert targets <= set(texts) and len(texts) == len(set(texts))  # every target, each distinct text once
    assert any(r["prior_report"] in texts for r in records if r["prior_report"])
    decoder = AutoModelForCausalLM.from_pretrained(str(lm))  # a plain HF causal LM + tokenizer
    tokenizer = AutoTokenizer.from_pretrained(str(lm))

    gen = tmp_path / "gen"
    res = runner.invoke(
        app,
        [
            "train",
            "--stage",
            "1",
            str(generator_phantom["sn"]),
            "--decoder",
            str(lm),
            "--image-root",
            str(generator_phantom["root"]),
            "-o",
            str(gen),
            "--max-steps",
            "1",
            "--batch-size",
            "4",
            "--grad-accum",
            "1",
            "--checkpoint-every",
            "0",
            "--cache-dir",
            str(generator_phantom["cache"]),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    cfg = json.loads((gen / "rg4_model.json").read_text())
    assert cfg["decoder"] == "decoder" and "decoder" in cfg["bundled"]  # a copy: the dir stands alone
    model = load_model_dir(gen)
    assert model.tokenizer.get_vocab() == tokenizer.get_vocab()
    torch.testing.assert_close(model.decoder.get_input_embeddings().weight, decoder.get_input_embeddings().weight)
    fresh = json.loads(
        runner.invoke(
            app,
            [
                "train",
                "--stage",
                "1",
                str(generator_phantom["sn"]),
                "--image-root",
                str(generator_phantom["root"]),
                "-o",
                str(tmp_path / "r"),
                "--max-steps",
                "1",
                "--batch-size",
                "4",
                "--grad-accum",
                "1",
                "--checkpoint-every",
                "0",
                "--cache-dir",
                str(generator_phantom["cache"]),
                "-q",
            ],
        )
        .stdout.strip()
        .splitlines()[-1]
    )["first_loss"]
    assert json.loads(res.stdout.strip().splitlines()[-1])["first_loss"] < fresh - 1.0  # it starts knowing words

    res = runner.invoke(
        app,
        ["train", "--task", "decoder", "--preset", "paper", str(generator_phantom["sn"]), "-o", str(tmp_path / "p")],
    )
    assert res.exit_code == 2 and "tiny preset" in res.output
    res = runner.invoke(
        app, ["train", "--task", "decoder", "--lam", "2", str(generator_phantom["sn"]), "-o", str(tmp_path / "q")]
    )
    assert res.exit_code == 2 and "--lam does not apply to --task decoder" in res.output
    res = runner.invoke(
        app,
        ["train", "--task", "decoder", "--sampler", "cycle", str(generator_phantom["sn"]), "-o", str(tmp_path / "c")],
    )
    assert res.exit_code == 2 and "--sampler cycle applies to --task generator only" in res.output


def test_released_recipe_options_reach_the_run_and_the_model_dir(generator_phantom, tmp_path):
    """The paper preset's recipe on the tiny components, option by option: stage 1 on BOS + image,
    then stage 2 on cycled settings with cleaned, cut targets and the released loss."""
    runner = CliRunner()
    released = [
        "--sampler",
        "cycle",
        "--warmup",
        "per-epoch",
        "--max-grad-norm",
        "0",
        "--decay",
        "all",
        "--stage1-input",
        "bos-image",
        "--prompt-tokenization",
        "one-string",
        "--report-text",
        "r2gen",
        "--target-max-tokens",
        "40",
        "--prior-padding",
        "attended",
        "--tlw",
        "official",
    ]
    common = [
        "--image-root",
        str(generator_phantom["root"]),
        "--batch-size",
        "2",
        "--grad-accum",
        "1",
        "--epochs",
        "1",
        "--checkpoint-every",
        "0",
        "--cache-dir",
        str(generator_phantom["cache"]),
        "-q",
    ]
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    res = runner.invoke(app, ["train", str(generator_phantom["sn"]), "-o", str(s1), *common, *released])
    assert res.exit_code == 0, res.output
    cfg = json.loads((s1 / "rg4_model.json").read_text())
    assert (
        cfg["stage1_input"],
        cfg["prompt_tokenization"],
        cfg["report_text"],
        cfg["target_max_tokens"],
        cfg["mask_prior_padding"],
    ) == ("bos-image", "one-string", "r2gen", 40, False)
    run = json.loads((s1 / "train_config.json").read_text())
    assert (run["warmup"], run["decay"], run["max_grad_norm"]) == ("per-epoch", "all", 0.0)
    # Stage 1 trained the frontal block only: the projection is still at its initialisation.
    init = load_file(str(s1 / "checkpoints" / INIT_MODEL_DIR.split("/", 1)[1] / "fusion.safetensors"))
    final = load_file(str(s1 / "fusion.safetensors"))
    assert torch.equal(init["out_proj.weight"], final["out_proj.weight"])
    assert not torch.equal(init["frontal.proj_in.weight"], final["frontal.proj_in.weight"])

    res = runner.invoke(
        app,
        [
            "train",
            "--stage",
            "2",
            "--init",
            str(s1),
            str(generator_phantom["mixed"]),
            "-o",
            str(s2),
            *common,
            "--sampler",
            "cycle",
            "--tlw",
            "official",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["steps"] == 4 * 2  # 4 settings x ceil(4 sn / batch 2) rounds
    assert not torch.equal(final["out_proj.weight"], load_file(str(s2 / "fusion.safetensors"))["out_proj.weight"])
    assert json.loads((s2 / "train_config.json").read_text())["task_config"]["sampler"] == "cycle"
