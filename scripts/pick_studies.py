"""Held-out studies for the demo: one study per subject, so the sample is not a few subjects' histories.

`rg4 build-data --limit N` keeps the first N studies, and a phantom (or MIMIC) subject has up
to five studies that share its findings: 80 studies are then ~25 subjects, and whether those
few happen to be healthy moves the share of normal references far from the split's (seed 1,
1,600 subjects: 65% normal among the first 80 test studies, 41% in the test split), and with
it what a model scores without looking (an all-normal report: CE F1 0.58 against those 80,
0.20 against another seed's). One study per subject, chosen at random with --seed, keeps
every record (setting) of it; the subjects are taken in file order.

    python scripts/pick_studies.py test.all.jsonl --studies 80 --seed 1 > test.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import defaultdict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", help="study records (JSONL; one line per study and setting)")
    ap.add_argument("--studies", type=int, default=80, help="how many studies (= subjects) to keep")
    ap.add_argument("--seed", type=int, default=0, help="which of a subject's studies is kept")
    args = ap.parse_args()

    records: list[dict] = []
    studies_of: dict[str, list[str]] = defaultdict(list)  # subject -> its study ids, file order
    with open(args.input, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            rec = json.loads(line)
            records.append(rec)
            study = str(rec.get("study_id") or rec["id"])
            subject = str(rec.get("subject_id") or study)
            if study not in studies_of[subject]:
                studies_of[subject].append(study)
    rng = random.Random(args.seed)
    kept = {rng.choice(studies) for studies in list(studies_of.values())[: args.studies]}
    n = 0
    for rec in records:
        if str(rec.get("study_id") or rec["id"]) in kept:
            sys.stdout.write(json.dumps(rec) + "\n")
            n += 1
    print(
        f"pick_studies: {len(kept)} studies of {len(kept)} subjects ({n} records) from "
        f"{len(studies_of)} subjects in {args.input}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
