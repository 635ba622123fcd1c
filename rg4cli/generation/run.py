"""Core of `rg4 generate`: studies in, reports out, streaming, batched by setting.

- Records stream through: a record waits only until its setting's batch is full (or
  until the oldest waiting record would hold back more than `window` records), so
  memory stays constant on any input size and output order = input order.
- Each batch holds one setting (sn/sw/mn/mw): in ATF every setting gives the LLM the
  same number of tokens; the batch is left-padded for the decoder.
- A study's records in several settings share their frozen-encoder outputs (each image
  and prior report is decoded and encoded once, `_SharedInputs`); a float32 model's
  LoRA adapter is merged into the decoder before generating (`merge_adapter`).
  Both keep the reports (tests/lib/test_generation_shared_inputs.py) and make
  `rg4 generate` faster than a bare `generate` on the same decoder (bench_generate.py).
- `resume`: the batch plan is a function of the input and the options only, so a
  resumed run goes through the same plan: a record already in the output is not written
  again, a batch of such records only runs the encoders (whose batches and cache must stay
  those of an uninterrupted run), and a batch holding any record still to write runs
  whole. The records appended are the bytes an uninterrupted run writes (docs/reliability.md).
- Under `accelerate launch` (several processes) each process generates every k-th
  record (round robin on the input order) into a shard file; after
  `wait_for_everyone()` the main process merges the shards in input order.
"""

from __future__ import annotations

import heapq
import json
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rg4cli.errors import InputError
from rg4cli.records.provenance import drop_annotations_of
from rg4cli.records.streams import RecordReader, RecordWriter, done_ids
from rg4cli.records.study import INPUT_SETTINGS, Study
from rg4cli.text.sections import join_sections, split_sections
from rg4cli.vocab import SECTION_REQUESTS as SECTIONS_CHOICES


@dataclass
class GenerateSummary:
    written: int = 0
    skipped: int = 0
    resumed: int = 0
    per_setting: dict = field(default_factory=lambda: {s: 0 for s in INPUT_SETTINGS})
    seconds: float = 0.0
    new_tokens: int = 0
    input_tokens: int = 0
    processes: int = 1

    def line(self) -> str:
        rate = self.written / self.seconds if self.seconds else 0.0
        parts = ", ".join(f"{k} {v}" for k, v in self.per_setting.items() if v)
        extra = f", skipped {self.skipped}" if self.skipped else ""
        extra += f", {self.resumed} already in the output" if self.resumed else ""
        return (
            f"generated {self.written} report(s) ({parts or 'none'}){extra} in {self.seconds:.1f}s "
            f"({rate:.2f}/s; mean LLM input {self.input_tokens / max(1, self.written):.0f} tokens, "
            f"mean new {self.new_tokens / max(1, self.written):.0f})"
        )


@dataclass
class _Item:
    index: int
    line: int
    record: dict
    study: Study
    setting: str
    result: dict | None = None
    skipped: bool = False
    done: bool = False  # already in the output (--resume): goes through the plan, is not written again


