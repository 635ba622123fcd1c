"""Rules labeler vs CheXbert's labels on the IU X-ray reports (development measure).

Prints micro-F1 over the 14 observations (positive and uncertain count as "mentioned
positive", the LLM-RG4 convention), strict 4-way agreement (1/0/-1/blank; No Finding
blank and 0 are the same there, as CheXbert's No Finding head has 2 classes), and a
per-observation table. `--errors OBS` lists disagreements for one observation.

    .venv/bin/python scripts/eval_label_iu.py [--data ../shared/data/iu] [--errors Edema] [--limit 20]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rg4cli.labelers.backends import make_labeler
from rg4cli.vocab import OBSERVATIONS

NO_FINDING = OBSERVATIONS[13]


def default_data() -> Path:
    here = Path(__file__).resolve().parents[1]
    for cand in (here.parent / "shared" / "data" / "iu", Path("/work/shared/data/iu")):
        if cand.exists():
            return cand
    return here.parent / "shared" / "data" / "iu"


def load(data: Path) -> list[tuple[str, str, dict]]:
    reports = {}
    with open(data / "reports.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            reports[rec["id"]] = rec
    rows = []
    with open(data / "chexbert_labels.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            text = reports[rec["id"]].get(rec.get("labeled_text", "findings")) or ""
            rows.append((rec["id"], text, rec["labels"]))
    return rows


def strict(value, obs):
    return 0 if obs == NO_FINDING and value is None else value


def evaluate(rows, predicted):
    per = {obs: {"tp": 0, "fp": 0, "fn": 0, "agree": 0, "n": 0} for obs in OBSERVATIONS}
    for (_, _, ref), pred in zip(rows, predicted):
        for obs in OBSERVATIONS:
            r, p = ref.get(obs), pred.get(obs)
            rp, pp = r in (1, -1), p in (1, -1)
            c = per[obs]
            c["tp"] += rp and pp
            c["fp"] += pp and not rp
            c["fn"] += rp and not pp
            c["agree"] += strict(r, obs) == strict(p, obs)
            c["n"] += 1
    tp = sum(c["tp"] for c in per.values())
    fp = sum(c["fp"] for c in per.values())
    fn = sum(c["fn"] for c in per.values())
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    agree = sum(c["agree"] for c in per.values()) / max(1, sum(c["n"] for c in per.values()))
    return {"micro_precision": prec, "micro_recall": rec, "micro_f1": f1, "strict_agreement": agree, "per": per}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--errors", default=None, help="observation whose disagreements to list")
    ap.add_argument("--limit", type=int, default=25)
    ap.add_argument("--strict-errors", action="store_true", help="list 4-way disagreements, not F1 ones")
    args = ap.parse_args(argv)
    data = args.data or default_data()
    if not (data / "chexbert_labels.jsonl").exists():
        print(f"no IU data at {data}", file=sys.stderr)
        return 2
    rows = load(data)
    labeler = make_labeler("rules")
    predicted = labeler.label([t for _, t, _ in rows])
    res = evaluate(rows, predicted)
    print(f"IU reports: {len(rows)} (CheXbert labels on findings)")
    print(
        f"micro-F1 (pos+unc as positive) over 14: {res['micro_f1']:.4f}  "
        f"(P {res['micro_precision']:.4f}, R {res['micro_recall']:.4f})"
    )
    print(f"strict 4-way agreement over 14: {res['strict_agreement']:.4f}")
    print(f"{'observation':28s} {'tp':>5s} {'fp':>5s} {'fn':>5s} {'F1':>6s} {'agree':>6s}")
    for obs, c in res["per"].items():
        d = 2 * c["tp"] + c["fp"] + c["fn"]
        f1 = 2 * c["tp"] / d if d else float("nan")
        print(f"{obs:28s} {c['tp']:5d} {c['fp']:5d} {c['fn']:5d} {f1:6.3f} {c['agree'] / c['n']:6.3f}")
    if args.errors:
        obs = args.errors
        shown = 0
        for (rid, text, ref), pred in zip(rows, predicted):
            r, p = ref.get(obs), pred.get(obs)
            bad = strict(r, obs) != strict(p, obs) if args.strict_errors else ((r in (1, -1)) != (p in (1, -1)))
            if not bad:
                continue
            print(f"\n[{rid}] chexbert={r} rules={p}\n  {text}")
            for m in labeler.mentions(text):
                if m.observation == obs:
                    print(f"    {m.phrase!r} -> {m.value} cue={m.cue!r}")
            if obs == NO_FINDING:
                ex = labeler.explain(text)
                print(
                    "    pos mentions:",
                    [
                        (m["observation"], m["phrase"], m["value"])
                        for m in ex["mentions"]
                        if m["value"] in (1, -1) and m["observation"] != "Support Devices"
                    ],
                )
                print("    other:", [(m["phrase"], m["value"]) for m in ex["other_findings"]])
            shown += 1
            if shown >= args.limit:
                break
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `| head` closed the pipe: fine
        sys.stderr.close()
        sys.exit(0)
