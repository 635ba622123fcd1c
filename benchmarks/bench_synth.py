"""Throughput of `rg4 synth`'s core: studies generated and written per second.

Target (issue 2): 200 studies in under 30 s on the 2-core build machine.
Run: .venv/bin/python benchmarks/bench_synth.py [--studies 200] [--image-size 128]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rg4cli.synth.mimic import write_mimic_tree
from rg4cli.synth.studies import generate_studies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=200, help="at least this many studies")
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    # Subjects average 3 studies with the default --studies-per-subject 5; add subjects until enough.
    subjects = max(1, args.studies // 3)
    while len(generate_studies(subjects, seed=args.seed, image_size=args.image_size)) < args.studies:
        subjects += 5
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        studies = generate_studies(subjects, seed=args.seed, image_size=args.image_size)
        made = time.perf_counter()
        summary = write_mimic_tree(Path(tmp) / "mimic", studies)
        done = time.perf_counter()
    total = done - start
    print(
        f"synth: {summary['studies']} studies ({summary['images']} images, {args.image_size} px) in {total:.2f} s "
        f"= {summary['studies'] / total:.1f} studies/s (generate {made - start:.2f} s, write {done - made:.2f} s); "
        f"target: 200 studies < 30 s -> {'OK' if total * 200 / summary['studies'] < 30 else 'TOO SLOW'}"
    )


if __name__ == "__main__":
    main()
