"""Throughput of `rg4 build-data` on the offline rules path (target: >= 200 studies/s).

Writes a phantom MIMIC-CXR-JPG tree (`rg4 synth` core, small images), then times the
library entry the command calls (rg4cli.dataset.build_dataset with its own wiring; the
records are serialised to a discarded stdout, which the earlier hand-built loop skipped):
import (metadata, split, reports, image checks, priors) -> one example per setting ->
rules judge -> rules rewriter (up to 3 rounds) -> rules-labeler guard on impression
and findings -> records + Table 1 accounting. Fresh judge, labeler and caches, so no
work is carried over from an earlier run. Prints studies/s and examples/s measured in
this run, the target ratio, and where the time goes (judge, labeler, the rest).

    .venv/bin/python benchmarks/bench_build_data.py [--subjects 150] [--seed 7] [--repeats 3]
        [--iu DIR [--limit N]]

--iu DIR also times `build-data --from iu-xray` on an IU X-ray reports directory (or any
reports.jsonl in that shape, e.g. other reports as single-view studies), images not
checked: the rules rewriter's clause edits on real report text.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

TARGET = 200.0


class _Timed:
    """Wrap an object's method to add up the seconds spent in it."""

    def __init__(self, obj, method: str):
        self.seconds = 0.0
        self.calls = 0
        self.items = 0
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            self.calls += 1
            if args and isinstance(args[0], list):
                self.items += len(args[0])
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t

        setattr(obj, method, timed)


def run_once(root: Path, **settings) -> dict:
    import rg4cli.dataset.rewriters as rewriters
    import rg4cli.judges.backends as judges
    import rg4cli.labelers.backends as labelers
    from rg4cli.dataset import BuildSettings, build_dataset

    timers: dict[str, _Timed] = {}
    make_judge, make_labeler, make_rewriter = judges.make_judge, labelers.make_labeler, rewriters.make_rewriter

    def timed_judge(*args, **kwargs):  # the judge the library wires, its phrase search timed
        judge = make_judge(*args, **kwargs)
        timers["find"] = _Timed(judge, "find")  # shared by judge and rules rewriter; before the loop's memo
        return judge

    def timed_labeler(*args, **kwargs):
        labeler = make_labeler(*args, **kwargs)
        timers["label"] = _Timed(labeler, "label")
        return labeler

    def timed_rewriter(*args, **kwargs):
        rewriter = make_rewriter(*args, **kwargs)
        timers["rewrite"] = _Timed(rewriter, "rewrite")  # includes the judge's memoized finds it asks for
        return rewriter

    judges.make_judge, labelers.make_labeler, rewriters.make_rewriter = timed_judge, timed_labeler, timed_rewriter
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):  # the records go to stdout without -o
            summary = build_dataset(BuildSettings(source=root, **settings))
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        judges.make_judge, labelers.make_labeler, rewriters.make_rewriter = make_judge, make_labeler, make_rewriter
    t_find, t_label = timers["find"], timers["label"]
    ex = summary["examples"]
    return {
        "studies": summary["studies"]["used"],
        "records": sum(ex["written"].values()) + sum(ex["dropped"].values()),
        "seconds": seconds,
        "cpu": cpu,
        "find": t_find.seconds,
        "finds": t_find.calls,
        "label": t_label.seconds,
        "rewrite": timers["rewrite"].seconds if "rewrite" in timers else 0.0,
        "drop_rate": ex.get("drop_rate"),
        "labeled": t_label.items,
        "table": summary["table1"],
    }


def report(name: str, runs: list[dict]) -> None:
    best = min(runs, key=lambda r: r["seconds"])
    rate = best["studies"] / best["seconds"]
    print(
        f"{name}: {best['studies']} studies -> {best['records']} records in {best['seconds']:.2f} s "
        f"(best of {len(runs)}); {rate:.0f} studies/s wall, {best['studies'] / best['cpu']:.0f} studies per "
        f"CPU-second; target {TARGET:.0f} studies/s: ratio {rate / TARGET:.2f} ({'met' if rate >= TARGET else 'NOT met'})"
    )
    print(
        f"  time: judge phrase search {best['find']:.2f} s, labeler {best['label']:.2f} s, rules rewriter "
        f"{best['rewrite']:.2f} s; dropped {100 * (best['drop_rate'] or 0):.1f}% of examples"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=150)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeats", type=int, default=3, help="runs; the fastest is reported")
    ap.add_argument("--iu", type=Path, default=None, help="also time --from iu-xray on this reports directory")
    ap.add_argument("--limit", type=int, default=None, help="with --iu: only the first N studies")
    args = ap.parse_args()

    from rg4cli.synth.mimic import write_mimic_tree
    from rg4cli.synth.studies import generate_studies

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_mimic_tree(root, generate_studies(args.subjects, seed=args.seed, image_size=32))
        runs = [run_once(root) for _ in range(max(1, args.repeats))]
    best = min(runs, key=lambda r: r["seconds"])
    rate = best["studies"] / best["seconds"]
    rest = best["seconds"] - best["find"] - best["label"]
    t_in, t_out = best["table"]["input_all_sn"]["all"], best["table"]["output_sn"]["all"]
    print(
        f"build-data rules path: {best['studies']} studies -> {best['records']} records in "
        f"{best['seconds']:.2f} s (best of {len(runs)})"
    )
    print(
        f"  {rate:.0f} studies/s wall, {best['studies'] / best['cpu']:.0f} studies per CPU-second "
        f"({best['records'] / best['seconds']:.0f} examples/s); target {TARGET:.0f} studies/s: ratio "
        f"{rate / TARGET:.2f} ({'met' if rate >= TARGET else 'NOT met'})"
    )
    print(
        f"  time: judge phrase search {best['find']:.2f} s ({best['finds']} texts), labeler {best['label']:.2f} s "
        f"({best['labeled']} texts), import + rewriter + bookkeeping {rest:.2f} s"
    )
    print(
        f"  sn reports with any input-agnostic content: input {t_in['input_agnostic']:.1f}% -> "
        f"output {t_out['input_agnostic']:.1f}%"
    )

    if args.iu is not None:
        runs = [
            run_once(args.iu, source_format="iu-xray", check_images=False, limit=args.limit)
            for _ in range(max(1, args.repeats))
        ]
        report(f"build-data rules path on {args.iu.name} (--from iu-xray)", runs)


if __name__ == "__main__":
    main()
