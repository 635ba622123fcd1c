"""Paper-scale cost on one GPU: a training step and generation throughput, ATF vs interleaved.

Random-initialised components with the paper's shapes (nothing is downloaded):
DINOv2 ViT-B/14 at 518 px (1369 patch tokens, RAD-DINO's shape), BERT-base (CXR-BERT's
shape, prior reports cut to 100 tokens), a 7B Llama (Vicuna-7B v1.5's shape) in bf16
with LoRA r=32/alpha 64 on the default attention projections, N=128 fusion queries.
They are put together by the model core (`rg4cli.model.RG4Model`, paper config), so
the prompt, the fusion and the decoding are the code `rg4 train` / `rg4 generate` run.
Tokenizers are built offline from phantom report text (Vicuna's would split text a
little differently; only the interleaved prior-report text depends on it).

Measured in one run, printed as a table on stdout (and --json FILE):
- training (stage 2: fusion + LoRA, bf16 autocast, AdamW), batch --batch (16) of mw
  studies (every input present, the largest batch) with --target-tokens target tokens:
  seconds per step (median of --steps after one warm-up step), split into the frozen
  encoders and fusion + LLM forward/backward/update, and peak GPU memory; on
  out-of-memory it retries with gradient checkpointing and says so;
- generation per setting (sn, sw, mn, mw): LLM input tokens and studies/s at beam 3 with
  the official penalties (repetition 2.0, length 2.0), exactly --new-tokens new tokens
  per report (min = max, so every system does the same decoding work), batch
  --gen-batch, encoders included (pixels already on the GPU: JPEG decoding is not timed).

    python benchmarks/gpu_paper_scale.py                 # a CUDA GPU with >= 40 GB
    python benchmarks/gpu_paper_scale.py --shrink        # CPU debug run of the same code path

Without a GPU it refuses (exit 2) unless --shrink, which scales every shape down.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time

import torch

SETTINGS = ("sn", "sw", "mn", "mw")

# The paper's components (config shapes of RAD-DINO, CXR-BERT-specialized, Vicuna-7B v1.5).
PAPER = dict(
    image_size=518,
    patch_size=14,
    image_hidden=768,
    image_layers=12,
    image_heads=12,
    image_mlp=3072,
    text_hidden=768,
    text_layers=12,
    text_heads=12,
    text_mlp=3072,
    text_vocab=30522,
    llm_hidden=4096,
    llm_layers=32,
    llm_heads=32,
    llm_mlp=11008,
    llm_vocab=32000,
    num_queries=128,
    fusion_heads=12,
    fusion_mlp=2048,
    lora_r=32,
    lora_alpha=64,
)
# --shrink: the same code path at sizes a CPU runs in seconds.
SHRUNK = dict(
    image_size=112,
    patch_size=14,
    image_hidden=64,
    image_layers=2,
    image_heads=4,
    image_mlp=128,
    text_hidden=64,
    text_layers=2,
    text_heads=4,
    text_mlp=128,
    text_vocab=1000,
    llm_hidden=128,
    llm_layers=2,
    llm_heads=4,
    llm_mlp=256,
    llm_vocab=1000,
    num_queries=32,
    fusion_heads=4,
    fusion_mlp=128,
    lora_r=8,
    lora_alpha=16,
)


def refuse(message: str) -> None:
    print(f"gpu_paper_scale: {message}", file=sys.stderr)
    sys.exit(2)


# ---- phantom inputs --------------------------------------------------------------------------
def phantom_material(n: int, seed: int):
    """Studies that have a lateral and a prior (turned into each setting later) + tokenizer text."""
    from rg4cli.records.study import Study
    from rg4cli.synth.studies import generate_studies

    specs = generate_studies(max(16, n * 3), seed=seed, image_size=64)
    by_id = {s.study_id: s for s in specs}
    studies = []
    for spec in specs:
        prior = by_id.get(spec.prior_study_id) if spec.prior_study_id else None
        if prior is None or not spec.has_lateral:
            continue
        prior_text = " ".join(t for t in (prior.findings, prior.impression) if t)
        studies.append(
            Study(
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
        )
    while len(studies) < n:  # few subjects with priors in a small draw: reuse them
        studies += studies[: n - len(studies)]
    texts = [t for s in specs for t in (s.findings, s.impression, s.indication, s.history) if t]
    return studies[:n], texts


def as_setting(study, setting: str, *, findings: str | None = None):
    from rg4cli.records.study import Study

    return Study(
        id=study.id,
        frontal=study.frontal,
        view=study.view,
        lateral=study.lateral if setting[0] == "m" else None,
        prior_report=study.prior_report if setting[1] == "w" else None,
        indication=study.indication,
        history=study.history,
        findings=findings if findings is not None else study.findings,
        impression=study.impression,
    )


def long_findings(studies, tokenizer, target_tokens: int) -> list[str]:
    """Findings text per study, other studies' sentences appended until the whole target
    ("findings: … impression: …") has about `target_tokens` tokens (MIMIC reports are longer
    than the phantom ones)."""
    from rg4cli.text.sections import join_sections

    pool = [s.findings for s in studies if s.findings]
    out = []
    for i, s in enumerate(studies):
        text, k = s.findings or "", i
        while len(tokenizer(join_sections(text, s.impression), add_special_tokens=False)["input_ids"]) < target_tokens:
            k += 1
            text = (text + " " + pool[k % len(pool)]).strip()
        ids = tokenizer(join_sections(text, s.impression), add_special_tokens=False)["input_ids"]
        out.append(text if len(ids) <= target_tokens + 40 else text[: len(text) * target_tokens // len(ids)])
    return out


# ---- the model -------------------------------------------------------------------------------
def build(fusion: str, shapes: dict, texts: list[str], device: torch.device, dtype: torch.dtype):
    """RG4Model (paper config, stage 2 with LoRA) from random-initialised components."""
    from transformers import (
        BertConfig,
        BertModel,
        BitImageProcessorPil,
        Dinov2Config,
        Dinov2Model,
        LlamaConfig,
        LlamaForCausalLM,
    )

    from rg4cli.model import RG4Model, paper_config
    from rg4cli.model.encoders import quiet_hf
    from rg4cli.model.tokenizers import build_bpe_tokenizer, build_wordpiece_tokenizer

    quiet_hf()
    s = shapes
    llm_tok = build_bpe_tokenizer(texts, vocab_size=s["llm_vocab"])
    text_tok = build_wordpiece_tokenizer(texts, vocab_size=s["text_vocab"])
    torch.manual_seed(0)
    # Built on the device in the run dtype: a 7B Llama initialised on the CPU in fp32 would
    # take ~28 GB of host memory and minutes.
    with torch.device(device):
        image_encoder = Dinov2Model._from_config(
            Dinov2Config(
                hidden_size=s["image_hidden"],
                num_hidden_layers=s["image_layers"],
                num_attention_heads=s["image_heads"],
                mlp_ratio=s["image_mlp"] // s["image_hidden"],
                image_size=s["image_size"],
                patch_size=s["patch_size"],
            ),
            dtype=dtype,
        )
        text_encoder = BertModel._from_config(
            BertConfig(
                vocab_size=max(len(text_tok), s["text_vocab"]),
                hidden_size=s["text_hidden"],
                num_hidden_layers=s["text_layers"],
                num_attention_heads=s["text_heads"],
                intermediate_size=s["text_mlp"],
                max_position_embeddings=512,
            ),
            dtype=dtype,
            add_pooling_layer=False,
        )
        decoder = LlamaForCausalLM._from_config(
            LlamaConfig(
                vocab_size=max(len(llm_tok), s["llm_vocab"]),
                hidden_size=s["llm_hidden"],
                num_hidden_layers=s["llm_layers"],
                num_attention_heads=s["llm_heads"],
                num_key_value_heads=s["llm_heads"],
                intermediate_size=s["llm_mlp"],
                max_position_embeddings=4096,
                tie_word_embeddings=False,
                bos_token_id=llm_tok.bos_token_id,
                eos_token_id=llm_tok.eos_token_id,
                pad_token_id=llm_tok.pad_token_id,
            ),
            dtype=dtype,
        )
    size = s["image_size"]
    processor = BitImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    cfg = paper_config(
        fusion=fusion,
        image_encoder="random",
        text_encoder="random",
        decoder="random",
        tokenizer="random",
        text_tokenizer="random",
        num_queries=s["num_queries"],
        num_heads=s["fusion_heads"],
        mlp_dim=s["fusion_mlp"],
        image_dim=s["image_hidden"],
        text_dim=s["text_hidden"],
        llm_dim=s["llm_hidden"],
        lora_r=s["lora_r"],
        lora_alpha=s["lora_alpha"],
    )
    model = RG4Model(
        cfg,
        image_encoder=image_encoder,
        image_processor=processor,
        text_encoder=text_encoder,
        text_tokenizer=text_tok,
        decoder=decoder,
        tokenizer=llm_tok,
    )
    model.place(device, dtype)
    model.set_stage(2)
    return model


def features(model, studies, pixels: torch.Tensor):
    """Frozen-encoder features of a batch (frontal + lateral pixels given, prior text encoded)."""
    from rg4cli.model import StudyFeatures

    n = len(studies)
    frontal = model.encode_image(pixels[:n])
    lateral = model.encode_image(pixels[n : 2 * n]) if studies[0].lateral else None
    prior = mask = None
    if model.config.fusion == "atf" and studies[0].prior_report:
        prior, mask = model.encode_text([s.prior_report for s in studies])
    return StudyFeatures(frontal, lateral, prior, mask)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_gb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def autocast(device: torch.device, dtype: torch.dtype):
    if device.type == "cuda" and dtype != torch.float32:
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


# ---- measurements ----------------------------------------------------------------------------
def train_step_cost(model, studies, findings, pixels, args, device, dtype) -> dict:
    from rg4cli.training.tlw import lm_loss

    batch_studies = [as_setting(s, "mw", findings=f) for s, f in zip(studies, findings)][: args.batch]
    params = [p for _, p in model.trainable_parameters()]
    optimizer = torch.optim.AdamW(params, lr=3e-4)
    model.train()
    text = model.text_batch(batch_studies, with_targets=True)
    px = pixels[: 2 * len(batch_studies)]
    times, enc_times = [], []
    for step in range(args.steps + 1):
        if step == 1 and device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        sync(device)
        t0 = time.perf_counter()
        with torch.no_grad():
            feats = features(model, batch_studies, px)
        sync(device)
        t1 = time.perf_counter()
        with autocast(device, dtype):
            out = model(feats, text)
            weights = torch.ones(out.labels.shape, device=out.labels.device)
            loss = lm_loss(out.logits.float(), out.labels, weights, "paper", 1.75, shift=False)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        t2 = time.perf_counter()
        if step:  # step 0 warms up kernels and allocator
            times.append(t2 - t0)
            enc_times.append(t1 - t0)
    del optimizer
    return {
        "batch": len(batch_studies),
        "setting": "mw",
        "input_tokens": int(out.input_tokens.max()),
        "target_tokens": int((out.labels != -100).sum(1).max()),
        "seconds_per_step": statistics.median(times),
        "encoder_seconds": statistics.median(enc_times),
        "peak_gb": peak_gb(device),
        "trainable_params": sum(p.numel() for p in params),
        "loss": float(loss.detach()),
    }


def generation_cost(model, studies, pixels, args, device) -> dict:
    from rg4cli.model import DecodeOptions

    options = DecodeOptions(
        num_beams=args.beams,
        max_new_tokens=args.new_tokens,
        min_new_tokens=args.new_tokens,
        repetition_penalty=2.0,
        length_penalty=2.0,
    )
    model.eval()
    out = {}
    for setting in SETTINGS:
        chosen = [as_setting(s, setting) for s in studies[: args.gen_studies]]
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        runs, tokens = [], []
        for _rep in range(2):  # the first pass warms up this setting's shapes
            sync(device)
            t0 = time.perf_counter()
            for i in range(0, len(chosen), args.gen_batch):
                part = chosen[i : i + args.gen_batch]
                px = torch.cat([pixels[i : i + len(part)], pixels[len(chosen) + i : len(chosen) + i + len(part)]])
                with torch.no_grad():
                    feats = features(model, part, px)
                text = model.text_batch(part, sections="both")
                gen = model.generate(feats, text, options)
                tokens += [g.input_tokens for g in gen]
            sync(device)
            runs.append(time.perf_counter() - t0)
        seconds = runs[-1]
        out[setting] = {
            "studies": len(chosen),
            "input_tokens": statistics.mean(tokens),
            "new_tokens": args.new_tokens,
            "seconds": seconds,
            "studies_per_s": len(chosen) / seconds,
            "peak_gb": peak_gb(device),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shrink", action="store_true", help="scale every shape down (CPU debug run of the code path)")
    ap.add_argument("--device", default=None, help="default: cuda (cpu with --shrink)")
    ap.add_argument("--fusions", default="atf,interleaved")
    ap.add_argument("--batch", type=int, default=16, help="training batch (paper: 16)")
    ap.add_argument("--steps", type=int, default=3, help="timed training steps (after one warm-up step)")
    ap.add_argument("--target-tokens", type=int, default=160, help="target report length in LLM tokens")
    ap.add_argument("--grad-checkpointing", action="store_true", help="recompute decoder activations in backward")
    ap.add_argument("--gen-studies", type=int, default=24, help="studies generated per setting")
    ap.add_argument("--gen-batch", type=int, default=8, help="studies per generate batch (rg4 generate's default)")
    ap.add_argument("--beams", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=100, help="new tokens per report (min = max)")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-generate", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    if args.shrink:
        shapes, dtype = SHRUNK, torch.float32
        device = torch.device(args.device or "cpu")
        if device.type == "cpu":
            torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
            args.gen_studies = min(args.gen_studies, 4)
            args.new_tokens = min(args.new_tokens, 12)
            args.batch = min(args.batch, 4)
            args.steps = min(args.steps, 2)
            args.target_tokens = min(args.target_tokens, 60)
    else:
        if not torch.cuda.is_available():
            refuse(
                "needs a CUDA GPU (a 7B decoder in bf16, batch 16: about 40-80 GB); none is visible here. "
                "--shrink runs the same code path at small shapes on the CPU."
            )
        device = torch.device(args.device or "cuda")
        if device.type != "cuda":
            refuse(f"--device {device} is not a GPU; paper shapes are only measured on CUDA (--shrink for a debug run)")
        shapes = PAPER
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    fusions = [f.strip() for f in args.fusions.split(",") if f.strip()]
    for f in fusions:
        if f not in ("atf", "interleaved"):
            refuse(f"--fusions: unknown fusion {f!r} (atf, interleaved)")

    studies, texts = phantom_material(max(args.batch, args.gen_studies), args.seed)
    n_px = 2 * max(args.batch, args.gen_studies)
    # Random pixels in the processor's output range: the encoders' cost does not depend on content.
    gen = torch.Generator().manual_seed(args.seed)
    pixels = torch.randn(n_px, 3, shapes["image_size"], shapes["image_size"], generator=gen).to(device, dtype)

    report = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "shrink": args.shrink,
        "dtype": str(dtype).replace("torch.", ""),
        "shapes": shapes,
        "torch": torch.__version__,
        "results": {},
    }
    print(
        f"gpu_paper_scale: {report['device']}, {report['dtype']}, "
        f"{'SHRUNK debug shapes' if args.shrink else 'paper shapes'}",
        file=sys.stderr,
    )
    for fusion in fusions:
        t0 = time.perf_counter()
        model = build(fusion, shapes, texts, device, dtype)
        if args.grad_checkpointing:
            model.decoder.gradient_checkpointing_enable()
        res = {"build_seconds": time.perf_counter() - t0}
        print(f"  {fusion}: built in {res['build_seconds']:.1f} s", file=sys.stderr)
        if not args.skip_train:
            findings = long_findings(studies[: args.batch], model.tokenizer, args.target_tokens)
            try:
                res["train"] = train_step_cost(model, studies, findings, pixels, args, device, dtype)
                res["train"]["grad_checkpointing"] = args.grad_checkpointing
            except torch.OutOfMemoryError:
                model.zero_grad(set_to_none=True)
                torch.cuda.empty_cache()
                print(
                    f"  {fusion}: out of memory at batch {args.batch}; retrying with gradient checkpointing",
                    file=sys.stderr,
                )
                model.decoder.gradient_checkpointing_enable()
                res["train"] = train_step_cost(model, studies, findings, pixels, args, device, dtype)
                res["train"]["grad_checkpointing"] = True
            print(f"  {fusion}: train step {res['train']['seconds_per_step']:.3f} s", file=sys.stderr)
        if not args.skip_generate:
            res["generate"] = generation_cost(model, studies, pixels, args, device)
        report["results"][fusion] = res
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()

    print_table(report, args)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)


def print_table(report: dict, args) -> None:
    def gb(v):
        return "-" if v is None else f"{v:.1f}"

    print(
        f"# {report['device']} ({report['dtype']}; {'SHRUNK shapes, not the paper' if report['shrink'] else 'paper shapes'})"
    )
    print("training step (stage 2, fusion + LoRA)")
    print(f"{'fusion':<12}{'batch':>6}{'input':>7}{'target':>7}{'s/step':>9}{'enc s':>8}{'peak GB':>9}  grad-ckpt")
    for fusion, res in report["results"].items():
        t = res.get("train")
        if t:
            print(
                f"{fusion:<12}{t['batch']:>6}{t['input_tokens']:>7}{t['target_tokens']:>7}{t['seconds_per_step']:>9.3f}"
                f"{t['encoder_seconds']:>8.3f}{gb(t['peak_gb']):>9}  {'yes' if t['grad_checkpointing'] else 'no'}"
            )
    print(
        f"generation (beam {args.beams}, {args.new_tokens} new tokens, batch {args.gen_batch}): "
        "LLM input tokens / studies per second"
    )
    print(f"{'fusion':<12}" + "".join(f"{s:>16}" for s in SETTINGS))
    for fusion, res in report["results"].items():
        g = res.get("generate")
        if g:
            print(
                f"{fusion:<12}"
                + "".join(f"{g[s]['input_tokens']:>8.0f} {g[s]['studies_per_s']:>7.2f}" for s in SETTINGS)
            )
    if "atf" in report["results"] and "interleaved" in report["results"]:
        a, i = report["results"]["atf"].get("generate"), report["results"]["interleaved"].get("generate")
        if a and i:
            print(
                "interleaved / ATF: input tokens "
                + ", ".join(f"{s} {i[s]['input_tokens'] / a[s]['input_tokens']:.2f}x" for s in SETTINGS)
                + "; ATF speed-up "
                + ", ".join(f"{s} {a[s]['studies_per_s'] / i[s]['studies_per_s']:.2f}x" for s in SETTINGS)
            )


if __name__ == "__main__":
    main()
