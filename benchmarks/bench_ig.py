"""Batched Integrated Gradients vs the per-label, per-step loop, on one machine.

Both compute the same attributions (checked: max |difference| printed); the batched
one packs the (report, step) rows of all reports into chunks of --batch-size
sequences, one forward pass per chunk and one backward pass per label slot
(rg4cli.weights.attribution.integrated_gradients); the reference does one forward/backward
per label and step (integrated_gradients_per_label).
A third timing runs the loop per label with the steps batched (what Captum's IG does
for one target at a time), so the gain of batching labels and reports is visible too.

Prints time per report for each, the speed-up ratios, and reports/s of the batched
version: the number to plan `rg4 weights` over a training set with.

    .venv/bin/python benchmarks/bench_ig.py --threads 1     # tiny labeler (rg4's offline preset)
    .venv/bin/python benchmarks/bench_ig.py --size base --reports 4 --loop-reports 1 --repeats 1
    python benchmarks/bench_ig.py --size base --device cuda --reports 256 --loop-reports 4 --batch-size 512

Measured (2-core shared CPU, x86_64, torch 2.13 CPU, --threads 1, --batch-size 64):
- tiny (best of 3): 2 labels/report 4.4x (0.129 -> 0.029 s/report, 34 reports/s),
  3 labels 4.5x, 1 label 3.1x; max |batched - loop| 1.5e-10. With 2 threads the
  ratio reads 13-45x, but only because the batch-1 loop collapses when the two
  threads compete with other jobs on a loaded machine: not a number to quote.
- bert-base (1 repeat): loop 23.5 s/report, per-label 17.2, batched 13.4 s/report
  (1.8x, 0.07 reports/s). On a CPU a bert-base pass is compute-bound even at
  batch 1, so batching gains little there; on a GPU batch-1 passes are
  launch-bound and batching is what makes IG over a training set feasible.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from rg4cli.model.classifiers import CheXbertModel, tiny_bert_config
from rg4cli.vocab import OBSERVATIONS
from rg4cli.weights.attribution import IGRequest, integrated_gradients, integrated_gradients_per_label
from rg4cli.weights.backends import N_CLASSES

SENTENCES = [
    "The heart is mildly enlarged.",
    "There is a small right pleural effusion.",
    "No pneumothorax is seen.",
    "Patchy opacity at the left base may reflect atelectasis or pneumonia.",
    "A right internal jugular catheter terminates in the mid SVC.",
    "The lungs are otherwise clear.",
    "Mild pulmonary vascular congestion.",
    "No acute osseous abnormality.",
]
# Positive/uncertain labels attributed per report (--labels picks how many of these).
TARGETS = [
    OBSERVATIONS.index("Cardiomegaly") * N_CLASSES + 1,
    OBSERVATIONS.index("Pleural Effusion") * N_CLASSES + 3,
    OBSERVATIONS.index("Edema") * N_CLASSES + 1,
    OBSERVATIONS.index("Atelectasis") * N_CLASSES + 3,
]


def build(size: str) -> tuple[CheXbertModel, int]:
    if size == "base":
        from transformers import BertConfig

        config = BertConfig()  # bert-base-uncased shape: 12 layers, 768 wide, 30522 word pieces
    else:
        config = tiny_bert_config(2000)
    torch.manual_seed(0)
    model = CheXbertModel(config).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, config.vocab_size


def make_requests(
    model: CheXbertModel, vocab: int, n: int, labels: int = 2, tokens_per_word: float = 1.3
) -> list[IGRequest]:
    g = torch.Generator().manual_seed(1)
    emb = model.input_embeddings()
    device = emb.weight.device
    reqs = []
    for i in range(n):
        words = sum(len(SENTENCES[(i + j) % len(SENTENCES)].split()) for j in range(5))
        length = int(words * tokens_per_word) + 2 + (i % 7)  # ~60 word pieces, a little spread
        ids = torch.randint(5, vocab, (length,), generator=g)
        ids[0], ids[-1] = 2, 3  # [CLS] ... [SEP]
        base_ids = ids.clone()
        base_ids[1:-1] = 0  # [PAD], [CLS]/[SEP] kept
        reqs.append(IGRequest(emb(ids.to(device)), emb(base_ids.to(device)), TARGETS[:labels]))
    return reqs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=("tiny", "base"), default="tiny")
    ap.add_argument("--reports", type=int, default=16, help="reports for the batched run")
    ap.add_argument("--loop-reports", type=int, default=4, help="reports for the (slow) per-label loops")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument(
        "--labels", type=int, default=2, choices=range(1, len(TARGETS) + 1), help="positive/uncertain labels per report"
    )
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N] (the GPU plan: run with --size base)")
    ap.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="time each variant this many times, keep the best (a shared machine's noise only ever adds time)",
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, vocab = build(args.size)
    model.to(args.device)

    def sync() -> None:  # CUDA runs asynchronously: wait before reading the clock
        if str(args.device).startswith("cuda"):
            torch.cuda.synchronize()

    def score_fn(e: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        return torch.cat(model(inputs_embeds=e, attention_mask=m)[:13], dim=1)

    reqs = make_requests(model, vocab, args.reports, args.labels)
    loop_reqs = reqs[: args.loop_reports]
    integrated_gradients(score_fn, reqs[:1], steps=4, batch_size=8)  # warm-up

    def per_label_steps_batched() -> None:
        for r in loop_reqs:
            for target in r.targets:
                integrated_gradients(
                    score_fn, [IGRequest(r.embeds, r.baseline, [target])], steps=args.steps, batch_size=args.steps
                )

    t_batched = t_loop = t_label = float("inf")
    for _ in range(args.repeats):  # interleaved, so load changes hit all three alike
        sync()
        t0 = time.perf_counter()
        batched = integrated_gradients(score_fn, reqs, steps=args.steps, batch_size=args.batch_size)
        sync()
        t_batched = min(t_batched, (time.perf_counter() - t0) / len(reqs))
        t0 = time.perf_counter()
        loop = integrated_gradients_per_label(score_fn, loop_reqs, steps=args.steps)
        sync()
        t_loop = min(t_loop, (time.perf_counter() - t0) / len(loop_reqs))
        # per label with the steps batched (one target at a time, as Captum's IG)
        t0 = time.perf_counter()
        per_label_steps_batched()
        sync()
        t_label = min(t_label, (time.perf_counter() - t0) / len(loop_reqs))

    diff = max((a - b).abs().max().item() for a, b in zip(batched, loop))
    scale = max(b.abs().max().item() for b in loop)
    mean_len = sum(r.embeds.shape[0] for r in reqs) / len(reqs)
    where = (
        torch.cuda.get_device_name(args.device)
        if str(args.device).startswith("cuda")
        else f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}"
    )
    print(
        f"machine: {where}, "
        f"model {args.size}, {args.steps} steps, {args.labels} labels/report, "
        f"~{mean_len:.0f} word pieces/report, batch {args.batch_size} sequences, best of {args.repeats}"
    )
    print(f"per-label per-step loop : {t_loop:8.3f} s/report  ({len(loop_reqs)} reports)")
    print(f"per-label, steps batched: {t_label:8.3f} s/report")
    print(f"batched (all rows)      : {t_batched:8.3f} s/report  ({len(reqs)} reports) = {1 / t_batched:.2f} reports/s")
    print(f"speed-up vs loop        : {t_loop / t_batched:.1f}x")
    print(f"speed-up vs per-label   : {t_label / t_batched:.2f}x")
    print(f"max |batched - loop|    : {diff:.2e} (attribution scale {scale:.2e})")


if __name__ == "__main__":
    main()
