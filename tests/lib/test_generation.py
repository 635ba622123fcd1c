"""`rg4 generate` on the tiny preset: settings, order, errors, resume, determinism."""

from __future__ import annotations

import json

import torch
from typer.testing import CliRunner

from rg4cli.cli.app import app
from rg4cli.generation.run import run_generate
from rg4cli.model import DecodeOptions, load_model_dir

from .jsonl import write_jsonl

torch.set_num_threads(1)
FAST = ["--max-new-tokens", "4", "--min-new-tokens", "2", "--num-beams", "2"]


def _run(args):
    return CliRunner().invoke(app, ["generate", *args])


def test_bounded_window_keeps_order(generate_workdir, tmp_path):
    """A small window forces partial batches; output order still = input order."""
    root, records = generate_workdir
    model = load_model_dir(root / "model")
    many = [dict(records[i % 8], id=f"r{i}") for i in range(12)]
    out = tmp_path / "w.jsonl"
    summary = run_generate(
        str(write_jsonl(tmp_path / "many.jsonl", many)),
        str(out),
        model_dir=None,
        image_root=root,
        decode=DecodeOptions(num_beams=1, max_new_tokens=2, min_new_tokens=1),
        batch_size=4,
        window=3,
        model=model,
    )
    assert [json.loads(l)["id"] for l in out.read_text().splitlines()] == [r["id"] for r in many]
    assert summary.written == 12 and sum(summary.per_setting.values()) == 12


def test_sections_reference_asks_for_the_sections_each_record_has(generate_workdir, tmp_path):
    """Default --sections reference: a findings-only record gets the findings instruction, a record
    without a reference gets both (the released test code asks per reference)."""
    from rg4cli.records.study import Study

    root, records = generate_workdir
    recs = [
        dict(records[0], id="f"),
        dict(records[4], id="none", findings=None),
        dict(records[0], id="i", findings=None, impression="impression text"),
    ]
    path = write_jsonl(tmp_path / "sections.jsonl", recs)
    model = load_model_dir(root / "model")
    asked = []
    real_generate = model.generate

    def spy(features, batch, options=None):
        asked.extend(batch.prefixes)
        return real_generate(features, batch, options)

    model.generate = spy

    def prefix(sections):
        return model.text_batch([Study(id="x", frontal="f", view="PA", findings="x")], sections=sections).prefixes[0]

    def run(sections):
        asked.clear()
        run_generate(
            str(path),
            str(tmp_path / f"{sections}.jsonl"),
            model_dir=root / "model",
            image_root=root,
            sections=sections,
            decode=DecodeOptions(num_beams=1, max_new_tokens=2, min_new_tokens=1),
            model=model,
        )
        return list(asked)

    assert run("reference") == [prefix("findings"), prefix("both"), prefix("impression")]
    assert len({str(p) for p in run("reference")}) == 3
    assert run("both") == [prefix("both")] * 3
