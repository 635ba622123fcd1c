"""JSONL record streams, the study record, annotation provenance, the annotating record loop."""
