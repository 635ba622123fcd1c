"""The ablation's last step: Table-4-style markdown from `rg4 score` summaries, and the verdicts.

Reads, in --dir (what examples/ablation.mk writes), for each seed N of --seeds:
  sN/score.<arm>.json        rg4 score of the arm's reports (stage 1: sn records; stage 2: all)
  sN/gen.<arm>.jsonl         rg4 generate output (gen.input_tokens: N = the largest LLM input)
  sN/gen.<arm>.labels.jsonl  the same, labelled; sN/test.labels.jsonl, sN/test.sn.labels.jsonl
and pooled/score.<arm>.json (the seeds' files concatenated, ids suffixed @sN).

Intervals and paired tests are read from the summaries where `rg4 score --bootstrap N --against
B` wrote them (`uncertainty.metrics.<path>` = {value, low, high, se}; `comparisons[]` =
{system, n, trials, metrics.<path>: {a, b, delta, p_ar, p_ar_holm, p_boot, wilcoxon_p}}).
Where they are absent, this script runs the paired approximate randomization (and a percentile
bootstrap) of the CE F1s itself from the per-report labels, marked "(script)", and shows
"n/a" for the BLEU intervals. Writes markdown to stdout (docs/ablation.md "Results" takes it).

    python scripts/ablation_table.py --dir ablation --seeds "1 2 3" > ablation/table.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

from rg4cli.metrics.clinical import binarize
from rg4cli.vocab import FIVE, OBSERVATIONS

# arm -> (stage, ATF, TLW)
ARMS = {
    "stage1-atf-notlw": (1, "-", "✗"),
    "stage1-atf-tlw": (1, "-", "✓"),
    "stage2-int-notlw": (2, "✗", "✗"),
    "stage2-int-tlw": (2, "✗", "✓"),
    "stage2-atf-notlw": (2, "✓", "✗"),
    "stage2-atf-tlw": (2, "✓", "✓"),
}
# claim -> (text, paper figures, A, B, kind); delta = B - A
CLAIMS = (
    ("C1", "TLW helps stage 1", "0.519 → 0.580", "stage1-atf-notlw", "stage1-atf-tlw", "gain"),
    ("C2", "TLW helps with interleaved inputs", "0.551 → 0.577", "stage2-int-notlw", "stage2-int-tlw", "gain"),
    ("C3", "TLW helps with ATF", "0.556 → 0.585", "stage2-atf-notlw", "stage2-atf-tlw", "gain"),
    ("C4", "ATF matches interleaved, fewer tokens", "0.551 vs 0.556", "stage2-int-notlw", "stage2-atf-notlw", "match"),
)
SETTINGS = ("sn", "sw", "mn", "mw")
F14, F5 = "ce.micro_14_unc_pos.f1", "ce.micro_5_unc_pos.f1"
METRICS = (("F-14", F14), ("F-5", F5), ("B@1", "bleu_1"), ("B@4", "bleu_4"))
ALPHA = 0.05
TRIALS = 10_000
BOOTSTRAP = 1_000


def load_json(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def load_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def dig(obj, dotted: str):
    for key in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def fmt_p(p) -> str:
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


# ---- the script's own paired statistics (when rg4 score has none) ------------------------------
def report_counts(hyp: list[dict], ref: list[dict], names) -> np.ndarray:
    """Per report (tp, fp, fn) over `names`, uncertain = positive: [n, 3]."""
    h, r = binarize(hyp, "unc_pos", names), binarize(ref, "unc_pos", names)
    return np.stack([((h == 1) & (r == 1)).sum(1), ((h == 1) & (r == 0)).sum(1), ((h == 0) & (r == 1)).sum(1)], 1)


def micro_f1(c: np.ndarray) -> np.ndarray:
    """F1 from summed (tp, fp, fn) along the last axis; 0 for 0/0."""
    tp, fp, fn = c[..., 0], c[..., 1], c[..., 2]
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros(np.shape(den), dtype=float), where=den > 0)


def approx_randomization(ca: np.ndarray, cb: np.ndarray, trials: int = TRIALS, seed: int = 0) -> float:
    """Two-sided paired AR of micro F1: swap each report's two hypotheses with probability 1/2."""
    rng = np.random.default_rng(seed)
    observed = abs(micro_f1(cb.sum(0)) - micro_f1(ca.sum(0)))
    diff = (cb - ca).astype(np.int64)
    hits = 0
    for start in range(0, trials, 1000):
        swap = rng.integers(0, 2, size=(min(1000, trials - start), len(ca)))
        moved = swap @ diff  # what the swaps move from B to A, per trial: [t, 3]
        a, b = ca.sum(0) + moved, cb.sum(0) - moved
        hits += int((np.abs(micro_f1(b) - micro_f1(a)) >= observed - 1e-12).sum())
    return (hits + 1) / (trials + 1)


