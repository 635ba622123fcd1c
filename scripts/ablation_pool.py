"""The ablation's file plumbing (examples/ablation.mk): keep one setting, or pool seeds.

    python scripts/ablation_pool.py --setting sn test.jsonl > test.sn.jsonl
    python scripts/ablation_pool.py --tag-by-dir abl/s1/test.jsonl abl/s2/test.jsonl > abl/pooled/test.jsonl

--tag-by-dir concatenates the files and suffixes every record's `id` with `@` and the name of
the file's directory (`s1`), so that the seeds' records, whose phantom worlds reuse the same
ids, stay apart when `rg4 score` joins hypotheses and references by id: pooled over seeds, a
paired test then resamples the three seeds' reports together.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def records(path: Path):
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                sys.exit(f"{path}:{number}: not JSON ({exc.msg}); regenerate the file")
            if not isinstance(rec, dict) or "id" not in rec:
                sys.exit(f"{path}:{number}: expected a record with an 'id' field")
            yield rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path, help="JSONL record files")
    ap.add_argument("--setting", help="keep only records of this setting (sn, sw, mn, mw)")
    ap.add_argument("--tag-by-dir", action="store_true", help="suffix ids with @<the file's directory name>")
    args = ap.parse_args()
    for path in args.files:
        if not path.is_file():
            sys.exit(f"ablation_pool: {path} is missing (run the step that writes it first)")
    out = sys.stdout
    for path in args.files:
        for rec in records(path):
            if args.setting and rec.get("setting") != args.setting:
                continue
            if args.tag_by_dir:
                rec["id"] = f"{rec['id']}@{path.parent.name}"
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
