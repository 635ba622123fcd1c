"""rg4's model metrics against their reference packages' own time (target: ratio <= 1.0).

Same inputs, same weights, one run, alternating rg4 and the reference `--repeats` times
(medians reported):

- BERTScore: `rg4cli.metrics.bertscore.BertScorer(DIR, layers).score` against
  `bert_score.score(..., model_type=DIR, num_layers=layers)` (0.3.13), model load included on
  both sides, on a random BERT (`--hidden`, `--layers`) with a 152-word WordPiece vocabulary and
  `--pairs` report pairs of 5-60 words (a fifth of the texts repeated, as templated reports are);
  also the largest |F1 difference|.
- RadGraph F1 from annotations: `rg4cli.metrics.radgraph.rewards` (the three levels) against
  `radgraph.rewards.compute_reward(..., "all")` on `--annotations` random annotation pairs.
  (Annotating runs the package's own model on both sides.)
- rg4 score with BERTScore and SembScore and CE and NLG (no METEOR) against its slowest single
  metric alone (target <= 1.1).

Needs bert-score 0.3.13 and radgraph 0.1.18 (`pip install "rg4cli[dev]"`).

    python benchmarks/bench_metrics_ref.py [--pairs 300] [--hidden 256] [--layers 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _model_dir(root: Path, hidden: int, layers: int) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    vocab = json.loads((ROOT / "tests/fixtures/chexbert_parity_inputs.json").read_text())["vocab"]
    path = root / "bert"
    path.mkdir()
    (path / "vocab.txt").write_text("".join(w + "\n" for w in vocab))
    (path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64),
        intermediate_size=hidden * 4,
    )
    BertModel(config).save_pretrained(path)
    return path


def _pairs(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    words = json.loads((ROOT / "tests/fixtures/chexbert_parity_inputs.json").read_text())["vocab"][5:80]

    def report():
        return " ".join(rng.choice(words) for _ in range(rng.randint(5, 60)))

    pool = [report() for _ in range(n)]
    hyps = [rng.choice(pool[: n // 5]) if rng.random() < 0.2 else pool[i] for i in range(n)]
    refs = [report() for _ in range(n)]
    return hyps, refs


def _annotations(n: int, seed: int = 1) -> list[tuple[dict, dict]]:
    rng = random.Random(seed)
    words = ["effusion", "Effusion", "pleural", "left", "lung", "opacity", "base", "heart", "normal", "size"]

    def one():
        ents = {
            str(i): {"tokens": rng.choice(words), "label": rng.choice(["ANAT-DP", "OBS-DP", "OBS-U"]), "relations": []}
            for i in range(rng.randint(0, 12))
        }
        for e in ents.values():
            if ents and rng.random() < 0.5:
                e["relations"].append(["located_at", rng.choice(list(ents))])
        return {"entities": ents}

    return [(one(), one()) for _ in range(n)]


def _time(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--annotations", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import bert_score
    import torch
    from radgraph.rewards import compute_reward

    from rg4cli.metrics.bertscore import BertScorer
    from rg4cli.metrics.radgraph import rewards

    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        model = _model_dir(Path(tmp), args.hidden, args.layers)
        hyps, refs = _pairs(args.pairs)
        layers = args.layers - 1
        ours, theirs, diff = [], [], 0.0
        for _ in range(args.repeats):
            t_ref, (_, _, f_ref) = _time(lambda: bert_score.score(hyps, refs, model_type=str(model), num_layers=layers))
            t_rg4, got = _time(lambda: BertScorer(model, layers).score(hyps, refs))
            theirs.append(t_ref)
            ours.append(t_rg4)
            diff = max(diff, max(abs(a - b) for a, b in zip(got.f1, f_ref.tolist())))
        bs = (statistics.median(ours), statistics.median(theirs))
        print(
            f"BERTScore  {args.pairs} pairs, BERT {args.hidden}x{args.layers} (layer {layers}): "
            f"rg4 {bs[0]:.2f}s  bert-score 0.3.13 {bs[1]:.2f}s  ratio {bs[0] / bs[1]:.2f} (target <= 1.0); "
            f"max |F1 diff| {diff:.1e}"
        )
        pairs = _annotations(args.annotations)
        hyp_a, ref_a = [p[0] for p in pairs], [p[1] for p in pairs]
        ours, theirs = [], []
        for _ in range(args.repeats):
            t_ref, want = _time(lambda: [compute_reward(h, r, "all") for h, r in pairs])
            t_rg4, got = _time(lambda: rewards(hyp_a, ref_a))
            theirs.append(t_ref)
            ours.append(t_rg4)
            assert [tuple(x) for x in zip(got["simple"], got["partial"], got["complete"])] == [tuple(w) for w in want]
        rg = (statistics.median(ours), statistics.median(theirs))
        print(
            f"RadGraph   {args.annotations} annotation pairs, 3 levels: rg4 {rg[0]:.3f}s  radgraph 0.1.18 "
            f"{rg[1]:.3f}s  ratio {rg[0] / rg[1]:.2f} (target <= 1.0); values identical"
        )
        _whole_score(Path(tmp), model, layers, hyps, refs, args.repeats)


def _whole_score(root: Path, model: Path, layers: int, hyps, refs, repeats: int) -> None:
    """rg4 score with every metric it can run here against its slowest single metric alone."""
    import torch
    from safetensors.torch import load_file
    from transformers import BertConfig

    from rg4cli.metrics import score as scoring
    from rg4cli.metrics.bertscore import BertScorer
    from rg4cli.metrics.model_metrics import _LOADED
    from rg4cli.metrics.semb import semb_scores
    from rg4cli.model.classifiers import load_classifier

    inputs = json.loads((ROOT / "tests/fixtures/chexbert_parity_inputs.json").read_text())
    bert = root / "chexbert_bert"
    bert.mkdir()
    (bert / "vocab.txt").write_text("".join(w + "\n" for w in inputs["vocab"]))
    BertConfig(**inputs["bert_config"]).save_pretrained(bert)
    (bert / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    torch.save(
        {"model_state_dict": load_file(str(ROOT / "tests/fixtures/chexbert_parity_tiny.safetensors"))}, root / "c.pth"
    )
    (root / "h.jsonl").write_text("".join(json.dumps({"id": str(i), "report": h}) + "\n" for i, h in enumerate(hyps)))
    (root / "r.jsonl").write_text("".join(json.dumps({"id": str(i), "report": r}) + "\n" for i, r in enumerate(refs)))
    config = scoring.ScoreSettings(
        meteor=False,
        checkpoint=str(root / "c.pth"),
        bert=str(bert),
        bertscore=str(model),
        bertscore_layers=layers,
        semb=True,
    )
    whole, single = [], []
    for _ in range(repeats):
        _LOADED.clear()
        t_whole, _ = _time(lambda: scoring.score_files(str(root / "h.jsonl"), str(root / "r.jsonl"), config))
        t_bs, _ = _time(lambda: BertScorer(model, layers).score(hyps, refs))
        t_semb, _ = _time(lambda: semb_scores(load_classifier(root / "c.pth", "labeler", bert), hyps, refs))
        whole.append(t_whole)
        single.append(max(t_bs, t_semb))
    w, s = statistics.median(whole), statistics.median(single)
    print(
        f"rg4 score  BERTScore + SembScore + CE (rules) + BLEU/ROUGE-L/CIDEr: {w:.2f}s; slowest single metric "
        f"{s:.2f}s; ratio {w / s:.2f} (target <= 1.1)"
    )


if __name__ == "__main__":
    main()