class _Generator:
    """Queues per setting + an ordered output buffer; one model call per batch."""

    def __init__(
        self,
        model,
        reader: RecordReader,
        emit: Callable[[_Item], None],
        *,
        image_root,
        decode,
        batch_size: int,
        sections: str,
        window: int,
        log: Callable[[str], None] | None,
        summary: GenerateSummary,
    ):
        self.model = model
        self.reader = reader
        self.emit = emit
        self.image_root = image_root
        self.decode = decode
        self.batch_size = batch_size
        self.sections = sections
        self.window = max(window, batch_size)
        self.log = log
        self.summary = summary
        # A record's inputs may be reused until `window` newer records have been read.
        self.inputs = _SharedInputs(model, image_root, capacity=2 * self.window)
        self.queues: dict[str, list[_Item]] = {s: [] for s in INPUT_SETTINGS}
        self.waiting: dict[int, _Item] = {}  # read, not yet written (by index)
        self.order: list[int] = []  # indices read, heap of the unwritten
        self._last_log = time.monotonic()

    def add(self, item: _Item) -> None:
        self.waiting[item.index] = item
        heapq.heappush(self.order, item.index)
        if item.skipped:
            self.flush_ready()
            return
        queue = self.queues[item.setting]
        queue.append(item)
        if len(queue) >= self.batch_size:
            self.run(item.setting)
        while len(self.waiting) > self.window:
            oldest = self.waiting[self.order[0]]
            self.run(oldest.setting)

    def finish(self) -> None:
        while self.order:
            oldest = self.waiting[self.order[0]]
            if oldest.result is None and not oldest.skipped:
                self.run(oldest.setting)
            self.flush_ready()

    def finish_before(self, line: int | None) -> None:
        """After a bad input line stopped the run: generate and write the records read before it."""
        for item in self.waiting.values():
            if line is not None and item.line >= line:
                item.skipped = True
        for setting, queue in self.queues.items():
            self.queues[setting] = [it for it in queue if not it.skipped]
        self.finish()

    def flush_ready(self) -> None:
        while self.order:
            item = self.waiting[self.order[0]]
            if item.result is None and not item.skipped:
                return
            heapq.heappop(self.order)
            del self.waiting[item.index]
            if not item.skipped and not item.done:
                self.emit(item)

    def run(self, setting: str) -> None:
        batch, self.queues[setting] = self.queues[setting], []
        ok = []
        for item in batch:
            try:
                self.inputs.load(item.study, source=self.reader.name, line=item.line)
            except InputError as exc:
                item.skipped = True
                try:
                    self.reader.reject(item.line, exc.field, exc.problem)  # raises unless --on-error skip
                except InputError:
                    # Back to the queue, so finish_before() can still write the records before this one.
                    self.queues[setting] = [it for it in batch if not it.skipped] + self.queues[setting]
                    raise
                self.summary.skipped += 1
                continue
            ok.append(item)
        if ok:
            studies = [it.study for it in ok]
            features = self.inputs.features(studies)
            if all(it.done for it in ok):
                for item in ok:
                    item.result = {}
                self.flush_ready()
                return
            asked = None if self.sections == "reference" else self.sections
            outs = self.model.generate(features, self.model.text_batch(studies, sections=asked), self.decode)
            for item, out in zip(ok, outs):
                if item.done:
                    item.result = {}
                    continue
                findings, impression = split_sections(out.text)
                rec = drop_annotations_of(dict(item.record))  # they describe the input's text, not this one
                rec.update(
                    report=join_sections(findings, impression),
                    findings=findings,
                    impression=impression,
                    setting=item.setting,
                    # No timing here: a record is the same bytes in any run (the time is in the summary).
                    gen={"input_tokens": out.input_tokens, "new_tokens": out.new_tokens},
                )
                item.result = rec
                self.summary.per_setting[item.setting] += 1
                self.summary.new_tokens += out.new_tokens
                self.summary.input_tokens += out.input_tokens
        self.flush_ready()
        if self.log is not None and time.monotonic() - self._last_log > 10:
            self._last_log = time.monotonic()
            self.log(f"generate: {self.summary.written} written, {len(self.waiting)} waiting")


