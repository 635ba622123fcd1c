"""Benchmark `rg4 score` side by side: against pycocoevalcap called directly and against each metric alone.

Target (issue 19): `rg4 score` wall time <= 1.1 x the slowest single metric run alone
on the same 2,000 pairs (the critical path), clinical efficacy included. Every
contender is a fresh Python process a user would start, timed from the outside
(interpreter start, imports, reading the same JSONL files, preparing the text with
the same r2gen cleaning, METEOR's JVM start-up included):

* `rg4 score HYP --ref REF -q`: BLEU-1..4, METEOR, ROUGE-L, CIDEr, CE with the rules
  labeler on all 4,000 texts, overall and per setting;
* pycocoevalcap called directly, the R2Gen `compute_scores` way: Bleu(4), Meteor(),
  Rouge(), Cider() one after another on the same prepared pairs (no CE);
* each metric alone: BLEU, METEOR, ROUGE-L, CIDEr (pycocoevalcap) and CE (rg4's rules
  labeler + the CE arithmetic).

Runs are interleaved (one round = every contender once) so machine load hits all of
them alike; the median over rounds is reported, with the ratios and a check that rg4's
numbers equal pycocoevalcap's. Texts are real IU X-ray reports from ../shared/data/iu
when present (read there, never copied), else synthetic sentences.

    .venv/bin/python benchmarks/bench_score.py [--n 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RG4_SHARED", REPO.parent / "shared"))
IU = SHARED / "data" / "iu" / "reports.jsonl"
TARGET = 1.1

SENTENCES = [
    "The heart is normal in size.",
    "There is no pleural effusion.",
    "No pneumothorax is seen.",
    "Mild cardiomegaly is unchanged.",
    "Left basilar atelectasis.",
    "The lungs are clear.",
    "Small right pleural effusion.",
    "A right internal jugular catheter ends in the SVC.",
    "No focal consolidation.",
    "Pulmonary vascular congestion without frank edema.",
    "Patchy opacity may represent pneumonia.",
    "Degenerative changes of the thoracic spine.",
]

# One metric (or all four, as R2Gen's compute_scores) computed the way a user calls the library.
ALONE = r"""
import json, sys
from rg4cli.text.cleaning import r2gen_clean
from rg4cli.records.study import text_of
which = sys.argv[1]
hyp = [json.loads(x) for x in open(sys.argv[2])]
ref = {r["id"]: r for r in map(json.loads, open(sys.argv[3]))}
hyp_texts = [text_of(h) for h in hyp]
ref_texts = [text_of(ref[h["id"]]) for h in hyp]
out = {}
if which == "ce":
    from rg4cli.labelers.backends import make_labeler
    from rg4cli.metrics.clinical import ce_scores
    labeler = make_labeler(backend="rules")
    out["ce_f1"] = ce_scores(labeler.label(hyp_texts), labeler.label(ref_texts))["micro_14_unc_pos"]["f1"]
else:
    gts = {i: [r2gen_clean(t)] for i, t in enumerate(ref_texts)}
    res = {i: [r2gen_clean(t)] for i, t in enumerate(hyp_texts)}
    if which in ("bleu", "all"):
        from pycocoevalcap.bleu.bleu import Bleu
        b, _ = Bleu(4).compute_score(gts, res, verbose=0)
        out.update({f"bleu_{n + 1}": b[n] for n in range(4)})
    if which in ("meteor", "all"):
        from pycocoevalcap.meteor.meteor import Meteor
        m = Meteor()  # the JVM starts here, as in R2Gen's compute_scores
        out["meteor"], _ = m.compute_score(gts, res)
    if which in ("rouge", "all"):
        from pycocoevalcap.rouge.rouge import Rouge
        out["rouge_l"], _ = Rouge().compute_score(gts, res)
    if which in ("cider", "all"):
        from pycocoevalcap.cider.cider import Cider
        out["cider"], _ = Cider().compute_score(gts, res)
