"""JSONL record streams and the typed study record."""