def bootstrap_interval(c: np.ndarray, n: int = BOOTSTRAP, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(c), size=(n, len(c)))
    values = micro_f1(c[idx].sum(1))
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


class Arm:
    """One arm in one directory (a seed's or the pooled one)."""

    def __init__(self, name: str, summary: dict, tokens: dict[str, int], counts: dict[str, np.ndarray] | None):
        self.name, self.summary, self.tokens, self.counts = name, summary, tokens, counts

    def value(self, block: str, metric: str):
        return dig(self.summary, f"{block}.{metric}")

    def interval(self, block: str, metric: str) -> tuple[float, float] | None:
        u = dig(self.summary, "uncertainty.metrics") or {}
        got = u.get(f"{block}.{metric}")
        if isinstance(got, dict) and got.get("low") is not None:
            return got["low"], got["high"]
        if block == "overall" and self.counts is not None and metric in (F14, F5):
            return bootstrap_interval(self.counts[metric])
        return None

    def comparison(self, other: str) -> dict | None:
        for comp in self.summary.get("comparisons") or []:
            system = str(comp.get("system", ""))
            if system.endswith(f"gen.{other}.labels.jsonl") or Path(system).name == f"gen.{other}.labels.jsonl":
                return comp
        return None


def read_tokens(path: Path) -> dict[str, int]:
    """Largest LLM input length per setting and overall ('all')."""
    out: dict[str, int] = {}
    if not path.is_file():
        return out
    for rec in load_jsonl(path):
        n = (rec.get("gen") or {}).get("input_tokens")
        if n is None:
            continue
        s = rec.get("setting", "all")
        out[s] = max(out.get(s, 0), n)
        out["all"] = max(out.get("all", 0), n)
    return out


def read_counts(hyp_path: Path, ref_path: Path, suffix: str = "") -> tuple[list[str], dict[str, np.ndarray]] | None:
    if not (hyp_path.is_file() and ref_path.is_file()):
        return None
    refs = {r["id"]: r.get("labels") or {} for r in load_jsonl(ref_path)}
    hyps = [h for h in load_jsonl(hyp_path) if h["id"] in refs]
    ids = [h["id"] + suffix for h in hyps]
    hyp_labels = [h.get("labels") or {} for h in hyps]
    ref_labels = [refs[h["id"]] for h in hyps]
    return ids, {
        F14: report_counts(hyp_labels, ref_labels, OBSERVATIONS),
        F5: report_counts(hyp_labels, ref_labels, FIVE),
    }


def load_arm(d: Path, arm: str, seeds: list[str] | None) -> Arm:
    """`seeds` given: the pooled directory, whose labels are read from the seeds' directories."""
    path = d / f"score.{arm}.json"
    if not path.is_file():
        sys.exit(f"ablation_table: {path} is missing (run `make ablation` first)")
    summary = load_json(path)
    ref_name = "test.sn.labels.jsonl" if arm.startswith("stage1") else "test.labels.jsonl"
    if seeds is None:
        tokens = read_tokens(d / f"gen.{arm}.jsonl")
        got = read_counts(d / f"gen.{arm}.labels.jsonl", d / ref_name)
        counts = got[1] if got else None
    else:
        tokens, parts = {}, []
        for s in seeds:
            sd = d.parent / f"s{s}"
            for k, v in read_tokens(sd / f"gen.{arm}.jsonl").items():
                tokens[k] = max(tokens.get(k, 0), v)
            parts.append(read_counts(sd / f"gen.{arm}.labels.jsonl", sd / ref_name, f"@s{s}"))
        counts = (
            None if any(p is None for p in parts) else {m: np.concatenate([p[1][m] for p in parts]) for m in (F14, F5)}
        )
    if counts is not None:
        got_f1 = dig(summary, f"overall.{F14}")
        mine = float(micro_f1(counts[F14].sum(0)))
        if got_f1 is not None and abs(got_f1 - mine) > 1e-9:
            print(f"ablation_table: {path}: F-14 from labels {mine:.6f} != rg4 score's {got_f1:.6f}", file=sys.stderr)
    return Arm(arm, summary, tokens, counts)


