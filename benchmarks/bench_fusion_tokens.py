"""ATF vs interleaved input: LLM input tokens and generate latency per setting (tiny preset).

The paper (Table 4): adaptive token fusion keeps the LLM input at N fusion tokens + prompt
whatever the inputs, while the "typical" interleaved input stacks one block per image and
puts the prior report into the prompt as text (paper: ~60% fewer tokens with ATF when
multi-view and longitudinal inputs are present; Table 4 "N.": 128 vs 502).
This script builds both variants of the tiny model with the same tokenizer and seed,
feeds them the same phantom studies (rg4 synth) turned into each setting, and prints,
measured in this one run, with interleaved/ATF ratios:
- "input": the whole LLM input (BOS, instruction, indication/history, feature tokens);
- "study": the tokens that carry the study's inputs (fusion or image blocks, prior
  report text), the paper's "N." column;
- the median generate time of the batch (same number of new tokens for both).

    .venv/bin/python benchmarks/bench_fusion_tokens.py [--studies 8] [--new-tokens 20] [--num-queries N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from PIL import Image

from rg4cli.model import DecodeOptions, build_model
from rg4cli.records.study import INPUT_SETTINGS, Study
from rg4cli.synth.specs import render_images
from rg4cli.synth.studies import generate_studies


def phantom_studies(n: int, seed: int):
    """(mw Study, frontal PIL, lateral PIL) for studies that have a prior and a lateral."""
    specs = generate_studies(max(8, n * 2), seed=seed, image_size=128)
    by_id = {s.study_id: s for s in specs}
    out = []
    for spec in specs:
        prior = by_id.get(spec.prior_study_id) if spec.prior_study_id else None
        if prior is None or not spec.has_lateral:
            continue
        images = render_images(spec)
        prior_text = " ".join(t for t in (prior.findings, prior.impression) if t)
        study = Study(
            id=spec.study_id,
            frontal="f",
            lateral="l",
            view=spec.view,
            prior_report=prior_text,
            indication=spec.indication,
            history=spec.history,
            findings=spec.findings,
            impression=spec.impression,
        )
        out.append(
            (
                study,
                Image.fromarray(images[spec.frontal_dicom]).convert("RGB"),
                Image.fromarray(images[spec.lateral_dicom]).convert("RGB"),
            )
        )
        if len(out) == n:
            break
    # The tokenizer learns from everything a training set holds: reports and clinical context.
    return out, [t for s in specs for t in (s.findings, s.impression, s.indication, s.history) if t]


def as_setting(study: Study, setting: str) -> Study:
    return Study(
        id=study.id,
        frontal=study.frontal,
        view=study.view,
        lateral=study.lateral if setting[0] == "m" else None,
        prior_report=study.prior_report if setting[1] == "w" else None,
        indication=study.indication,
        history=study.history,
    )


def study_token_count(model, study: Study, segments: list) -> int:
    """Feature-block tokens + prior-report text tokens (interleaved puts the prior in the prompt)."""
    n = model.config.num_queries * sum(1 for seg in segments if isinstance(seg, str))
    if model.config.fusion == "interleaved" and study.prior_report:
        ids = model.prompts.tok(" ".join(study.prior_report.split()), add_special_tokens=False)["input_ids"]
        n += min(len(ids), model.config.prior_max_tokens)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--beams", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--num-queries", type=int, default=None, help="N (tiny default 32; the paper 128)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    items, corpus = phantom_studies(args.studies, args.seed)
    extra = {"num_queries": args.num_queries} if args.num_queries else {}
    models = {
        kind: build_model("tiny", tokenizer_texts=corpus, fusion=kind, seed=args.seed, **extra)
        for kind in ("atf", "interleaved")
    }
    # Same number of new tokens for both, so latency compares the inputs only.
    decode = DecodeOptions(num_beams=args.beams, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)
    n = models["atf"].config.num_queries
    print(
        f"tiny preset, N={n} fusion tokens, {len(items)} phantom studies per setting, beam {args.beams}, "
        f"{args.new_tokens} new tokens, {torch.get_num_threads()} thread(s)"
    )
    print(
        f"{'setting':8} {'input ATF':>9} {'inter':>7} {'ratio':>6} | {'study ATF':>9} {'inter':>7} {'ratio':>6} | "
        f"{'ATF s':>7} {'inter s':>7} {'ratio':>6}"
    )
    for setting in INPUT_SETTINGS:
        studies = [as_setting(s, setting) for s, _, _ in items]
        fronts = [f for _, f, _ in items]
        lats = [l if setting[0] == "m" else None for _, _, l in items]
        tokens, study_tokens, seconds = {}, {}, {kind: [] for kind in models}
        for kind, model in models.items():
            batch = model.text_batch(studies)
            tokens[kind] = statistics.mean(model.input_tokens(batch))
            study_tokens[kind] = statistics.mean(
                study_token_count(model, s, segs) for s, segs in zip(studies, batch.prefixes)
            )
        for _ in range(args.repeats):  # alternate the two so machine load hits both alike
            for kind, model in models.items():
                start = time.perf_counter()
                feats = model.encode_studies(studies, fronts, lats)
                out = model.generate(feats, model.text_batch(studies), decode)
                seconds[kind].append(time.perf_counter() - start)
                assert [o.input_tokens for o in out] == model.input_tokens(model.text_batch(studies))
        t_atf, t_int = statistics.median(seconds["atf"]), statistics.median(seconds["interleaved"])
        a, i = tokens["atf"], tokens["interleaved"]
        sa, si = study_tokens["atf"], study_tokens["interleaved"]
        print(
            f"{setting:8} {a:9.1f} {i:7.1f} {i / a:5.2f}x | {sa:9.1f} {si:7.1f} {si / sa:5.2f}x | "
            f"{t_atf:7.3f} {t_int:7.3f} {t_int / t_atf:5.2f}x"
        )


if __name__ == "__main__":
    main()
