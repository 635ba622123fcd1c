"""`rg4 train` reads `sentence_weights` only when they were computed from the text it learns."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from rg4cli.errors import InputError
from rg4cli.records.provenance import bind
from rg4cli.text.sections import join_sections
from rg4cli.training.data import read_generator_examples

FINDINGS, IMPRESSION = "Small right effusion. Heart normal.", "Effusion."
TARGET = join_sections(FINDINGS, IMPRESSION)
SPANS = [{"start": 0, "end": 10, "weight": 1.75, "score": 0.9}]


def _records(tmp_path, weights_text):
    Image.new("L", (32, 32)).save(tmp_path / "f.png")
    bound = {"id": 1, "frontal": "f.png", "findings": FINDINGS, "impression": IMPRESSION}
    bind(bound, "sentence_weights", SPANS, text_field="findings+impression", text=weights_text)
    plain = {"id": 2, "frontal": "f.png", "findings": FINDINGS, "impression": IMPRESSION}
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (bound, plain)))
    return path


def test_weights_of_the_learned_text_reach_the_loss(tmp_path):
    examples = read_generator_examples(str(_records(tmp_path, TARGET)), image_root=tmp_path, stage=1)
    assert [len(ex.spans) for ex in examples] == [1, 0]


def test_weights_of_another_text_never_reach_the_loss(tmp_path):
    path = _records(tmp_path, join_sections("Large left effusion.", IMPRESSION))  # the text changed since
    with pytest.raises(InputError, match=r"train.jsonl:1: sentence_weights: computed from another text.*rg4 weights"):
        read_generator_examples(str(path), image_root=tmp_path, stage=1)
    logged = []
    examples = read_generator_examples(str(path), image_root=tmp_path, stage=1, on_error="skip", log=logged.append)
    assert [ex.study.id for ex in examples] == ["2"] and all(not ex.spans for ex in examples)
    assert any("skipped 1" in line for line in logged)


def test_classifier_targets_of_another_text_are_refused(tmp_path):
    from rg4cli.training.classifiers import read_classifier_examples

    here, elsewhere = {"id": "a", "report": "No effusion."}, {"id": "b", "report": "No effusion."}
    bind(here, "labels", {"Pleural Effusion": 0}, text_field="report", text="No effusion.")
    bind(elsewhere, "labels", {"Pleural Effusion": 1}, text_field="report", text="Large effusion.")
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (here, elsewhere)))
    with pytest.raises(InputError, match=r"labels.jsonl:2: labels: computed from another text.*rg4 label"):
        read_classifier_examples(str(path), "labeler")
    assert read_classifier_examples(str(path), "labeler", on_error="skip").ids == ["a"]


def test_validation_reference_labels_of_another_text_are_recomputed(tmp_path):
    from rg4cli.training.validation import GeneratorValidator

    Image.new("L", (32, 32)).save(tmp_path / "f.png")
    stale = {"id": "a", "frontal": "f.png", "findings": FINDINGS, "impression": IMPRESSION}
    bind(stale, "labels", {"Cardiomegaly": 1}, text_field="findings+impression", text="Cardiomegaly.")
    path = tmp_path / "val.jsonl"
    path.write_text(json.dumps(stale) + "\n")
    labels = GeneratorValidator(str(path), image_root=tmp_path)._reference_labels()[0]
    assert labels["Pleural Effusion"] == 1 and labels["Cardiomegaly"] != 1  # the rules labeler, on the target
