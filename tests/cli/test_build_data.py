"""CLI tests of build data (library tests: tests/lib/test_dataset_assembly.py)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from rg4cli.cli.app import app
from rg4cli.dataset.mimic import MimicImport
from rg4cli.records.study import Study, setting_of

from ..lib.test_dataset_assembly import (
    JUDGE,
    LABELER,
    _joined,
    _records,
    _tree,
)


def test_sn_output_is_clean_labels_unchanged_and_table1_drops(built_dataset):
    out, stats = built_dataset
    recs = _records(out)
    sn = [r for r in recs if r["setting"] == "sn"]
    assert len(sn) > 50
    judged = JUDGE.judge([_joined(r) for r in sn], ["sn"] * len(sn), projections=[r["view"] for r in sn])
    for r, j in zip(sn, judged):
        assert not ({"pc", "pp", "comm"} & set(j["unsupported"])), (r["id"], r["findings"], r["impression"])
    for section in ("impression", "findings"):
        before = LABELER.label([r[f"raw_{section}"] or "" for r in recs])
        after = LABELER.label([r[section] or "" for r in recs])
        assert before == after
    t_in, t_out = stats["table1"]["input_all_sn"]["all"], stats["table1"]["output_sn"]["all"]
    assert t_in["pc"] >= 20 and t_in["pp"] >= 5
    assert all(t_out[c] < 1.0 for c in ("pc", "pp", "view", "comm"))
    assert stats["examples"]["written"]["sn"] == len(sn)


def test_records_follow_the_study_record_contract(built_dataset, phantom_tree):
    out, stats = built_dataset
    recs = _records(out)
    assert len({r["id"] for r in recs}) == len(recs)
    order = {"sn": 0, "sw": 1, "mn": 2, "mw": 3}
    study_order = {s.study_id: k for k, s in enumerate(MimicImport(phantom_tree).studies())}
    keys = [(study_order[r["study_id"]], order[r["setting"]]) for r in recs]
    assert keys == sorted(keys)  # subject, date, then sn, sw, mn, mw
    assert [r["subject_id"] for r in recs] == sorted(r["subject_id"] for r in recs)
    by_study: dict[str, set] = {}
    for r in recs:
        assert r["id"] == f"s{r['study_id']}_{r['setting']}"
        assert setting_of(r) == r["setting"]
        Study.from_record(r, need_frontal=True)
        assert (phantom_tree / r["frontal"]).is_file()
        if r["lateral"]:
            assert (phantom_tree / r["lateral"]).is_file()
        assert r["rewrite"]["generator"] == "rules" and len(r["rewrite"]["verdicts"]) == r["rewrite"]["rounds"] + 1
        by_study.setdefault(r["study_id"], set()).add(r["setting"])
    rejected = {json.loads(x)["id"] for x in out.with_name("rejects.jsonl").read_text().splitlines()}
    for study, settings in by_study.items():
        lost = {s for s in ("sn", "sw", "mn", "mw") if f"s{study}_{s}" in rejected}
        have = settings | lost
        assert "sn" in have
        assert ("mw" in have) == ("mn" in have and "sw" in have)
    assert sum(stats["examples"]["dropped"].values()) == len(rejected)


def test_resume_after_a_cut_continues_to_the_same_bytes(built_dataset, phantom_tree, tmp_path):
    full, _ = built_dataset
    part = tmp_path / "part.jsonl"
    runner = CliRunner()
    res = runner.invoke(app, ["build-data", str(phantom_tree), "-o", str(part), "--limit", "15"])
    assert res.exit_code == 0, res.output
    data = part.read_bytes()
    part.write_bytes(data[: len(data) - 40])  # a killed run: the last line cut short
    res = runner.invoke(app, ["build-data", str(phantom_tree), "-o", str(part), "--resume", "--stats"])
    assert res.exit_code == 0, res.output
    assert "resuming" in res.stderr
    assert part.read_bytes() == full.read_bytes()


def test_cli_errors_are_one_line_exit_2(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["build-data", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "not a directory" in res.stderr
    res = runner.invoke(app, ["build-data", str(tmp_path), "--resume"])
    assert res.exit_code == 2 and "--resume needs -o" in res.stderr
    res = runner.invoke(app, ["build-data", str(tmp_path), "--generator", "gpt"])
    assert res.exit_code == 2 and "--generator must be one of" in res.stderr
    _tree(tmp_path)
    res = runner.invoke(app, ["build-data", str(tmp_path), "--generator", "openai"])
    assert res.exit_code == 2 and "--base-url is required" in res.stderr


def test_discbert_judge_and_chexbert_guard_run_through_the_cli(tmp_path):
    # Tiny random models in rg4's own directory layout: this checks the wiring (model
    # judge -> rules rewriter over the rules phrase finder -> model labeler guard).
    from rg4cli.model.classifiers import new_classifier, save_classifier_dir, tiny_bert_config
    from rg4cli.model.tokenizers import build_wordpiece_tokenizer

    tok = build_wordpiece_tokenizer(
        ["compared to the prior study small left effusion unchanged stable"] * 3, vocab_size=120
    )
    cfg = tiny_bert_config(len(tok), hidden_size=16, layers=1, heads=2)
    disc = save_classifier_dir(new_classifier("discbert", tok, cfg), tmp_path / "disc")
    lab = save_classifier_dir(new_classifier("labeler", tok, cfg), tmp_path / "lab")
    root = tmp_path / "mimic"
    root.mkdir()
    _tree(root)
    out = tmp_path / "o.jsonl"
    res = CliRunner().invoke(
        app,
        [
            "build-data",
            str(root),
            "-o",
            str(out),
            "--judge",
            "discbert",
            "--judge-model",
            str(disc),
            "--labeler",
            "chexbert",
            "--labeler-model",
            str(lab),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    recs = _records(out)
    assert recs and {r["rewrite"]["judge"] for r in recs} == {"discbert"}
    assert [r["id"] for r in recs][:2] == ["s50000001_sn", "s50000002_sn"]
