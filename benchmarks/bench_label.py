"""Throughput of the rules labeler: reports per second on one core (target >= 500).

Labels real IU reports (findings + impression) when ../shared/data/iu is present,
else synthetic MIMIC-style reports from `rg4cli.synth.studies`; one process, one thread.

    .venv/bin/python benchmarks/bench_label.py [--n 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rg4cli.labelers.backends import make_labeler  # noqa: E402
from rg4cli.text.sections import join_sections  # noqa: E402

TARGET = 500.0


def iu_reports(n: int) -> list[str] | None:
    root = Path(__file__).resolve().parents[1]
    for cand in (root.parent / "shared" / "data" / "iu" / "reports.jsonl", Path("/work/shared/data/iu/reports.jsonl")):
        if cand.exists():
            texts = []
            with open(cand, encoding="utf-8") as fh:
                for line in fh:
                    rec = json.loads(line)
                    text = join_sections(rec.get("findings"), rec.get("impression"))
                    if text:
                        texts.append(text)
                    if len(texts) >= n:
                        break
            return texts
    return None


def synth_reports(n: int) -> list[str]:
    from rg4cli.synth.studies import generate_studies

    texts: list[str] = []
    seed = 0
    while len(texts) < n:
        for s in generate_studies(50, seed=seed):
            texts.append(join_sections(s.findings, s.impression))
        seed += 1
    return texts[:n]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    except (AttributeError, OSError):
        pass
    texts = iu_reports(args.n)
    source = "IU X-ray findings+impression"
    if not texts:
        texts, source = synth_reports(args.n), "rg4 synth findings+impression"
    labeler = make_labeler("rules")
    labeler.label(texts[:20])  # compile the tables outside the timing
    best = best_cpu = float("inf")
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        labeler.label(texts)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    rate, cpu_rate = len(texts) / best, len(texts) / best_cpu
    chars = sum(len(t) for t in texts) / len(texts)
    # Wall time counts waiting for a busy core; CPU time is what one core actually spent.
    print(f"rules labeler: {len(texts)} reports ({source}, mean {chars:.0f} chars), best of {args.repeat}: "
          f"wall {best:.3f} s -> {rate:.0f} reports/s; CPU {best_cpu:.3f} s -> {cpu_rate:.0f} reports/s per core "
          f"(target {TARGET:.0f}; {min(rate, cpu_rate) / TARGET:.2f}x by wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