def test(a: Arm, b: Arm, metric: str) -> dict:
    """{a, b, delta, p, source} of B - A on `metric` (overall)."""
    comp = a.comparison(b.name)
    m = ((comp or {}).get("metrics") or {}).get(f"overall.{metric}")
    if m:
        return {**m, "p": m.get("p_ar"), "source": "rg4 score"}
    va, vb = a.value("overall", metric), b.value("overall", metric)
    out = {"a": va, "b": vb, "delta": None if va is None or vb is None else vb - va, "p": None, "source": "n/a"}
    if (
        metric in (F14, F5)
        and a.counts is not None
        and b.counts is not None
        and len(a.counts[metric]) == len(b.counts[metric])
    ):
        out["p"], out["source"] = approx_randomization(a.counts[metric], b.counts[metric]), "script"
    return out


def verdict(kind: str, t: dict, n_a: int | None, n_b: int | None) -> str:
    if t["delta"] is None or t["p"] is None:
        return "n/a"
    significant = t["p"] < ALPHA
    if kind == "gain":
        return "HOLDS" if significant and t["delta"] > 0 else "DOES NOT HOLD"
    fewer = n_a is not None and n_b is not None and n_b < n_a
    return "HOLDS" if fewer and not (significant and t["delta"] < 0) else "DOES NOT HOLD"