print(json.dumps(out))
"""


def reports(n: int) -> tuple[list[dict], str]:
    if IU.exists():
        rows = [json.loads(x) for x in IU.open()]
        rows = [r for r in rows if r.get("findings") and r.get("impression")]
        if len(rows) >= n:
            return [{"findings": r["findings"], "impression": r["impression"]} for r in rows[:n]], "IU X-ray"
    rng = random.Random(0)
    return [
        {"findings": " ".join(rng.sample(SENTENCES, 4)), "impression": rng.choice(SENTENCES)} for _ in range(n)
    ], "synthetic"


def write_pairs(tmp: Path, n: int) -> tuple[Path, Path, str]:
    rows, source = reports(n)
    rng = random.Random(1)
    settings = ["sn", "sw", "mn", "mw"]
    ref, hyp = tmp / "ref.jsonl", tmp / "hyp.jsonl"
    with ref.open("w") as fr, hyp.open("w") as fh:
        for i, r in enumerate(rows):
            fr.write(json.dumps({"id": f"b{i}", **r}) + "\n")
            # a realistic wrong-ish hypothesis: another study's findings, this study's impression
            other = rows[rng.randrange(len(rows))]
            fh.write(
                json.dumps(
                    {
                        "id": f"b{i}",
                        "findings": other["findings"],
                        "impression": r["impression"],
                        "setting": settings[i % 4],
                    }
                )
                + "\n"
            )
    return hyp, ref, source


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)  # includes the JVMs the children waited for
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str]) -> tuple[float, float, dict, str]:
    """Wall and CPU seconds (the process and its JVM) of one fresh run, its JSON output and stderr."""
    t0, c0 = time.perf_counter(), children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:4])} failed: {proc.stderr[-2000:]}")
    return wall, cpu, json.loads(proc.stdout), proc.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="report pairs")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median reported)")
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        hyp, ref, source = write_pairs(tmp, args.n)
        alone = tmp / "alone.py"
        alone.write_text(ALONE)
        # rg4 score with its progress lines: they say how long METEOR's path took inside it
        contenders = {
            "rg4 score": [py, "-m", "rg4cli", "score", str(hyp), "--ref", str(ref)],
            "pycocoevalcap direct": [py, str(alone), "all", str(hyp), str(ref)],
        }
        for metric in ("bleu", "meteor", "rouge", "cider", "ce"):
            contenders[f"{metric} alone"] = [py, str(alone), metric, str(hyp), str(ref)]
        walls: dict[str, list[float]] = {name: [] for name in contenders}
        cpus: dict[str, list[float]] = {name: [] for name in contenders}
        meteor_path: list[float] = []
        outputs: dict[str, dict] = {}
        for r in range(args.rounds):
            for name, cmd in contenders.items():
                wall, cpu, out, err = timed(cmd)
                walls[name].append(wall)
                cpus[name].append(cpu)
                found = re.search(r"METEOR done \(([\d.]+) s after its JVM started\)", err)
                if name == "rg4 score" and found:
                    meteor_path.append(float(found.group(1)))
                outputs.setdefault(name, out)
            print(
                f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in walls.items()),
                file=sys.stderr,
                flush=True,
            )
    med = {name: statistics.median(v) for name, v in walls.items()}
    summary = outputs["rg4 score"]
    print(f"texts: {source}; pairs: {summary['n']}; rounds: {args.rounds} (median wall seconds, fresh processes)")
    print(f"  {'':22s} {'wall':>7s} {'CPU':>7s}   (wall of each run)")
    for name, seconds in med.items():
        print(
            f"  {name:22s} {seconds:6.1f}s {statistics.median(cpus[name]):6.1f}s   "
            f"({', '.join(f'{x:.1f}' for x in walls[name])})"
        )
    slowest = max((n for n in med if n.endswith("alone")), key=med.get)
    ratio = med["rg4 score"] / med[slowest]
    print(
        f"rg4 score / slowest metric alone ({slowest}): {ratio:.2f} (target <= {TARGET}) -> "
        f"{'OK' if ratio <= TARGET else 'SLOW'}"
    )
    print(
        f"rg4 score / pycocoevalcap direct (NLG only, no CE, no per-setting blocks): "
        f"{med['rg4 score'] / med['pycocoevalcap direct']:.2f}"
    )
    print(
        f"sum of the metrics alone / rg4 score: {sum(v for n, v in med.items() if n.endswith('alone')) / med['rg4 score']:.2f}"
    )
    if meteor_path:
        path = statistics.median(meteor_path)
        print(
            f"inside rg4 score: METEOR's path (JVM start to last statistic) {path:.1f} s of {med['rg4 score']:.1f} s "
            f"wall; the rest ({med['rg4 score'] - path:.1f} s): start-up before the JVM starts, the Python side "
            "when it ends after METEOR, and the end"
        )
    direct = outputs["pycocoevalcap direct"]
    diff = max(abs(summary["overall"][k] - direct[k]) for k in direct)
    ce = abs(summary["overall"]["ce"]["micro_14_unc_pos"]["f1"] - outputs["ce alone"]["ce_f1"])
    print(f"same numbers: max |rg4 - pycocoevalcap| = {diff:.1e} over {', '.join(direct)}; CE F1 difference {ce:.1e}")
    print(
        f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores. rg4 score overlaps METEOR's JVM "
        "with its own Python work, which pays off only where a core is free: on a machine already busier than "
        "its cores, wall time follows total CPU time instead."
    )


if __name__ == "__main__":
    main()
