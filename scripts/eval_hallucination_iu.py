"""Rules hallucination judge on the IU X-ray reports (development measure; no human labels here).

IU reports carry no judgments of the four categories, so this script measures what
can be measured and helps a person check the rest:

- rates: share of reports (findings + impression) with each category, and the phrase
  rules that fired most (a rule firing far more than its category is plausible for
  is the usual sign of a false positive);
- a proxy for prior comparison: IU's `comparison` field says whether the radiologist
  had a prior study ("None", "None available" = no). Prior-comparison language in a
  report whose comparison field says none is almost always a false positive
  (or a radiologist comparing from memory), so its rate is printed beside the rate
  for reports that had a comparison;
- `--labels FILE`: hand judgments as JSONL {id, pc, pp, view, comm: true/false} (keep
  them outside the repository: they describe IU text) → precision and recall per
  category, with the disagreements listed;
- `--show CAT [--negatives]`: a random sample of reports with the matched words in
  [brackets] (or, with --negatives, sentences the judge did NOT flag that contain a
  suspicious word), for reading on the terminal; nothing is written anywhere.

    .venv/bin/python scripts/eval_hallucination_iu.py [--data ../shared/data/iu] [--labels my_labels.jsonl]
    .venv/bin/python scripts/eval_hallucination_iu.py --show pp --limit 30 --seed 3
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rg4cli.judges.backends import CATEGORIES, RulesJudge
from rg4cli.text.sections import join_sections
from rg4cli.text.sentences import split_sentences

NO_COMPARISON_RE = re.compile(r"^\s*(?:none\b|no\s+(?:prior|previous|comparison)|not\s+available|n/?a\b)", re.I)
# Words worth a look in sentences the judge did not flag (--negatives).
SUSPICIOUS = {
    "pc": r"\b(?:prior|previous\w*|compar\w*|since|before|earlier|recent\w*|known|chang\w*|now|today|again|old|new\w*|"
    r"increas\w*|decreas\w*|larger|smaller|resolv\w*|improv\w*|persist\w*)\b",
    "pp": r"\b(?:post\w*|prior|previous|placed|insert\w*|remov\w*|clips?|wires?|hardware|graft\w*|prosthe\w*|"
    r"implant\w*|stent\w*|surg\w*|\w+ectomy|\w+otomy|\w+plasty|procedure|s/p)\b",
    "view": r"\b(?:lateral|frontal|PA|AP|views?|projections?|portable|upright|supine|erect|decubitus|oblique|"
    r"lordotic|rotat\w*|technique|positioning|images?)\b",
    "comm": r"\b(?:dr|doctor|physician|clinician|nurse|call\w*|phone|discuss\w*|informed?|notif\w*|communicat\w*|"
    r"convey\w*|relay\w*|contact\w*|spoke|page\w*|\d+:\d+)\b",
}


def default_data() -> Path:
    here = Path(__file__).resolve().parents[1]
    for cand in (here.parent / "shared" / "data" / "iu", Path("/work/shared/data/iu")):
        if cand.exists():
            return cand
    return here.parent / "shared" / "data" / "iu"


def load(data: Path) -> list[dict]:
    with open(data / "reports.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def had_comparison(rec: dict) -> bool | None:
    value = rec.get("comparison")
    if value is None or not value.strip():
        return None
    return not NO_COMPARISON_RE.match(value)


def marked(text: str, hits, start: int = 0, end: int | None = None) -> str:
    end = len(text) if end is None else end
    out, pos = [], start
    for h in sorted(hits, key=lambda h: h.start):
        if h.start < pos or not (start <= h.start < end):
            continue
        out += [text[pos : h.start], "[", text[h.start : h.end], "]"]
        pos = h.end
    out.append(text[pos:end])
    return "".join(out)


def prf(tp: int, fp: int, fn: int) -> tuple[float, float]:
    return (tp / (tp + fp) if tp + fp else float("nan"), tp / (tp + fn) if tp + fn else float("nan"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--labels", type=Path, default=None, help="hand judgments JSONL {id, pc, pp, view, comm}")
    ap.add_argument("--show", choices=CATEGORIES, default=None, help="print a sample of reports flagged for CAT")
    ap.add_argument("--negatives", action="store_true", help="with --show: unflagged sentences with suspicious words")
    ap.add_argument("--limit", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rules", type=int, default=8, help="top rules to list per category")
    args = ap.parse_args(argv)
    data = args.data or default_data()
    if not (data / "reports.jsonl").exists():
        print(f"no IU reports at {data} (pass --data)", file=sys.stderr)
        return 2
    records = load(data)
    judge = RulesJudge()
    rows = []
    for rec in records:
        text = join_sections(rec.get("findings"), rec.get("impression"))
        if text:
            rows.append((rec, text, judge.find(text)))

    if args.show:
        rng = random.Random(args.seed)
        rng.shuffle(rows)
        shown = 0
        for rec, text, hits in rows:
            if shown >= args.limit:
                break
            mine = [h for h in hits if h.category == args.show]
            if args.negatives:
                covered = {(h.sentence_start, h.sentence_end) for h in mine}
                rx = re.compile(SUSPICIOUS[args.show], re.I)
                for s, e in split_sentences(text):
                    m = rx.search(text, s, e)
                    if (s, e) not in covered and m:
                        print(f"{rec['id']}: {text[s : m.start()]}<<{m.group()}>>{text[m.end() : e]}")
                        shown += 1
            elif mine:
                print(f"{rec['id']}: {marked(text, mine)}")
                shown += 1
        return 0

    n = len(rows)
    present = Counter()
    rules: dict[str, Counter] = {c: Counter() for c in CATEGORIES}
    proxy = Counter()
    for rec, _, hits in rows:
        cats = {h.category for h in hits}
        present.update(cats)
        for h in hits:
            rules[h.category][h.rule] += 1
        comp = had_comparison(rec)
        if comp is not None:
            proxy[("with" if comp else "without", "n")] += 1
            proxy[("with" if comp else "without", "pc")] += "pc" in cats
    print(f"IU reports with findings or impression: {n}")
    for c in CATEGORIES:
        top = ", ".join(f"{name} {k}" for name, k in rules[c].most_common(args.rules))
        print(f"  {c:<5} {100 * present[c] / n:5.1f}% of reports   rules: {top}")
    for side in ("with", "without"):
        k = proxy[(side, "n")]
        if k:
            print(
                f"  prior-comparison language in reports {side} a comparison study: "
                f"{100 * proxy[(side, 'pc')] / k:5.1f}% of {k}"
            )

    if args.labels:
        gold = {}
        with open(args.labels, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    rec = json.loads(line)
                    gold[rec["id"]] = rec
        counts = {c: Counter() for c in CATEGORIES}
        errors = []
        for rec, _text, hits in rows:
            g = gold.get(rec["id"])
            if g is None:
                continue
            cats = {h.category for h in hits}
            for c in CATEGORIES:
                want, got = bool(g.get(c)), c in cats
                counts[c]["tp" if want and got else "fp" if got else "fn" if want else "tn"] += 1
                if want != got:
                    errors.append((rec["id"], c, "FP" if got else "FN", [h.phrase for h in hits if h.category == c]))
        print(f"against {len(gold)} hand judgments ({args.labels}):")
        for c in CATEGORIES:
            p, r = prf(counts[c]["tp"], counts[c]["fp"], counts[c]["fn"])
            print(
                f"  {c:<5} precision {p:.3f}  recall {r:.3f}  (tp {counts[c]['tp']}, fp {counts[c]['fp']}, "
                f"fn {counts[c]['fn']})"
            )
        for rid, c, kind, phrases in errors[: args.limit]:
            print(f"  {kind} {c} {rid} {phrases}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
