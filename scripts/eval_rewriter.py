"""How the rules rewriter did on a `rg4 build-data` run (development measure, docs/rewriter.md).

Reads the records written (-o) and the dropped examples (--rejects) of one run and prints
one JSON summary to stdout:

- kept: share of examples written (the rest were dropped: labels changed, empty, ...);
- still_input_agnostic: share of kept reports the judge still flags after the last round;
- broken: share of all output sentences that the rewriter wrote (a sentence not found
  verbatim in the original section) and that are broken: one word, starting with a
  conjunction or a bare "of"/"to", ending in a preposition, conjunction or comma, or with
  doubled punctuation;
- drops_by_cause: dropped examples whose label changes are all of one kind: "anchor" (a
  heart / mediastinum anchor that was only compared, "heart size is stable": uncertain ->
  not mentioned, and No Finding following it), "no_new" ("no new X": uncertain -> negative),
  or "other";
- edits_per_category: the edits recorded in the kept records' `rewrite.edits`.

`--show N` prints N broken sentences to stderr.

    .venv/bin/python scripts/eval_rewriter.py out.jsonl rejects.jsonl [--show 10]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rg4cli.text.sentences import split_sentences

_CONJ = r"(?:and|or|but|nor|yet|so|because|although|though|while|whereas|as|that|which|of|to)"
_END = (
    r"(?:of|to|in|on|at|by|for|from|with|without|as|than|into|onto|over|under|and|or|but|the|a|an|which|that|"
    r"since|after|before|between|within|per)"
)
_ANCHOR = re.compile(r"(?:Enlarged Cardiomediastinum|Cardiomegaly) -1 -> (?:None|0|1)$|No Finding ")


def broken(sentence: str) -> str | None:
    """Why a sentence is broken, or None."""
    t = sentence.strip()
    if len(re.findall(r"[A-Za-z0-9_'/-]+", t)) <= 1:
        return "single word"
    if re.match(rf"^(?:\d+[.)]\s*)?{_CONJ}\b", t, re.I):
        return "starts with a conjunction"
    if re.search(rf"\b{_END}\s*[.!?]?\s*$", t, re.I):
        return "ends in a preposition or conjunction"
    if re.search(r",\s*[.!?]?\s*$", t):
        return "ends in a comma"
    if re.search(r"[.,;:]\s*[.,;:]", t):
        return "doubled punctuation"
    return None


def read(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def cause(record: dict) -> str:
    changes = [c.split(": ", 1)[-1] for c in record.get("rewrite", {}).get("label_changes", [])]
    rest = [c for c in changes if not _ANCHOR.match(c)]
    if changes and not rest:
        return "anchor"
    if rest and all(c.endswith("-1 -> 0") for c in rest):
        return "no_new"
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("records")
    ap.add_argument("rejects")
    ap.add_argument("--show", type=int, default=0)
    args = ap.parse_args()
    kept, dropped = read(args.records), read(args.rejects)
    n = len(kept) + len(dropped)
    total = written = 0
    why: Counter = Counter()
    shown = 0
    edits: Counter = Counter()
    for r in kept:
        for e in r.get("rewrite", {}).get("edits", []):
            edits[e["category"]] += 1
        for section in ("findings", "impression"):
            new, old = r.get(section), r.get("raw_" + section) or ""
            if not new:
                continue
            before = {old[a:b].strip() for a, b in split_sentences(old)}
            for a, b in split_sentences(new):
                s = new[a:b].strip()
                total += 1
                if s in before:
                    continue
                written += 1
                reason = broken(s)
                if reason:
                    why[reason] += 1
                    if shown < args.show:
                        print(f"[{reason}] {s}", file=sys.stderr)
                        shown += 1
    flagged = sum(1 for r in kept if r.get("rewrite", {}).get("verdicts", [{}])[-1].get("input_agnostic"))
    out = {
        "examples": n,
        "kept": round(len(kept) / n, 4) if n else None,
        "dropped": dict(Counter(r.get("dropped") for r in dropped)),
        "drops_by_cause": dict(Counter(cause(r) for r in dropped)),
        "still_input_agnostic": round(flagged / len(kept), 4) if kept else None,
        "output_sentences": total,
        "rewritten_sentences": written,
        "broken": round(sum(why.values()) / total, 4) if total else None,
        "broken_by_kind": dict(why),
        "edits_per_category": dict(sorted(edits.items())),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
