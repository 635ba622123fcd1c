"""Benchmark `rg4 score`: 2,000 report pairs, every metric, rules labeler, METEOR start-up included.

Target (issue 4): under 60 s on the 2-core development machine. Texts are real IU
X-ray reports from ../shared/data/iu when present (read there, never copied),
else synthetic sentences. Neither side carries labels, so the rules labeler labels
all 4,000 texts. Prints wall seconds and CPU seconds (this process + children,
i.e. the JVM) for the command run as a user runs it (a fresh `rg4 score`
process), then for the core function in this process.

    .venv/bin/python benchmarks/bench_score.py [--n 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RG4_SHARED", REPO.parent / "shared"))
IU = SHARED / "data" / "iu" / "reports.jsonl"

SENTENCES = ["The heart is normal in size.", "There is no pleural effusion.", "No pneumothorax is seen.",
             "Mild cardiomegaly is unchanged.", "Left basilar atelectasis.", "The lungs are clear.",
             "Small right pleural effusion.", "A right internal jugular catheter ends in the SVC.",
             "No focal consolidation.", "Pulmonary vascular congestion without frank edema.",
             "Patchy opacity may represent pneumonia.", "Degenerative changes of the thoracic spine."]


def texts(n: int) -> tuple[list[dict], str]:
    if IU.exists():
        rows = [json.loads(x) for x in IU.open()]
        rows = [r for r in rows if r.get("findings") and r.get("impression")]
        return [{"findings": r.get("findings"), "impression": r.get("impression")} for r in rows[:n]], "IU X-ray"
    rng = random.Random(0)
    out = []
    for _ in range(n):
        out.append({"findings": " ".join(rng.sample(SENTENCES, 4)), "impression": rng.choice(SENTENCES)})
    return out, "synthetic"


def cpu_seconds() -> float:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--skip-core", action="store_true", help="only time the CLI process")
    args = ap.parse_args()
    reports, source = texts(args.n)
    n = len(reports)
    rng = random.Random(1)
    settings = ["sn", "sw", "mn", "mw"]
    with tempfile.TemporaryDirectory() as tmp:
        ref, hyp = Path(tmp, "ref.jsonl"), Path(tmp, "hyp.jsonl")
        with ref.open("w") as fr, hyp.open("w") as fh:
            for i, r in enumerate(reports):
                fr.write(json.dumps({"id": f"b{i}", **r}) + "\n")
                # a realistic wrong-ish hypothesis: another study's findings, this study's impression
                other = reports[rng.randrange(n)]
                fh.write(json.dumps({"id": f"b{i}", "findings": other["findings"], "impression": r["impression"],
                                     "setting": settings[i % 4]}) + "\n")
        t0, c0 = time.perf_counter(), cpu_seconds()
        proc = subprocess.run([sys.executable, "-m", "rg4cli", "score", str(hyp), "--ref", str(ref), "-q"],
                              capture_output=True, text=True, cwd=REPO)
        wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        if proc.returncode != 0:
            sys.exit(f"rg4 score failed: {proc.stderr[-2000:]}")
        summary = json.loads(proc.stdout)
        print(f"texts: {source}; pairs: {summary['n']}; labels: {summary['config']['labels']}")
        print(f"rg4 score (fresh process, METEOR start-up included): {wall:.1f} s wall, {cpu:.1f} s CPU "
              f"(target < 60 s) -> {'OK' if wall < 60 else 'SLOW'}")
        o = summary["overall"]
        print("overall: " + ", ".join(f"{k} {o[k]:.4f}" for k in ("bleu_1", "bleu_4", "meteor", "rouge_l", "cider"))
              + f", CE micro-14 F1 {o['ce']['micro_14_unc_pos']['f1']:.4f}")
        if not args.skip_core:
            from rg4cli.metrics.nlg import close_meteor
            from rg4cli.metrics.score import ScoreSettings, score_files

            t0, c0 = time.perf_counter(), cpu_seconds()
            score_files(str(hyp), str(ref), ScoreSettings())
            close_meteor()  # reaps the JVM so its CPU time is counted
            wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            print(f"core score_files in-process (JVM start-up included, no CLI imports): {wall:.1f} s wall, "
                  f"{cpu:.1f} s CPU")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall time depends on it)")


if __name__ == "__main__":
    main()
