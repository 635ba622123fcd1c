"""Regenerate the man pages from the CLI definitions: `python scripts/gen_man.py man`."""

import sys
from pathlib import Path

from rg4cli.cli.manpage import render_all

out = Path(sys.argv[1] if len(sys.argv) > 1 else "man")
out.mkdir(parents=True, exist_ok=True)
for stale in out.glob("rg4*.1"):
    stale.unlink()
for name, text in render_all().items():
    (out / name).write_text(text, encoding="utf-8")
print(f"wrote {len(render_all())} man pages to {out}", file=sys.stderr)