class _SharedInputs:
    """Frozen-encoder outputs of the images and prior reports of recent records, by path / text.

    A study's records in its several settings (build-data writes them next to each other)
    share the frontal image, the lateral and the prior report, but each setting is its own
    batch: each input is decoded and encoded once, when the first of them runs, and the
    others reuse it. Least recently used entries go beyond `capacity` images (and as many
    prior reports): the generator never holds more than its window of records.
    """

    def __init__(self, model, image_root, capacity: int):
        self.model = model
        self.image_root = image_root
        self.capacity = capacity
        self.images: OrderedDict[str, torch.Tensor] = OrderedDict()  # path -> patch tokens [P,D']
        self.priors: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()  # text -> (tokens, mask)
        self._pixels: dict[str, object] = {}  # loaded, not yet encoded

    def load(self, study: Study, *, source: str, line: int) -> None:
        """Decode the images of `study` not encoded yet (InputError names the record's field)."""
        from rg4cli.model.encoders import load_image

        for field_name, rel in (("frontal", study.frontal), ("lateral", study.lateral)):
            if rel and rel not in self.images and rel not in self._pixels:
                self._pixels[rel] = load_image(self.image_root, rel, field_name=field_name, source=source, line=line)

    def features(self, studies: list[Study]):
        from rg4cli.model import StudyFeatures

        model = self.model
        if self._pixels:
            tokens = model.encode_image(model.pixel_values(list(self._pixels.values())))
            self.images.update(zip(self._pixels, tokens))
            self._pixels = {}
        uses_prior = model.config.fusion == "atf"  # interleaved: the prior report is prompt text
        if uses_prior:
            missing = list(
                dict.fromkeys(s.prior_report for s in studies if s.prior_report and s.prior_report not in self.priors)
            )
            if missing:
                tokens, mask = model.encode_text(missing)
                self.priors.update(zip(missing, zip(tokens, mask)))
        items = []
        for s in studies:
            item = {"frontal": self.images[s.frontal], "lateral": self.images[s.lateral] if s.lateral else None}
            if uses_prior and s.prior_report:
                item["prior"], item["prior_mask"] = self.priors[s.prior_report]
            items.append(item)
        for s in studies:  # most recently used last
            for key in (s.frontal, s.lateral):
                if key:
                    self.images.move_to_end(key)
            if uses_prior and s.prior_report:
                self.priors.move_to_end(s.prior_report)
        for cache in (self.images, self.priors):
            while len(cache) > self.capacity:
                cache.popitem(last=False)
        return StudyFeatures.stack(items)


def _studies(
    reader: RecordReader, done: set, summary: GenerateSummary, image_root, *, rank: int = 0, world: int = 1
) -> Iterator[_Item]:
    from rg4cli.model.encoders import check_image

    index = -1
    for lineno, rec in reader:
        index += 1
        if index % world != rank:
            continue
        is_done = rec["id"] in done
        summary.resumed += is_done
        try:
            study = Study.from_record(rec, source=reader.name, line=lineno, need_frontal=True)
            # Cheap header check now, so a bad path fails at once with its line; pixels load per batch.
            check_image(image_root, study.frontal, field_name="frontal", source=reader.name, line=lineno)
            if study.lateral:
                check_image(image_root, study.lateral, field_name="lateral", source=reader.name, line=lineno)
        except InputError as exc:
            reader.reject(lineno, exc.field, exc.problem)
            summary.skipped += 1
            yield _Item(index, lineno, rec, None, "", skipped=True)
            continue
        yield _Item(index, lineno, rec, study, study.setting, done=is_done)


def run_generate(
    input_path,
    output_path,
    *,
    model_dir,
    image_root=None,
    decode=None,
    batch_size: int = 8,
    device: str = "auto",
    dtype: str = "auto",
    seed: int = 0,
    resume: bool = False,
    on_error: str = "fail",
    sections: str = "reference",
    trust_remote_code: bool = False,
    window: int | None = None,
    log: Callable[[str], None] | None = None,
    model=None,
) -> GenerateSummary:
    """Generate reports for a JSONL of studies; returns the summary (the CLI logs it)."""
    from rg4cli.model import DecodeOptions, load_model_dir, resolve_device

    if sections not in SECTIONS_CHOICES:
        raise InputError(f"--sections must be one of {', '.join(SECTIONS_CHOICES)}, got {sections!r}")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    if resume and output_path in (None, "-"):
        raise InputError("--resume needs -o FILE (the output to continue)")
    decode = decode or DecodeOptions()
    if decode.num_beams < 1 or decode.max_new_tokens < 1:
        raise InputError("--num-beams and --max-new-tokens must be at least 1")
    state = _process_state()
    world, rank = state.num_processes, state.process_index
    dev = state.device if world > 1 else resolve_device(device)
    reader = RecordReader(input_path, on_error=on_error, log=log)
    if model is None:
        model = load_model_dir(
            model_dir, device=dev, dtype=None if dtype == "auto" else dtype, trust_remote_code=trust_remote_code
        )
        merge_adapter(model)  # our own copy: nothing else sees the merged weights
    model.eval()
    if log is not None and rank == 0:
        cfg = model.config
        log(
            f"generate: model {model_dir} ({cfg.preset}, {cfg.fusion}, stage {cfg.stage}, N={cfg.num_queries}) on "
            f"{model.device} {str(model.dtype).replace('torch.', '')}" + (f", {world} processes" if world > 1 else "")
        )
    torch.manual_seed(seed)
    summary = GenerateSummary(processes=world)
    done = done_ids(output_path) if resume else set()
    start = time.perf_counter()
    window = window or max(8 * batch_size, 64)
    if world == 1:
        with RecordWriter(output_path, append=resume) as writer:

            def emit(item: _Item) -> None:
                writer.write(item.result)
                summary.written += 1

            gen = _Generator(
                model,
                reader,
                emit,
                image_root=image_root,
                decode=decode,
                batch_size=batch_size,
                sections=sections,
                window=window,
                log=log,
                summary=summary,
            )
            try:
                for item in _studies(reader, done, summary, image_root):
                    gen.add(item)
                gen.finish()
            except InputError as exc:
                # A bad record (also one whose image proves truncated only when its batch loads):
                # the records before it are still generated and written.
                gen.finish_before(exc.line)
                raise
    else:
        _run_sharded(
            state,
            model,
            reader,
            done,
            summary,
            output_path,
            resume,
            image_root=image_root,
            decode=decode,
            batch_size=batch_size,
            sections=sections,
            window=window,
            log=log,
        )
    summary.seconds = time.perf_counter() - start
    return summary


