"""Blank-image copies of study records: the control that shows a model reads its images.

Writes one uniform grey JPEG (the mean grey of a phantom radiograph) into OUT_DIR and
copies every record of INPUT with `frontal` (and `lateral`, when the study has one)
pointing at it, so the copy keeps its setting, prior report and clinical context and
only the pixels are gone. Generate from the copy with `--image-root OUT_DIR`.

    python scripts/blank_images.py test.jsonl blank/ > test.blank.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", help="study records (JSONL)")
    ap.add_argument("out_dir", help="directory for blank.jpg (the --image-root of the copy)")
    ap.add_argument("--size", type=int, default=128, help="image side in pixels")
    ap.add_argument("--grey", type=int, default=96, help="pixel value 0..255")
    args = ap.parse_args()

    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    Image.new("L", (args.size, args.size), args.grey).save(out / "blank.jpg", quality=95)
    with open(args.input, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            record = json.loads(line)
            record["frontal"] = "blank.jpg"
            if record.get("lateral"):
                record["lateral"] = "blank.jpg"
            sys.stdout.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