def cell(arm: Arm, block: str, metric: str) -> str:
    v = arm.value(block, metric)
    iv = arm.interval(block, metric)
    return fmt(v) if iv is None else f"{fmt(v)} [{fmt(iv[0])}, {fmt(iv[1])}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="ablation", help="the ablation's output directory")
    ap.add_argument("--seeds", default="1 2 3", help="the seeds run (space-separated)")
    ap.add_argument("--commit", help="the rg4 commit the runs used (printed in the table's heading)")
    args = ap.parse_args()
    root = Path(args.dir)
    seeds = args.seeds.split()
    per_seed = {s: {arm: load_arm(root / f"s{s}", arm, None) for arm in ARMS} for s in seeds}
    pooled = {arm: load_arm(root / "pooled", arm, seeds) for arm in ARMS}

    def sources(arms: dict) -> set:
        return {test(arms[c[3]], arms[c[4]], F14)["source"] for c in CLAIMS}

    names = {"rg4 score": "`rg4 score --against`", "script": "scripts/ablation_table.py from the per-report labels"}

    def said(found: set) -> str:
        return " and ".join(names.get(x, x) for x in sorted(found))

    p = print
    p(f"Seeds {', '.join(seeds)}" + (f"; rg4 at commit {args.commit}" if args.commit else "") + ".")
    p(
        f"Paired tests (approximate randomization, two-sided): pooled by {said(sources(pooled))}; per seed by "
        f"{said(set().union(*(sources(per_seed[s]) for s in seeds)))}. Intervals: 95% percentile bootstrap over "
        "reports (rg4 score --bootstrap where given, else the script's for F-14 and F-5)."
    )
    p()
    p("### Table 4 in miniature, pooled over the seeds (all records of the arm; stage 1: sn)")
    p()
    p("| stage | ATF | TLW | arm | n | N | F-14 | F-5 | B@1 | B@4 |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    for arm, (stage, atf, tlw) in ARMS.items():
        a = pooled[arm]
        cells = [cell(a, "overall", m) for _, m in METRICS]
        p(
            f"| {stage} | {atf} | {tlw} | `{arm}` | {a.summary.get('n')} | {a.tokens.get('all', 'n/a')} | "
            + " | ".join(cells)
            + " |"
        )
    p()
    p("### Per setting, pooled over the seeds (F-14 / F-5 / B@1 / B@4; N = largest LLM input)")
    p()
    p("| arm | " + " | ".join(SETTINGS) + " |")
    p("|---|" + "---|" * len(SETTINGS))
    for arm in ARMS:
        a = pooled[arm]
        row = []
        for s in SETTINGS:
            block = f"by_setting.{s}"
            if dig(a.summary, block) is None:
                row.append("-")
                continue
            vals = " / ".join(fmt(a.value(block, m)) for _, m in METRICS)
            row.append(f"{vals} (N {a.tokens.get(s, 'n/a')})")
        p(f"| `{arm}` | " + " | ".join(row) + " |")
    p()
    p("### Per seed (overall) and the mean over seeds")
    p()
    p("| arm | " + " | ".join(f"seed {s} F-14 / F-5 / B@1 / B@4" for s in seeds) + " | mean F-14 (sd) | mean F-5 |")
    p("|---|" + "---|" * (len(seeds) + 2))
    for arm in ARMS:
        row, f14s, f5s = [], [], []
        for s in seeds:
            a = per_seed[s][arm]
            row.append(" / ".join(fmt(a.value("overall", m)) for _, m in METRICS))
            f14s.append(a.value("overall", F14))
            f5s.append(a.value("overall", F5))
        sd = statistics.stdev(f14s) if len(f14s) > 1 and None not in f14s else None
        mean14 = statistics.mean(f14s) if None not in f14s else None
        mean5 = statistics.mean(f5s) if None not in f5s else None
        p(f"| `{arm}` | " + " | ".join(row) + f" | {fmt(mean14)} ({fmt(sd)}) | {fmt(mean5)} |")
    p()
    p("### The claims: paired tests, B - A (p: two-sided approximate randomization)")
    p()
    p("| claim | paper F-14 | A → B | where | F-14 A → B | Δ F-14 | p | Δ F-5 | p (F-5) | verdict |")
    p("|---|---|---|---|---|---|---|---|---|---|")
    verdicts = {}
    for cid, text, paper, a_name, b_name, kind in CLAIMS:
        for where in [*(f"seed {s}" for s in seeds), "pooled"]:
            arms = pooled if where == "pooled" else per_seed[where.split()[1]]
            a, b = arms[a_name], arms[b_name]
            t14, t5 = test(a, b, F14), test(a, b, F5)
            v = verdict(kind, t14, a.tokens.get("all"), b.tokens.get("all"))
            if where == "pooled":
                verdicts[cid] = (v, t14, a, b, text)
            shown = f"**{v}**" if where == "pooled" else "(" + v.lower() + ")"
            delta14 = None if t14["delta"] is None else f"{t14['delta']:+.3f}"
            delta5 = None if t5["delta"] is None else f"{t5['delta']:+.3f}"
            p(
                f"| {cid} {text} | {paper} | `{a_name}` → `{b_name}` | {where} | {fmt(t14['a'])} → {fmt(t14['b'])} | "
                f"{delta14 or 'n/a'} | {fmt_p(t14['p'])} | {delta5 or 'n/a'} | {fmt_p(t5['p'])} | {shown} |"
            )
    p()
    p(
        "Verdicts (pooled over seeds; p < 0.05 and the paper's direction; C4: ATF not significantly worse, fewer tokens):"
    )
    p()
    for cid, (v, t, a, b, text) in verdicts.items():
        extra = ""
        if cid == "C4":
            na, nb = a.tokens.get("all"), b.tokens.get("all")
            if na and nb:
                extra = f"; N {na} (interleaved) vs {nb} (ATF): {100 * (1 - nb / na):.0f}% fewer (paper: 59%)"
        delta = "n/a" if t["delta"] is None else f"{t['delta']:+.3f}"
        p(f"- **{cid} {text}: {v}** (F-14 {fmt(t['a'])} → {fmt(t['b'])}, Δ {delta}, p {fmt_p(t['p'])}{extra})")


if __name__ == "__main__":
    main()
