"""Peak RSS of the streaming commands (`rg4 label`, `rg4 hallucination`, `rg4 weights`, rules backends)
as the record count grows and for one very long line.

Each run is a fresh `python -m rg4cli <command> IN -o OUT` process; its peak resident set is
`ru_maxrss` of the child (Linux: KiB). Reported per command:

- tiny records (id, findings, impression, about 110 bytes each) at each --counts: peak MB and the
  ratio of the largest count's peak to the smallest's (target: within 1.2, i.e. flat ±20%);
- one record whose findings is one --line-mb MB line of words (with `.` every ~12 words): peak MB
  minus the same command's peak on 10 tiny records (the process's own floor: Python, the
  labeler tables), divided by the line's size (target: <= 5).

    .venv/bin/python benchmarks/bench_memory.py [--counts 10000,100000,1000000] [--line-mb 50]

Writes the figures as JSON to stdout (a table to stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("label", "hallucination", "weights")
WORDS = (
    "heart size is normal lungs are clear there is a small left pleural effusion no pneumothorax mild "
    "cardiomegaly stable mediastinal contours low lung volumes bibasilar atelectasis"
).split()


def tiny_records(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(
                json.dumps(
                    {"id": f"r{i}", "findings": "Small left effusion. No pneumothorax.", "impression": "Effusion."}
                )
                + "\n"
            )


def long_line(path: Path, mb: int) -> int:
    rng = random.Random(0)
    target = mb * 1_000_000
    parts, size, k = [], 0, 0
    while size < target:
        w = rng.choice(WORDS)
        k += 1
        piece = w + (". " if k % 12 == 0 else " ")
        parts.append(piece)
        size += len(piece)
    text = "".join(parts)
    line = json.dumps({"id": "long", "findings": text, "impression": "Effusion."}) + "\n"
    path.write_text(line, encoding="utf-8")
    return len(line.encode())


def peak_mb(command: str, src: Path, out: Path) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one fresh process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    code = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)\n"
        "if p.returncode: sys.exit(p.stderr[-2000:])\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    argv = [sys.executable, "-m", "rg4cli", command, str(src), "-o", str(out)]
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env)
    if res.returncode:
        raise SystemExit(f"{command} {src.name}: {res.stderr}")
    return int(res.stdout.strip()) / 1024, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="10000,100000,1000000")
    ap.add_argument("--line-mb", type=int, default=50)
    ap.add_argument("--commands", default=",".join(COMMANDS))
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    commands = args.commands.split(",")
    results: dict = {"counts": counts, "line_mb": args.line_mb, "commands": {}}
    with tempfile.TemporaryDirectory(prefix="rg4-bench-memory-") as tmp:
        d = Path(tmp)
        tiny_records(d / "floor.jsonl", 10)
        for n in counts:
            tiny_records(d / f"n{n}.jsonl", n)
        line_bytes = long_line(d / "long.jsonl", args.line_mb) if args.line_mb else 0
        for cmd in commands:
            row: dict = {"by_count": {}}
            floor, _ = peak_mb(cmd, d / "floor.jsonl", d / "out.jsonl")
            row["floor_mb"] = round(floor, 1)
            for n in counts:
                mb, s = peak_mb(cmd, d / f"n{n}.jsonl", d / "out.jsonl")
                row["by_count"][n] = {"peak_mb": round(mb, 1), "seconds": round(s, 1)}
                print(f"{cmd:14s} {n:>9,d} records: peak {mb:7.1f} MB ({s:.0f} s)", file=sys.stderr)
            peaks = [row["by_count"][n]["peak_mb"] for n in counts]
            row["ratio_largest_to_smallest"] = round(peaks[-1] / peaks[0], 3)
            if line_bytes:
                mb, s = peak_mb(cmd, d / "long.jsonl", d / "out.jsonl")
                row["long_line"] = {
                    "bytes": line_bytes,
                    "peak_mb": round(mb, 1),
                    "seconds": round(s, 1),
                    "above_floor_per_line_size": round((mb - floor) * 1024 * 1024 / line_bytes, 2),
                }
                print(
                    f"{cmd:14s} one {line_bytes / 1e6:.0f} MB line: peak {mb:7.1f} MB, floor {floor:.1f} MB, "
                    f"{row['long_line']['above_floor_per_line_size']:.2f}x the line ({s:.0f} s)",
                    file=sys.stderr,
                )
            results["commands"][cmd] = row
    json.dump(results, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
