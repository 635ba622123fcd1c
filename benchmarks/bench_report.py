"""`rg4 report` at 5,000 studies: file size, build time, and when the page is interactive in headless Chromium.

Targets: the page is interactive in < 2 s (navigation start to the browser's first render,
the `rg4-ready` performance mark) and the file stays <= 30 MB with its thumbnails.

Writes --studies generated records in the four settings (every study its own frontal image,
the `m` settings a lateral too: no two records share an image, the page's worst case), 256 px
textured grayscale PNGs (noise costs JPEG bytes, so thumbnails weigh more than a real
radiograph's), references, `hallucination` fields bound to the generated text (every fifth
report flagged) and `sentence_weights` bound to the reference; labels are left to the report
(the rules labeler, as for files without them). Then builds the page with the library entry
(rg4cli.report.write_report) and opens it --repeats times in one headless Chromium (the
network emulated offline), and once more for a --small page of the same data: the ratio of
the two ready times shows what the lazy list saves. Also times the hallucination filter and
moving to the next study in the 5,000-study page.

    .venv/bin/python benchmarks/bench_report.py [--studies 5000] [--small 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from PIL import Image

from rg4cli.records.provenance import bind
from rg4cli.records.study import text_of
from rg4cli.report import ReportSettings, write_report
from rg4cli.vocab import INPUT_SETTINGS
from tests.cdp import Chromium, find_chromium
from tests.lib.jsonl import write_jsonl

TARGET_S = 2.0
MAX_MB = 30.0
SENTENCES = (
    "The heart size is normal.",
    "The heart is mildly enlarged.",
    "There is a small left pleural effusion with adjacent atelectasis.",
    "No pneumothorax is seen.",
    "Patchy opacity in the right lower lobe may reflect pneumonia.",
    "Mild pulmonary vascular congestion.",
    "Median sternotomy wires are intact.",
    "No focal consolidation.",
    "Degenerative changes of the thoracic spine.",
    "A right internal jugular catheter terminates in the lower superior vena cava.",
)


_Y, _X = np.mgrid[0:256, 0:256]
_LUNGS = np.exp(-(((_X - 80) / 45) ** 2 + ((_Y - 130) / 80) ** 2)) + np.exp(
    -(((_X - 176) / 45) ** 2 + ((_Y - 130) / 80) ** 2)
)


def _image(path: Path, rng: np.random.Generator) -> None:
    ribs = 6 * np.sin(_Y / 6.0 + rng.uniform(0, 6)) * (_LUNGS > 0.2)
    img = 200 - 120 * _LUNGS + ribs + rng.normal(0, 10, (256, 256))
    Image.fromarray(np.clip(img, 0, 255).astype("uint8")).save(path, compress_level=1)


def _report(rng: np.random.Generator, n: int) -> str:
    picks = rng.choice(len(SENTENCES), size=n, replace=False)
    body = " ".join(SENTENCES[i] for i in picks[:-1])
    return f"findings: {body} impression: {SENTENCES[picks[-1]]}"


def make_records(root: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True, exist_ok=True)
    gens, refs = [], []
    for i in range(n):
        setting = INPUT_SETTINGS[i % 4]
        rec = {
            "id": f"s{i:05d}_{setting}",
            "frontal": f"img/{i}f.png",
            "view": "PA",
            "indication": "Shortness of breath.",
        }
        _image(root / rec["frontal"], rng)
        if setting[0] == "m":
            rec["lateral"] = f"img/{i}l.png"
            _image(root / rec["lateral"], rng)
        if setting[1] == "w":
            rec["prior_report"] = _report(rng, 4)
        ref = {**rec}
        ref["findings"], ref["impression"] = _report(rng, 6).removeprefix("findings: ").split(" impression: ")
        text = text_of(ref, "findings+impression")
        cut = text.index(". ") + 1
        weights = [
            {"start": 0, "end": cut, "weight": 1.75, "score": 0.8},
            {"start": cut + 1, "end": len(text), "weight": 1.0, "score": 0.1},
        ]
        bind(ref, "sentence_weights", weights, text_field="findings+impression", text=text)
        gen = {**rec, "report": _report(rng, 5), "setting": setting, "gen": {"input_tokens": 128 + 20 * (i % 4)}}
        flagged = i % 5 == 0
        hall = {
            "pc": flagged, "pp": False, "view": False, "comm": False, "views": [],
            "unsupported": ["pc"] if flagged else [], "input_agnostic": flagged, "setting": setting, "backend": "rules",
            "sentences": [{"start": 10, "end": 40, "categories": ["pc"], "unsupported": ["pc"], "phrases": ["prior"]}] if flagged else [],
        }  # fmt: skip
        bind(gen, "hallucination", hall, text_field="report", text=gen["report"])
        gens.append(gen)
        refs.append(ref)
    return write_jsonl(root / "gen.jsonl", gens), write_jsonl(root / "ref.jsonl", refs)


def ready_ms(browser: Chromium, page: Path) -> float:
    browser.open(page.as_uri())
    return browser.evaluate("performance.getEntriesByName('rg4-ready')[0].startTime")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=5000)
    ap.add_argument("--small", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if find_chromium() is None:
        sys.exit("bench_report: no chromium on PATH (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="rg4-bench-report-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        gen, ref = make_records(root, args.studies)
        print(f"inputs: {args.studies} studies written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        pages = {}
        for label, n in (("large", args.studies), ("small", args.small)):
            src = gen
            if n != args.studies:
                src = root / "gen.small.jsonl"
                src.write_text("".join(gen.read_text().splitlines(keepends=True)[:n]))
            t = time.perf_counter()
            result = write_report(
                ReportSettings(input=str(src), ref=str(ref), image_root=str(root), output=str(root / f"{label}.html"))
            )
            pages[label] = (result, time.perf_counter() - t)
        large, build_s = pages["large"]
        with Chromium.launch(timeout=120) as browser:
            times = [ready_ms(browser, large.path) for _ in range(args.repeats)]
            assert browser.errors() == [], browser.errors()
            t0 = browser.evaluate("performance.now()")
            browser.evaluate("document.getElementById('f-hall').click()")
            filter_ms = browser.evaluate("performance.now()") - t0
            t0 = browser.evaluate("performance.now()")
            browser.evaluate("window.rg4Report.select(1)")
            next_ms = browser.evaluate("performance.now()") - t0
            small = statistics.median(ready_ms(browser, pages["small"][0].path) for _ in range(args.repeats))
    ready = statistics.median(times)
    mb = large.bytes / 1e6
    print(f"page: {large.studies} studies, {mb:.1f} MB (target <= {MAX_MB:.0f} MB), built in {build_s:.1f} s")
    print(
        f"interactive (navigation start -> first render, median of {args.repeats}): {ready / 1000:.2f} s "
        f"(target < {TARGET_S:.0f} s; runs {', '.join(f'{x / 1000:.2f}' for x in times)})"
    )
    print(
        f"{args.small}-study page: {small / 1000:.2f} s; ratio {ready / small:.1f}x for {args.studies / args.small:.0f}x the studies"
    )
    print(f"hallucination filter: {filter_ms:.0f} ms; next study: {next_ms:.0f} ms")
    ok = ready / 1000 < TARGET_S and mb <= MAX_MB
    print("PASS" if ok else "MISS")


if __name__ == "__main__":
    main()
