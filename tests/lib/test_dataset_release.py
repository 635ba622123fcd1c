"""MIMIC-RG4 release import: a file in the released format -> the records build-data writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rg4cli.dataset import BuildSettings, build_dataset
from rg4cli.dataset.release import sentence_weights_from_scores, to_release_item
from rg4cli.errors import InputError
from rg4cli.records.provenance import annotation
from rg4cli.records.streams import RecordReader
from rg4cli.text.sections import join_sections

COMPARED = (
    "id",
    "study_id",
    "subject_id",
    "split",
    "setting",
    "frontal",
    "view",
    "lateral",
    "prior_report",
    "prior_study_id",
    "indication",
    "history",
    "findings",
    "impression",
)


def _read(path) -> list[dict]:
    return [rec for _, rec in RecordReader(str(path))]


def _sentencepiece_like(texts: list[str]):
    """A Llama-style tokenizer (Metaspace pieces whose offsets include the space before the word, BOS)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from rg4cli.dataset.release import release_target

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer, tok.decoder = pre_tokenizers.Metaspace(), decoders.Metaspace()
    tok.train_from_iterator(
        [release_target(t, None) for t in texts],
        trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"]),
    )
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def _records_with_weights(tmp: Path, kind: str = "wordpiece") -> tuple[list[dict], Path]:
    from rg4cli.model.tokenizers import build_wordpiece_tokenizer
    from rg4cli.synth.mimic import write_mimic_tree
    from rg4cli.synth.studies import generate_studies
    from rg4cli.weights.backends import RulesWeigher

    root = tmp / "mimic"
    write_mimic_tree(root, generate_studies(12, seed=3, image_size=32))
    out = tmp / "built.jsonl"
    build_dataset(BuildSettings(source=root, output=str(out)))
    records = _read(out)
    targets = [join_sections(r["findings"], r["impression"]) for r in records]
    for rec, weights in zip(records, RulesWeigher().weigh(targets, [None] * len(records))):
        rec["sentence_weights"] = weights
    tok = build_wordpiece_tokenizer(targets, vocab_size=400) if kind == "wordpiece" else _sentencepiece_like(targets)
    tok_dir = tmp / "tokenizer"
    tok.save_pretrained(str(tok_dir))
    return records, tok_dir


@pytest.mark.parametrize("kind", ["wordpiece", "sentencepiece-like"])
def test_a_released_format_file_imports_to_the_records_build_data_writes(tmp_path, kind):
    from transformers import AutoTokenizer

    records, tok_dir = _records_with_weights(tmp_path, kind)
    tok = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
    assert {r["setting"] for r in records} == {"sn", "sw", "mn", "mw"}
    assert any(w["weight"] > 1 for r in records for w in r["sentence_weights"])
    release = tmp_path / "release"
    release.mkdir()
    by_setting: dict[str, dict[str, list]] = {}
    for rec in records:
        split = {"validate": "val"}.get(rec["split"], rec["split"])
        # no 100-token cut here: the mapping itself is under test (the cut is the official loader's)
        by_setting.setdefault(rec["setting"], {}).setdefault(split, []).append(
            to_release_item(rec, tok, max_tokens=10_000)
        )
    for setting, data in by_setting.items():
        (release / f"mimic_{setting}_annotation.json").write_text(json.dumps(data), encoding="utf-8")

    out = tmp_path / "imported.jsonl"
    summary = build_dataset(
        BuildSettings(source=release, source_format="mimic-rg4", output=str(out), scores_tokenizer=str(tok_dir))
    )
    imported = {r["id"]: r for r in _read(out)}
    assert len(imported) == len(records)
    assert summary["examples"]["written"] == {
        s: sum(r["setting"] == s for r in records) for s in sorted({r["setting"] for r in records})
    }
    for rec in records:
        got = imported[rec["id"]]
        assert {k: got[k] for k in COMPARED} == {k: rec[k] for k in COMPARED}, rec["id"]
        target = join_sections(rec["findings"], rec["impression"])
        weights = annotation(got, "sentence_weights", target)  # bound to the target it indexes
        assert [(w["start"], w["end"], w["weight"]) for w in weights] == [
            (w["start"], w["end"], w["weight"]) for w in rec["sentence_weights"]
        ], rec["id"]


def test_scores_land_on_the_sentence_whose_words_they_mark(tmp_path):
    from rg4cli.model.tokenizers import build_wordpiece_tokenizer

    findings = "Heart size is normal. Small left pleural effusion."
    impression = "Left effusion."
    tok = build_wordpiece_tokenizer([findings, impression], vocab_size=200)
    enc = tok(" left pleural effusion ", add_special_tokens=False)["input_ids"]
    cleaned_ids = tok("heart size is normal . small left pleural effusion . left effusion .", add_special_tokens=True)[
        "input_ids"
    ]
    # mark the tokens of the second sentence ("small left pleural effusion")
    start = cleaned_ids.index(tok.convert_tokens_to_ids("small"))
    scores = [0.0] * len(cleaned_ids)
    for k in range(start, start + 1 + len(enc)):
        scores[k] = 1.0
    weights = sentence_weights_from_scores(findings, impression, scores, tok, 1.75)
    target = join_sections(findings, impression)
    emphasised = [target[w["start"] : w["end"]] for w in weights if w["weight"] > 1]
    assert emphasised == ["Small left pleural effusion."]


def test_sentences_past_the_official_100_tokens_get_weight_1(tmp_path):
    from rg4cli.model.tokenizers import build_wordpiece_tokenizer

    findings = " ".join(f"Finding number {k} is a small left pleural effusion." for k in range(30))
    tok = build_wordpiece_tokenizer([findings], vocab_size=200)
    weights = sentence_weights_from_scores(findings, None, [1.0] * 100, tok, 1.75)
    flags = [w["weight"] > 1 for w in weights]
    assert flags[0] and not flags[-1] and flags == sorted(flags, reverse=True)


def test_a_broken_release_file_is_one_line_naming_the_item(tmp_path):
    bad = tmp_path / "mimic_sn.json"
    bad.write_text(
        json.dumps(
            {"train": [{"id": "x", "finding": 3, "impression": "s", "APPA_imagepath": "files/p10/p10000001/s5/a.jpg"}]}
        ),
        encoding="utf-8",
    )
    with pytest.raises(InputError) as err:
        build_dataset(BuildSettings(source=bad, source_format="mimic-rg4", output=str(tmp_path / "o.jsonl")))
    assert "train[0].finding" in str(err.value) and str(bad) in str(err.value)