def merge_adapter(model) -> bool:
    """Fold a float32 model's LoRA adapter into its decoder weights (W + scale * B A), for
    generation only: the same function without the adapter's extra matmuls and peft's
    per-call Python in every decoding step. Half precision keeps the adapter apart, where
    the merged sum would be rounded to 8 mantissa bits. Returns whether it merged."""
    if not model.has_lora or model.dtype != torch.float32:
        return False
    model.decoder = model.decoder.merge_and_unload()
    model.has_lora = False
    return True


def _process_state():
    from accelerate import PartialState

    return PartialState()


def _run_sharded(state, model, reader, done, summary, output_path, resume, **kw) -> None:
    """Each process writes `(index, record)` lines to its shard; the main process merges in order."""
    from accelerate.utils import broadcast_object_list

    world, rank = state.num_processes, state.process_index
    holder = [tempfile.mkdtemp(prefix="rg4-generate-", dir=_shard_parent(output_path)) if rank == 0 else None]
    broadcast_object_list(holder)
    shard_dir = Path(holder[0])
    shard = shard_dir / f"shard{rank}.jsonl"
    with open(shard, "w", encoding="utf-8") as fh:

        def emit(item: _Item) -> None:
            fh.write(json.dumps([item.index, item.result], ensure_ascii=False) + "\n")
            fh.flush()

        gen = _Generator(
            model,
            reader,
            emit,
            batch_size=kw["batch_size"],
            image_root=kw["image_root"],
            decode=kw["decode"],
            sections=kw["sections"],
            window=kw["window"],
            log=kw["log"],
            summary=summary,
        )
        for item in _studies(reader, done, summary, kw["image_root"], rank=rank, world=world):
            gen.add(item)
        gen.finish()
    from accelerate.utils import gather_object

    counts = gather_object([(summary.per_setting, summary.skipped, summary.new_tokens, summary.input_tokens)])
    state.wait_for_everyone()
    if rank == 0:
        summary.per_setting = {s: sum(c[0][s] for c in counts) for s in INPUT_SETTINGS}
        summary.skipped = sum(c[1] for c in counts)
        summary.new_tokens = sum(c[2] for c in counts)
        summary.input_tokens = sum(c[3] for c in counts)
        files = [open(shard_dir / f"shard{r}.jsonl", encoding="utf-8") for r in range(world)]
        try:
            streams = [(json.loads(line) for line in f) for f in files]
            with RecordWriter(output_path, append=resume) as writer:
                for _, rec in heapq.merge(*streams, key=lambda pair: pair[0]):
                    writer.write(rec)
                    summary.written += 1
        finally:
            for f in files:
                f.close()
        shutil.rmtree(shard_dir, ignore_errors=True)
    state.wait_for_everyone()


def _shard_parent(output_path) -> str | None:
    # Beside the output (shared by all nodes when it is on a shared disk), else the temp dir.
    if output_path in (None, "-"):
        return os.environ.get("RG4_SHARD_DIR")
    parent = Path(output_path).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    return str(parent)
