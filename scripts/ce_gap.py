"""Why the demo's raw-report model scores higher CE than the rewritten one: the evidence, per seed.

Reads a demo directory (examples/demo.mk, e.g. `make -j2 -f examples/demo.mk SEED=1
OUT=demo-s1 demo-s1/score.gen.json demo-s1/score.gen.raw.json demo-s1/test.labels.jsonl`) and
prints markdown:

1. CE F1 of both models, overall and per setting, and per observation (TP/FP/FN, F1);
2. what each model writes about the observations where they differ most: the share of its
   reports that state the observation positively, and its most frequent such sentences;
3. the training targets: records per setting and, per observation, positive records and
   positive sentences in the rewritten and the raw targets (does rewriting or the label guard
   remove finding content, or change which studies train?);
4. TLW: per observation, the share of its positive sentences whose weight is > 1, in both
   training sets, and the share of target tokens the stage-2 runs up-weighted;
5. the references both systems were scored against.

Sentence-level statements come from the rules labeler run on each sentence alone.

    python scripts/ce_gap.py --dir demo-s1 > demo-s1/ce_gap.md
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

from rg4cli.labelers import make_labeler
from rg4cli.text.sections import join_sections
from rg4cli.vocab import OBSERVATIONS

SETTINGS = ("sn", "sw", "mn", "mw")
SENTENCE = re.compile(r"(?<=\.)\s+")
POSITIVE = (1, -1)  # uncertain counts positive, as the deciding CE does


def load_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        sys.exit(f"ce_gap: {path} is missing (see the usage line of scripts/ce_gap.py)")
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def target(rec: dict, raw: bool = False) -> str:
    if raw:
        return join_sections(rec.get("raw_findings"), rec.get("raw_impression"))
    return join_sections(rec.get("findings"), rec.get("impression"))


def hyp_text(rec: dict) -> str:
    return rec.get("report") or join_sections(rec.get("findings"), rec.get("impression"))


class Sentences:
    """Per-sentence rules labels, cached (the same sentences recur thousands of times)."""

    def __init__(self):
        self.labeler = make_labeler("rules")
        self.cache: dict[str, dict] = {}

    def labels(self, sentence: str) -> dict:
        if sentence not in self.cache:
            self.cache[sentence] = self.labeler.label_one(sentence)
        return self.cache[sentence]

    def positive(self, text: str, obs: str) -> list[str]:
        return [s for s in SENTENCE.split(text) if s.strip() and self.labels(s).get(obs) in POSITIVE]

    def positive_spans(self, text: str, obs: str) -> list[tuple[int, int]]:
        out, start = [], 0
        for s in SENTENCE.split(text):
            i = text.find(s, start)
            start = i + len(s)
            if s.strip() and self.labels(s).get(obs) in POSITIVE:
                out.append((i, i + len(s)))
        return out


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def counts(hyps: list[dict], refs: dict[str, dict], obs: str, setting: str | None = None) -> tuple[int, int, int]:
    tp = fp = fn = 0
    for h in hyps:
        if setting and h.get("setting") != setting:
            continue
        a = (h.get("labels") or {}).get(obs) in POSITIVE
        b = (refs[h["id"]].get("labels") or {}).get(obs) in POSITIVE
        tp, fp, fn = tp + (a and b), fp + (a and not b), fn + (b and not a)
    return tp, fp, fn


def positives(recs: dict[str, dict], obs: str) -> int:
    return sum((r.get("labels") or {}).get(obs) in POSITIVE for r in recs.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default="demo", help="the demo's output directory")
    ap.add_argument("--top", type=int, default=6, help="observations to detail (largest F1 differences)")
    ap.add_argument("--systems", default="gen,gen.raw", help="the two systems' file stems: rewritten,raw")
    ap.add_argument("--runs", default="stage2,raw-stage2", help="their training runs (metrics.jsonl): rewritten,raw")
    ap.add_argument("--ref", default="test.labels.jsonl", help="labelled references in --dir")
    args = ap.parse_args()
    d = Path(args.dir)
    sent = Sentences()
    p = print

    # 1. Scores.
    systems = dict(zip(("rewritten", "raw"), args.systems.split(",")))
    runs = dict(zip(("rewritten", "raw"), args.runs.split(",")))
    score = {k: json.loads((d / f"score.{v}.json").read_text()) for k, v in systems.items()}
    hyps = {k: load_jsonl(d / f"{v}.judged.jsonl") for k, v in systems.items()}
    refs = {r["id"]: r for r in load_jsonl(d / args.ref)}
    p(f"## {d.name}: CE F1 (micro 14, uncertain positive), rewritten-target model vs raw-report model")
    p()
    p("| | all | " + " | ".join(SETTINGS) + " | precision | recall |")
    p("|---|---|" + "---|" * len(SETTINGS) + "---|---|")
    for k in systems:
        s = score[k]
        ce = lambda b: ((b or {}).get("ce") or {}).get("micro_14_unc_pos") or {}  # noqa: E731 - a one-line accessor
        cells = [f"{ce(s['overall']).get('f1', 0):.3f}"]
        cells += [f"{ce(s['by_setting'][x]).get('f1', 0):.3f}" if x in s["by_setting"] else "-" for x in SETTINGS]
        cells += [f"{ce(s['overall']).get('precision', 0):.3f}", f"{ce(s['overall']).get('recall', 0):.3f}"]
        p(f"| {k} | " + " | ".join(cells) + " |")
    p()
    p("Per observation (all settings): support, then TP / FP / FN and F1 of each model.")
    p()
    p("| observation | support | rewritten TP/FP/FN | F1 | raw TP/FP/FN | F1 | Δ F1 (raw - rewritten) |")
    p("|---|---|---|---|---|---|---|")
    diffs = []
    for obs in OBSERVATIONS:
        a, b = counts(hyps["rewritten"], refs, obs), counts(hyps["raw"], refs, obs)
        support = a[0] + a[2]
        diffs.append((f1(*b) - f1(*a), obs))
        p(
            f"| {obs} | {support} | {a[0]}/{a[1]}/{a[2]} | {f1(*a):.2f} | {b[0]}/{b[1]}/{b[2]} | {f1(*b):.2f} | {f1(*b) - f1(*a):+.2f} |"
        )
    focus = [o for _, o in sorted(diffs, key=lambda x: -abs(x[0]))[: args.top]]
    p()
    p("Per setting, for the observations that differ most (F1 rewritten → raw):")
    p()
    p("| observation | " + " | ".join(SETTINGS) + " |")
    p("|---|" + "---|" * len(SETTINGS))
    for obs in focus:
        cells = []
        for x in SETTINGS:
            a, b = counts(hyps["rewritten"], refs, obs, x), counts(hyps["raw"], refs, obs, x)
            if not any(h.get("setting") == x for h in hyps["raw"]):
                cells.append("-")
                continue
            cells.append(f"{f1(*a):.2f} → {f1(*b):.2f} (support {a[0] + a[2]})")
        p(f"| {obs} | " + " | ".join(cells) + " |")

    # 2. What each model writes.
    p()
    p("## What the models write about these observations")
    p()
    for obs in focus:
        support = sum((refs[h["id"]].get("labels") or {}).get(obs) in POSITIVE for h in hyps["raw"])
        p(f"**{obs}** (reference positive in {support} of {len(hyps['raw'])} reports):")
        p()
        for k in systems:
            said = [s for h in hyps[k] for s in sent.positive(hyp_text(h), obs)]
            reports = sum(bool(sent.positive(hyp_text(h), obs)) for h in hyps[k])
            top = "; ".join(f'"{s}" ×{n}' for s, n in Counter(said).most_common(3)) or "-"
            p(f"- {k}: states it positively in {reports} reports; most frequent: {top}")
        p()

    # 3. Training targets.
    p("## Training targets: rewritten (train.labels.jsonl) vs raw (train.raw.labels.jsonl)")
    p()
    rw = {r["id"]: r for r in load_jsonl(d / "train.labels.jsonl")}
    raw = {r["id"]: r for r in load_jsonl(d / "train.raw.labels.jsonl")}
    per = lambda recs: Counter(r["setting"] for r in recs.values())  # noqa: E731 - a one-line accessor
    p(
        f"- records: rewritten {len(rw)} {dict(per(rw))}; raw {len(raw)} {dict(per(raw))}; ids only in one: "
        f"{len(rw.keys() ^ raw.keys())}"
    )
    changed = sum(target(r) != target(raw[i]) for i, r in rw.items() if i in raw)
    p(f"- targets the rewriter changed: {changed} of {len(rw)}")
    p()
    p(
        "| observation | positive records rewritten / raw | records whose label differs | positive sentences rewritten / raw |"
    )
    p("|---|---|---|---|")
    for obs in focus:
        differ = sum(
            ((r.get("labels") or {}).get(obs) in POSITIVE) != ((raw[i].get("labels") or {}).get(obs) in POSITIVE)
            for i, r in rw.items()
            if i in raw
        )
        sa = sum(len(sent.positive(target(r), obs)) for r in rw.values())
        sb = sum(len(sent.positive(target(r), obs)) for r in raw.values())
        p(f"| {obs} | {positives(rw, obs)} / {positives(raw, obs)} | {differ} | {sa} / {sb} |")

    # 4. TLW.
    p()
    p("## TLW: which sentences the weights emphasise (weight > 1)")
    p()
    p("| observation | positive sentences up-weighted, rewritten | raw |")
    p("|---|---|---|")
    weights = {
        k: load_jsonl(d / f) for k, f in (("rewritten", "train.weights.jsonl"), ("raw", "train.raw.weights.jsonl"))
    }
    for obs in focus:
        cells = []
        for k in ("rewritten", "raw"):
            total = up = 0
            for r in weights[k]:
                text = target(r)
                spans = [(w["start"], w["end"], w["weight"]) for w in r.get("sentence_weights") or []]
                for a, b in sent.positive_spans(text, obs):
                    total += 1
                    up += any(w > 1 and s < b and e > a for s, e, w in spans)
            cells.append(f"{up}/{total} ({up / total:.0%})" if total else "-")
        p(f"| {obs} | " + " | ".join(cells) + " |")
    for k, run in runs.items():
        path = d / run / "metrics.jsonl"
        if path.is_file():
            shares = [m["weighted_token_share"] for m in load_jsonl(path) if "weighted_token_share" in m]
            if shares:
                p(f"- {k} ({run}): {statistics.mean(shares):.1%} of target tokens up-weighted (mean over steps)")

    # 5. References.
    p()
    p("## References")
    p()
    for k in systems:
        cfg = score[k].get("config") or {}
        p(
            f"- {k}: n {score[k].get('n')}, text {cfg.get('text')}, reference text {cfg.get('ref_text')}, "
            f"labeler {cfg.get('labeler')}, skipped {score[k].get('skipped')}"
        )


if __name__ == "__main__":
    main()
