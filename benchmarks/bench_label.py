"""`rg4 label` rules vs a BERT-base CheXbert-shaped model on the same CPU: reports/s, ratio, agreement.

Labels real IU reports (findings + impression) when ../shared/data/iu is present,
else synthetic MIMIC-style reports from `rg4cli.synth.studies`; one process, one thread.

1. The rules labeler (`make_labeler("rules")`), best of --repeat (target >= 500 reports/s).
2. What `rg4 label --backend chexbert` runs: CheXbert's shape (`CheXbertModel`: BERT-base,
   12 layers x 768, 14 heads on [CLS]) from a `BertConfig` of bert-base size, randomly
   initialised (no weights are downloaded: the cost of a forward pass does not depend on
   the values), a word-piece tokenizer of bert-base's vocabulary size, batches of 32,
   `predict_chexbert` on the first --bert-n reports.
3. Agreement: the rules labeler against CheXbert's real labels of the IU findings
   (`scripts/eval_label_iu.py`: micro-F1 over the 14, positive and uncertain as positive),
   when ../shared is present.

    .venv/bin/python benchmarks/bench_label.py [--n 2000] [--repeat 3] [--bert-n 256]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from transformers import BertConfig

from rg4cli.labelers.backends import make_labeler
from rg4cli.model.classifiers import CheXbertModel, Classifier, predict_chexbert
from rg4cli.model.tokenizers import build_wordpiece_tokenizer
from rg4cli.text.sections import join_sections

TARGET = 500.0


ROOT = Path(__file__).resolve().parents[1]
BERT_BASE = BertConfig()  # 12 layers, hidden 768, 12 heads, vocabulary 30,522: bert-base-uncased's shape


def iu_dir() -> Path | None:
    for cand in (ROOT.parent / "shared" / "data" / "iu", Path("/work/shared/data/iu")):
        if (cand / "reports.jsonl").exists():
            return cand
    return None


def iu_reports(n: int) -> list[str] | None:
    data = iu_dir()
    if data is None:
        return None
    texts = []
    with open(data / "reports.jsonl", encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            text = join_sections(rec.get("findings"), rec.get("impression"))
            if text:
                texts.append(text)
            if len(texts) >= n:
                break
    return texts


def synth_reports(n: int) -> list[str]:
    from rg4cli.synth.studies import generate_studies

    texts: list[str] = []
    seed = 0
    while len(texts) < n:
        for s in generate_studies(50, seed=seed):
            texts.append(join_sections(s.findings, s.impression))
        seed += 1
    return texts[:n]


def rules_rate(texts: list[str], repeat: int) -> tuple[float, float]:
    """Reports/s of the rules labeler: (wall, CPU), best of `repeat`."""
    labeler = make_labeler("rules")
    labeler.label(texts[:20])  # compile the tables outside the timing
    best = best_cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        labeler.label(texts)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return len(texts) / best, len(texts) / best_cpu


def bert_rate(texts: list[str], repeat: int) -> tuple[float, float]:
    """Reports/s of a bert-base CheXbert-shaped labeler: (wall, CPU), best of `repeat`."""
    torch.manual_seed(0)
    tokenizer = build_wordpiece_tokenizer(texts, vocab_size=BERT_BASE.vocab_size)
    clf = Classifier("labeler", CheXbertModel(BERT_BASE).eval(), tokenizer, source="<bert-base, random init>")
    predict_chexbert(clf, texts[:4])  # warm up
    best = best_cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        predict_chexbert(clf, texts, batch_size=32)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return len(texts) / best, len(texts) / best_cpu


def agreement() -> str | None:
    """Rules vs CheXbert's labels on the IU findings (scripts/eval_label_iu.py), when present."""
    data = iu_dir()
    if data is None or not (data / "chexbert_labels.jsonl").exists():
        return None
    spec = importlib.util.spec_from_file_location("eval_label_iu", ROOT / "scripts" / "eval_label_iu.py")
    ev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ev)  # type: ignore[union-attr]  # a .py file always has a loader
    rows = ev.load(data)
    res = ev.evaluate(rows, make_labeler("rules").label([t for _, t, _ in rows]))
    return (
        f"agreement with CheXbert on {len(rows)} IU findings: micro-F1 {res['micro_f1']:.4f} over the 14 "
        f"(positive+uncertain as positive), strict 4-way {res['strict_agreement']:.4f}"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="reports for the rules labeler (default 2000)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bert-n", type=int, default=256, help="reports for the BERT-base model (default 256; 0: skip)")
    args = ap.parse_args(argv)
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    except (AttributeError, OSError):
        pass
    torch.set_num_threads(1)
    texts = iu_reports(args.n)
    source = "IU X-ray findings+impression"
    if not texts:
        texts, source = synth_reports(args.n), "rg4 synth findings+impression"
    rate, cpu_rate = rules_rate(texts, args.repeat)
    chars = sum(len(t) for t in texts) / len(texts)
    # Wall time counts waiting for a busy core; CPU time is what one core actually spent.
    print(
        f"rules labeler: {len(texts)} reports ({source}, mean {chars:.0f} chars), best of {args.repeat}: "
        f"{rate:.0f} reports/s wall, {cpu_rate:.0f} reports/s CPU (target {TARGET:.0f}; "
        f"{min(rate, cpu_rate) / TARGET:.2f}x by wall time)",
        flush=True,
    )
    if args.bert_n > 0:
        subset = texts[: args.bert_n]
        b_rate, b_cpu = bert_rate(subset, max(1, min(args.repeat, 2)))
        print(
            f"BERT-base CheXbert-shaped labeler (random init, batch 32, 1 thread): {len(subset)} reports: "
            f"{b_rate:.1f} reports/s wall, {b_cpu:.1f} reports/s CPU",
            flush=True,
        )
        print(f"rules / BERT-base: {rate / b_rate:.0f}x by wall time, {cpu_rate / b_cpu:.0f}x by CPU time")
    line = agreement()
    print(line if line else "agreement: no IU CheXbert labels (../shared/data/iu) on this machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
