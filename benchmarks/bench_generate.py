"""`rg4 generate` vs a bare transformers `generate` on the same decoder and input embeddings.

Tiny preset, stage-2 model (LoRA adapter on the decoder, saved and loaded back as a model
dir, as `rg4 train` writes it), phantom studies from `rg4 synth` in all the settings each
one has (a study with a lateral image and a prior report gives four records), beam 3 with
the official penalties, exactly `--new-tokens` new tokens per report on both sides.

  rg4    `rg4cli.generation.run.run_generate`, the library call `rg4 generate` makes:
         JSONL in, JPEG decoding, frozen encoders, fusion, prompt, generate, JSONL out;
         model loading included (the command loads the model dir itself).
  bare   `decoder.generate(inputs_embeds=..., attention_mask=...)` on the very decoder
         rg4 loaded (base + peft adapter), fed the same left-padded input embeddings in
         the same batches (one setting each); only the generate calls are timed: the
         embeddings are built beforehand, outside the clock.

The two alternate `--repeats` times (so machine load hits both alike); the medians give
studies/s and the ratio rg4 / bare time per study (target <= 1.10). It also counts the reports
that come out the same on both sides.

    .venv/bin/python benchmarks/bench_generate.py [--subjects 12] [--new-tokens 40] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_encoder_cache import make_records


def build_stage2_dir(train_path: Path, out: Path, seed: int) -> Path:
    """A tiny stage-2 model dir (LoRA adapter saved beside the bundled decoder)."""
    from rg4cli.model import build_model, save_model_dir

    records = [json.loads(line) for line in train_path.read_text(encoding="utf-8").splitlines()]
    texts = [t for r in records for t in (r.get("findings"), r.get("impression"), r.get("prior_report")) if t]
    model = build_model("tiny", tokenizer_texts=texts, stage=2, seed=seed)
    # A fresh adapter's B matrices are zero (a no-op); give them values so the adapter counts.
    with torch.no_grad():
        for name, p in model.decoder.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.02)
    return save_model_dir(model, out)


def bare_inputs(model, records: list[dict], image_root: Path, batch_size: int):
    """The batches rg4 generate forms (one setting each, input order within a setting) as
    (input embeddings, attention mask) on the model's decoder."""
    from rg4cli.model import load_image
    from rg4cli.records.study import INPUT_SETTINGS, Study

    studies = [Study.from_record(r) for r in records]
    batches = []
    for setting in INPUT_SETTINGS:
        group = [s for s in studies if s.setting == setting]
        for i in range(0, len(group), batch_size):
            chunk = group[i : i + batch_size]
            front = [load_image(image_root, s.frontal) for s in chunk]
            lat = [load_image(image_root, s.lateral) if s.lateral else None for s in chunk]
            with torch.no_grad():
                feats = model.encode_studies(chunk, front, lat)
                embeds, mask = model._prefix_embeds(
                    model.fuse(feats), model.text_batch(chunk, sections="both").prefixes
                )
            batches.append(([s.id for s in chunk], embeds, mask))
    return batches


def bare_generate(decoder, tokenizer, batches, kwargs) -> tuple[tuple[float, float], dict]:
    ids = {}
    start, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for names, embeds, mask in batches:
            out = decoder.generate(
                inputs_embeds=embeds,
                attention_mask=mask,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.bos_token_id,
                **kwargs,
            )
            for name, row in zip(names, out.tolist()):
                ids[name] = row
    return (time.perf_counter() - start, time.process_time() - cpu), ids


def report_text(tokenizer, ids: list[int]) -> str:
    """What rg4 generate writes as `report` for these new-token ids."""
    from rg4cli.text.sections import join_sections, split_sections

    text = tokenizer.decode([i for i in ids if i != tokenizer.pad_token_id], skip_special_tokens=True).strip()
    return join_sections(*split_sections(text))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--subjects", type=int, default=12, help="phantom subjects (each has 1-5 studies)")
    ap.add_argument("--new-tokens", type=int, default=40, help="new tokens per report (min = max)")
    ap.add_argument("--beams", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from rg4cli.generation.run import run_generate
    from rg4cli.model import DecodeOptions, load_model_dir

    decode = DecodeOptions(num_beams=args.beams, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)
    with tempfile.TemporaryDirectory(prefix="rg4-bench-generate-") as tmp:
        work = Path(tmp)
        root = work / "phantom"
        test_path = make_records(root, args.subjects)
        records = [json.loads(line) for line in test_path.read_text(encoding="utf-8").splitlines()]
        model_dir = build_stage2_dir(test_path, work / "model", args.seed)

        # The bare side: the decoder as rg4 loads it (base + peft adapter), its inputs built once.
        bare_model = load_model_dir(model_dir)
        batches = bare_inputs(bare_model, records, root, args.batch_size)
        n = len(records)
        settings = {}
        for r in records:
            key = ("m" if r.get("lateral") else "s") + ("w" if r.get("prior_report") else "n")
            settings[key] = settings.get(key, 0) + 1
        print(
            f"tiny preset, {n} records ({', '.join(f'{k} {v}' for k, v in sorted(settings.items()))}) from "
            f"{len({r['frontal'] for r in records})} studies, beam {args.beams}, {args.new_tokens} new tokens, "
            f"batch {args.batch_size}, {torch.get_num_threads()} thread(s)",
            flush=True,
        )

        times = {"rg4": [], "bare": []}
        rg4_out = bare_ids = None
        for rep in range(args.repeats):
            out = work / f"gen{rep}.jsonl"
            start, cpu = time.perf_counter(), time.process_time()
            run_generate(
                str(test_path),
                str(out),
                model_dir=model_dir,
                image_root=root,
                decode=decode,
                batch_size=args.batch_size,
                device="cpu",
            )
            times["rg4"].append((time.perf_counter() - start, time.process_time() - cpu))
            rg4_out = {r["id"]: r for r in map(json.loads, out.open(encoding="utf-8"))}
            seconds, bare_ids = bare_generate(bare_model.decoder, bare_model.tokenizer, batches, decode.as_kwargs())
            times["bare"].append(seconds)
            print(
                f"  repeat {rep + 1}: wall (CPU) seconds: rg4 {times['rg4'][-1][0]:.2f} ({times['rg4'][-1][1]:.2f}), "
                f"bare generate {seconds[0]:.2f} ({seconds[1]:.2f})",
                flush=True,
            )
        assert set(rg4_out) == set(bare_ids)
        differ = sum(rg4_out[k]["report"] != report_text(bare_model.tokenizer, ids) for k, ids in bare_ids.items())
        wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
        cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
        print(
            f"rg4 generate  {n / wall['rg4']:7.2f} studies/s wall, {n / cpu['rg4']:7.2f} per CPU second (model "
            f"load, JPEG decoding, encoders, fusion and JSONL included)"
        )
        print(
            f"bare generate {n / wall['bare']:7.2f} studies/s wall, {n / cpu['bare']:7.2f} per CPU second "
            f"(generate calls only)"
        )
        print(f"same reports on both sides: {n - differ}/{n}")
        print(
            f"ratio rg4 / bare time per study: {wall['rg4'] / wall['bare']:.2f}x wall, "
            f"{cpu['rg4'] / cpu['bare']:.2f}x CPU (target <= 1.10; CPU time is the fair one on a shared machine)"
        )


if __name__ == "__main__":
    main()
