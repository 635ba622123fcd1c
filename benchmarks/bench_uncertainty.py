"""Benchmark `rg4 score --bootstrap 1000 --against B --trials 10000` against the plain `rg4 score`.

Target (issue 26): on 3,858 pairs with every metric (BLEU-1..4, METEOR, ROUGE-L, CIDEr,
every CE variant, hallucination rates; overall and per setting), intervals from 1,000
bootstrap resamples plus approximate randomization with 10,000 trials and the paired
bootstrap against a second system cost <= 1.5 x the plain `rg4 score A --ref R --against
B` (the same files and the same scoring, Wilcoxon only: `--trials 0`). Both are fresh
processes timed from the outside (interpreter start, METEOR's JVM, labelling included),
interleaved over rounds; the medians and their ratio are reported, with each run's peak
memory. On a busy machine the two runs' noise can exceed the difference, so the same
work is also timed in one process, back to back: the plain scoring, then the resampling.

Then the speed-up over recomputing each trial from text (RadEval's way): a few AR trials
re-scored from the swapped texts (BLEU, ROUGE-L, CIDEr by rg4's fast scorers, METEOR
re-aligned by its warm JVM, CE from the cached labels), extrapolated to 10,000 trials and
1,000 resamples of both systems, against rg4's resampling time in that process.

Texts are real IU X-ray reports from ../shared/data/iu when present (read there, never
copied; reused in turn to reach 3,858 pairs, each pair its own id), else synthetic sentences.

    .venv/bin/python benchmarks/bench_uncertainty.py [--n 3858] [--rounds 3] [--trials-from-text 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_score import SENTENCES  # the same phantom report sentences as rg4 score's benchmark

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RG4_SHARED", REPO.parent / "shared"))
IU = SHARED / "data" / "iu" / "reports.jsonl"
TARGET = 1.5
RESAMPLES, TRIALS = 1000, 10000


def reports(n: int) -> tuple[list[dict], str]:
    if IU.exists():
        rows = [json.loads(x) for x in IU.open()]
        rows = [r for r in rows if r.get("findings") and r.get("impression")]
        if rows:
            return [{"findings": rows[i % len(rows)]["findings"], "impression": rows[i % len(rows)]["impression"]}
                    for i in range(n)], "IU X-ray"  # fmt: skip
    rng = random.Random(0)
    return [
        {"findings": " ".join(rng.sample(SENTENCES, 4)), "impression": rng.choice(SENTENCES)} for _ in range(n)
    ], "synthetic"


def write_files(tmp: Path, n: int) -> tuple[Path, Path, Path, str]:
    rows, source = reports(n)
    rng = random.Random(1)
    ref, a, b = tmp / "ref.jsonl", tmp / "a.jsonl", tmp / "b.jsonl"
    with ref.open("w") as fr, a.open("w") as fa, b.open("w") as fb:
        for i, r in enumerate(rows):
            setting = rng.choice(["sn", "sw", "mn", "mw"])
            fr.write(json.dumps({"id": f"b{i}", "setting": setting, **r}) + "\n")
            for f in (fa, fb):
                # another study's findings with this study's impression: a realistic wrong-ish report
                other = rows[rng.randrange(len(rows))]
                hall = {
                    "input_agnostic": rng.random() < 0.3,
                    **{c: rng.random() < 0.25 for c in ("pc", "pp", "view", "comm")},
                    "unsupported": ["pc"] if rng.random() < 0.2 else [],
                }
                text = other["findings"] + " " + r["impression"]
                f.write(json.dumps({"id": f"b{i}", "setting": setting, "report": text, "hallucination": hall}) + "\n")
    return ref, a, b, source


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak memory MiB, stdout) of a fresh process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env={**os.environ, "PYTHONPATH": str(REPO)})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{err.read().decode()[-2000:]}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def from_text_trial_seconds(a: Path, b: Path, ref: Path, trials: int) -> tuple[float, float, float]:
    """(seconds of the plain scoring in process, of rg4's resampling after it, per AR trial
    recomputed from the swapped texts: both systems, every metric, every block)."""
    sys.path.insert(0, str(REPO))
    from rg4cli.metrics import clinical, nlg
    from rg4cli.metrics.score import ScoreSettings, score_files
    from rg4cli.metrics.significance import swap_masks
    from rg4cli.metrics.uncertainty import UncertaintySettings, summary_blocks

    t0 = time.perf_counter()
    result = score_files(str(a), str(ref), ScoreSettings(trials=0), against=str(b))
    plain = time.perf_counter() - t0
    sa, sb = result.systems
    others = [(result.summary["against"]["file"], sb, result.summary["against"])]
    t0 = time.perf_counter()
    summary_blocks(result.summary, sa, others, UncertaintySettings(bootstrap=RESAMPLES, trials=TRIALS))
    resampling = time.perf_counter() - t0
    (ha, refs), (hb, _) = sa.prepared, sb.prepared
    groups = {s: [i for i, x in enumerate(sa.settings) if x == s] for s in ("sn", "sw", "mn", "mw")}
    masks = next(swap_masks(len(ha), trials, 12345))[:trials]
    nlg.warm_up_meteor()
    t0 = time.perf_counter()
    for row in masks:
        for first, second, lab1, lab2 in (
            (ha, hb, sa.hyp_labels, sb.hyp_labels),
            (hb, ha, sb.hyp_labels, sa.hyp_labels),
        ):
            hyps = [y if m else x for x, y, m in zip(first, second, row)]
            labels = [y if m else x for x, y, m in zip(lab1, lab2, row)]
            nlg.nlg_scores(hyps, refs, groups=groups, meteor=True)
            clinical.ce_scores(labels, sa.ref_labels)
            for idx in groups.values():
                clinical.ce_scores([labels[i] for i in idx], [sa.ref_labels[i] for i in idx])
    return plain, resampling, (time.perf_counter() - t0) / trials


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=3858)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--trials-from-text", type=int, default=3)
    args = ap.parse_args()
    rg4 = [sys.executable, "-m", "rg4cli"]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ref, a, b, source = write_files(tmp, args.n)
        base = [*rg4, "score", str(a), "--ref", str(ref), "--against", str(b), "-q"]
        contenders = {
            "plain (--against B --trials 0)": [*base, "--trials", "0"],
            f"--bootstrap {RESAMPLES} --trials {TRIALS}": [
                *base,
                "--bootstrap",
                str(RESAMPLES),
                "--trials",
                str(TRIALS),
            ],
        }
        walls: dict[str, list[float]] = {k: [] for k in contenders}
        peaks: dict[str, float] = {}
        for r in range(args.rounds):
            for name, cmd in contenders.items():
                wall, peak, out = timed(cmd)
                walls[name].append(wall)
                peaks[name] = peak
                print(f"round {r + 1}: {name}: {wall:.1f} s", file=sys.stderr)
        summary = json.loads(out)
        plain_in, resampling, per_trial = from_text_trial_seconds(a, b, ref, args.trials_from_text)
    med = {k: statistics.median(v) for k, v in walls.items()}
    plain, full = med.values()
    ratio = full / plain
    work = TRIALS + RESAMPLES  # AR trials score both swapped systems; a resample scores both systems
    extrapolated = per_trial * work
    u = summary["uncertainty"]["metrics"]
    c = summary["comparisons"][0]["metrics"]
    print(f"{args.n:,} pairs ({source}), {args.rounds} round(s), medians:")
    for k, v in med.items():
        print(f"  {k:<36} {v:7.1f} s   (peak RSS {peaks[k]:,.0f} MiB)")
    print(f"  ratio {ratio:.2f} (target <= {TARGET}): {'PASS' if ratio <= TARGET else 'FAIL'}")
    print(
        f"  in one process: plain scoring {plain_in:.1f} s, then the resampling ({RESAMPLES:,} resamples x 2"
        f" systems + {TRIALS:,} AR trials) {resampling:.1f} s: ratio {(plain_in + resampling) / plain_in:.2f}"
    )
    print(
        f"  from text: {per_trial:.2f} s per trial (both systems, every metric), x {work:,} = {extrapolated / 3600:.1f} h;"
        f" speed-up {extrapolated / resampling:,.0f}x"
    )
    b4, ce = u["overall.bleu_4"], u["overall.ce.micro_14_unc_pos.f1"]
    print(f"  e.g. BLEU-4 {b4['value']:.3f} [{b4['low']:.3f}, {b4['high']:.3f}], CE F1 {ce['value']:.3f} [{ce['low']:.3f}, {ce['high']:.3f}];"
          f" CIDEr vs B: delta {c['overall.cider']['delta']:+.3f}, p_ar {c['overall.cider']['p_ar']:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
