"""Time against text length for every text command's library path: linear, 1 KB to 10 MB.

One long report (phantom `rg4 synth` sentences on one line, the same text cut at each
size) goes through what each command runs per record:

- label: the rules labeler (`make_labeler("rules").label`);
- hallucination: the rules judge (`make_judge("rules").judge`);
- weights: the rules weigher (`RulesWeigher().weigh`: labeler mentions -> sentence weights);
- score: text preparation (`--tokenize r2gen`), rules labels of the hypothesis, BLEU,
  ROUGE-L and CIDEr (`nlg_scores`, METEOR off: its JVM is timed by bench_score.py)
  of the long hypothesis against a normal-length reference.

Prints seconds and seconds per MB at each size, and for each command the ratio of
time per byte at the largest size to time per byte at 1 MB: 1.0 is linear, 10 would
be quadratic over a 10x step. CPU time of this process (not wall), best of --repeat.

    .venv/bin/python benchmarks/bench_text_length.py [--max-mb 10] [--repeat 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rg4cli.judges.backends import make_judge
from rg4cli.labelers.backends import make_labeler
from rg4cli.metrics.nlg import nlg_scores, prepare_texts
from rg4cli.synth.studies import generate_studies
from rg4cli.text.sections import join_sections
from rg4cli.weights.backends import RulesWeigher

KB = 1024
MB = 1024 * KB


def long_report(size: int) -> str:
    """`size` characters of report language on one line (whole phantom reports, cut at a space)."""
    parts: list[str] = []
    total, seed = 0, 0
    while total < size:
        for s in generate_studies(40, seed=seed):
            text = join_sections(s.findings, s.impression)
            parts.append(text)
            total += len(text) + 1
        seed += 1
    text = " ".join(parts)[:size]
    return text[: text.rfind(" ")] if " " in text else text


def command_paths() -> dict:
    labeler = make_labeler("rules")
    judge = make_judge("rules")
    weigher = RulesWeigher()
    reference = long_report(KB)

    def score(text: str) -> None:
        hyp = prepare_texts([text])
        labeler.label([text])
        nlg_scores(hyp, prepare_texts([reference]), meteor=False)

    return {
        "label": lambda t: labeler.label([t]),
        "hallucination": lambda t: judge.judge([t], ["sn"]),
        "weights": lambda t: weigher.weigh([t], [None]),
        "score": score,
    }


def cpu_seconds(fn, text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn(text)
        best = min(best, time.process_time() - t0)
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-mb", type=float, default=10.0, help="largest text, in MB (default 10)")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per size (default 1)")
    ap.add_argument("--only", default=None, help="comma-separated commands (default: all four)")
    args = ap.parse_args(argv)
    sizes = [KB, 10 * KB, 100 * KB, MB]
    top = int(args.max_mb * MB)
    if top > MB:
        sizes.append(top)
    sizes = [s for s in sizes if s <= max(top, KB)]
    full = long_report(max(sizes))
    paths = command_paths()
    if args.only:
        paths = {k: v for k, v in paths.items() if k in args.only.split(",")}
    for fn in paths.values():
        fn(full[:KB])  # compile tables, import scorers
    print(f"{'command':14s} " + " ".join(f"{s // KB:>9d}K" for s in sizes) + "   (CPU s; then s/MB)", flush=True)
    ratios = {}
    for name, fn in paths.items():
        secs = [cpu_seconds(fn, full[:s], args.repeat) for s in sizes]
        per_mb = [t / (s / MB) for t, s in zip(secs, sizes)]
        print(f"{name:14s} " + " ".join(f"{t:10.3f}" for t in secs), flush=True)
        print(f"{'  s/MB':14s} " + " ".join(f"{x:10.2f}" for x in per_mb), flush=True)
        if sizes[-1] > MB:
            ratios[name] = per_mb[-1] / per_mb[sizes.index(MB)]
    if ratios:
        big = sizes[-1] / MB
        print(
            f"time per byte at {big:g} MB / at 1 MB (1.0 = linear; {big:g} = quadratic): "
            + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
