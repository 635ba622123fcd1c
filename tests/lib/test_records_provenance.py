"""Annotation provenance: an annotation is returned only for the text it was computed from."""

from rg4cli.records.provenance import UnboundWarning, annotation, bind, drop_annotations_of, status


def test_bound_annotation_follows_its_text_only():
    record = {"report": "No effusion."}
    bind(record, "labels", {"Pleural Effusion": 0}, text_field="report", text="No effusion.")
    assert annotation(record, "labels", "No effusion.") == {"Pleural Effusion": 0}
    assert status(record, "labels", "Large effusion.") == "stale"
    assert annotation(record, "labels", "Large effusion.") is None


def test_unbound_annotation_is_used_and_reported_once():
    seen = []
    warn = UnboundWarning(seen.append, "score")
    record = {"labels": {"Edema": 1}}
    assert annotation(record, "labels", "x", on_unbound=warn) == {"Edema": 1}
    assert annotation(record, "labels", "y", on_unbound=warn) == {"Edema": 1}
    assert len(seen) == 1 and "provenance" in seen[0]


def test_new_text_drops_old_annotations():
    record = {"report": "a", "labels": {}, "labels_explain": {}, "sentence_weights": [], "id": "1"}
    bind(record, "mine", 1, text_field="report", text="a")
    drop_annotations_of(record)
    assert record == {"report": "a", "id": "1"}
