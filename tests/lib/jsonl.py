"""JSONL files for tests: the one writer and reader every test module uses."""

from __future__ import annotations

import json
from pathlib import Path


def write_jsonl(path: Path, rows: list) -> Path:
    """One line per row: a dict as JSON, a str as it is (a deliberately broken line, say)."""
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def jsonl_arg(path: Path, rows: list) -> str:
    """write_jsonl for a command line: the path as a str."""
    return str(write_jsonl(path, rows))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
