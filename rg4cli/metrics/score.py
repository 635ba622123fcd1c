"""`rg4 score` core: join hypotheses with references, score, compare two systems.

Everything here takes and returns plain objects; `cli/score.py` only parses
options and prints. The summary is one JSON-able dict whose keys are listed in
`SUMMARY_KEYS_DOC` (the command's --help shows the same list) and do not change
with the options: a metric that was not computed is null, never missing.

Choices that make numbers comparable with papers are explicit options and are
echoed under "config": text preparation (`tokenize`), which text is read
(`text`, `ref_text`), where labels came from (`labels`), the uncertain-label
convention (both are always reported), CIDEr's IDF source (the evaluated set,
pycocoevalcap's default, so every setting's CIDEr uses that setting's IDF).

Annotations are used only for the text they were computed from
(records.provenance): a record's labels or hallucination fields computed on
another text (a reference's labels kept by `rg4 generate`, say) never reach a
metric; such labels are recomputed by the labeler, such hallucination fields are
left out and counted.

Order of work, for speed: the METEOR JVM starts first; as soon as the texts are
read and prepared, METEOR aligns them in its own process while this one labels
the texts and runs BLEU, ROUGE-L and CIDEr, so the wall time is about the longer
of the two rather than their sum (benchmarks/bench_score.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rg4cli.errors import InputError
from rg4cli.metrics import ce_variants, clinical, model_metrics, nlg
from rg4cli.metrics.pairs import Pair, System, build_system, read_pairs, setting_for  # noqa: F401 - public names of rg4 score
from rg4cli.metrics.significance import compare, wilcoxon_test  # noqa: F401  (wilcoxon_test: library name)
from rg4cli.metrics.summary_keys import SUMMARY_KEYS_DOC  # noqa: F401 - as above
from rg4cli.metrics.text_checks import normalize_for_metrics
from rg4cli.records.provenance import UnboundWarning, annotation, status
from rg4cli.records.streams import RefIndex, display_name, index_by_id
from rg4cli.records.study import INPUT_SETTINGS, TEXT_FIELDS
from rg4cli.vocab import CATEGORIES as HALL_CATEGORIES

ON_MISSING_CHOICES: tuple[str, ...] = ("fail", "skip")
LABELER_CHOICES: tuple[str, ...] = ("rules", "chexbert")
INPUT_FIELDS: tuple[str, ...] = ("frontal", "lateral", "prior_report")

PER_REPORT_KEYS: tuple[str, ...] = (
    *nlg.NLG_KEYS,
    *clinical.per_report_keys(),
    *model_metrics.MODEL_PER_REPORT_KEYS,
)


@dataclass
class ScoreSettings:
    """Everything `rg4 score` is told on its command line (names follow the options)."""

    text: str = "auto"
    ref_text: str = "auto"
    tokenize: str = "r2gen"
    labeler: str = "rules"
    labeler_model: str | None = None  # --labeler chexbert: chexbert.pth or an `rg4 train --task labeler` dir
    labeler_bert: str | None = None
    chexbert_text: str = "chexbert"  # model.chexbert_input.CHEXBERT_TEXT
    device: str = "auto"
    batch_size: int = 32
    labels_field: str = "labels"
    relabel: bool = False
    meteor: bool = True
    on_missing: str = "fail"
    on_error: str = "fail"
    # Lower this thread's CPU priority once METEOR aligns, so its JVM (the critical path)
    # wins when both want the same core. For a process that ends with the scoring (the
    # CLI): the thread keeps the lower priority afterwards.
    yield_to_meteor: bool = False
    # Uncertainty (rg4cli.metrics.uncertainty): --bootstrap, --ci, --seed, --trials.
    bootstrap: int = 0
    ci: float = 0.95
    seed: int = 12345
    trials: int = 10000
    # Model-based metrics (metrics.model_metrics): local directories only, never a download.
    bertscore: str | None = None
    bertscore_layers: int | None = None
    semb: bool = False
    radgraph: str | None = None
    radgraph_lowercase: str = "release"

    def check(self) -> None:
        model_metrics.check_settings(self)
        for name, value, choices in (
            ("--text", self.text, TEXT_FIELDS),
            ("--ref-text", self.ref_text, TEXT_FIELDS),
            ("--tokenize", self.tokenize, nlg.TOKENIZE_CHOICES),
            ("--labeler", self.labeler, LABELER_CHOICES),
            ("--on-missing", self.on_missing, ON_MISSING_CHOICES),
        ):
            if value not in choices:
                raise InputError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        self.uncertainty().check()

    def uncertainty(self):
        from rg4cli.metrics.uncertainty import UncertaintySettings

        return UncertaintySettings(self.bootstrap, self.ci, self.seed, self.trials, self.tokenize, self.labeler)


# ---- labels ----------------------------------------------------------------------


class LazyLabeler:
    """`labelers.make_labeler(...)`, built on first use and shared by every side.

    Labels are cached by text: references are labeled once even with --against,
    and repeated texts (templated normal reports) once.
    """

    def __init__(self, config: ScoreSettings, progress: Callable[[str], None] | None = None):
        self.config = config
        self.progress = progress
        self._labeler: Any = None  # a rules or CheXbert labeler, built on first use
        self._cache: dict[str, dict] = {}

    def label(self, texts: list[str], what: str = "text") -> list[dict]:
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            if self.progress is not None:
                self.progress(f"labeling {len(todo):,} distinct {what}(s) with --labeler {self.config.labeler}")
            if self._labeler is None:
                from rg4cli.labelers.backends import make_labeler

                c = self.config
                if c.labeler == "chexbert" and not c.labeler_model:
                    raise InputError(
                        f"labeling {len(todo)} report(s) with --labeler chexbert needs "
                        "--labeler-model (chexbert.pth with --labeler-bert DIR, or an rg4 labeler "
                        "model dir)"
                    )
                self._labeler = make_labeler(
                    backend=c.labeler,
                    checkpoint=c.labeler_model,
                    bert=c.labeler_bert,
                    device=c.device,
                    batch_size=c.batch_size,
                    text_mode=c.chexbert_text,
                )
            self._cache.update(zip(todo, self._labeler.label(todo)))
        return [dict(self._cache[t]) for t in texts]


def collect_labels(
    records: Sequence[dict],
    lines: Sequence[int | None],
    texts: Sequence[str],
    *,
    source: str,
    config: ScoreSettings,
    labeler: LazyLabeler,
    what: str = "text",
    on_unbound: Callable[[str], None] | None = None,
) -> tuple[list[dict], dict[str, int]]:
    """Labels from the records' labels field where computed from the text scored
    (records.provenance; unless relabel), else the labeler's."""
    labels: list[dict | None] = [None] * len(records)
    todo: list[int] = []
    stale = 0
    for i, (rec, line) in enumerate(zip(records, lines)):
        value = None if config.relabel else annotation(rec, config.labels_field, texts[i], on_unbound=on_unbound)
        if value is None:
            stale += not config.relabel and status(rec, config.labels_field, texts[i]) == "stale"
            todo.append(i)
            continue
        problem = clinical.labels_problem(value)
        if problem:
            raise InputError(problem, source=source, line=line, field=config.labels_field)
        labels[i] = value
    if todo:
        for i, lab in zip(todo, labeler.label([texts[i] for i in todo], what)):
            labels[i] = lab
    return labels, {
        "from_field": len(records) - len(todo),
        "labeled": len(todo),
        "stale": stale,
    }


# ---- metrics ---------------------------------------------------------------------


def hall_block(flags: Sequence[dict | None]) -> dict[str, Any] | None:
    """Shares over the hypotheses that carry `hallucination` (as `rg4 hallucination` summarises)."""
    present = [h for h in flags if h is not None]
    if not present:
        return None
    n = len(present)
    return {
        "n": n,
        "rate": sum(bool(h.get("input_agnostic")) for h in present) / n,
        "present": {c: sum(bool(h.get(c)) for h in present) / n for c in HALL_CATEGORIES},
        "unsupported": {c: sum(c in (h.get("unsupported") or ()) for h in present) / n for c in HALL_CATEGORIES},
    }


def _block(n: int, corpus: dict, ce: dict, hall: dict | None) -> dict[str, Any]:
    return {"n": n, **{k: corpus.get(k) for k in nlg.NLG_KEYS}, "ce": ce, "hall": hall}


def prepare_system(sys_: System, config: ScoreSettings, *, start_meteor: bool = True) -> None:
    """Prepare the texts for the scorers and, unless told not to, start METEOR on them now."""
    sys_.prepared = (
        nlg.prepare_texts(sys_.hyp_texts, config.tokenize),
        nlg.prepare_texts(sys_.ref_texts, config.tokenize),
    )
    if start_meteor and config.meteor and sys_.ids:
        sys_.meteor_job = nlg.MeteorStats(*sys_.prepared)


def score_system(
    sys_: System, config: ScoreSettings, *, by_setting: bool = True, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """NLG + CE (+ hall) blocks for overall and each setting; fills sys_.per_report."""
    if sys_.prepared is None:
        prepare_system(sys_, config)
    hyps, refs = sys_.prepared
    groups: dict[str, Sequence[int]] = {}
    if by_setting:
        for s in INPUT_SETTINGS:
            idx = [i for i, x in enumerate(sys_.settings) if x == s]
            if idx:
                groups[s] = idx
    job = sys_.meteor_job
    if job is None and config.meteor and hyps:
        job = nlg.MeteorStats(hyps, refs)
    # CE first: everything that does not need METEOR is done before waiting for it.
    ce = {"overall": ce_variants.ce_block(sys_.hyp_labels, sys_.ref_labels)}
    for s, idx in groups.items():
        ce[s] = ce_variants.ce_block([sys_.hyp_labels[i] for i in idx], [sys_.ref_labels[i] for i in idx])
    per_report_ce = clinical.per_report_scores(sys_.hyp_labels, sys_.ref_labels)
    model_job = model_metrics.start(sys_.hyp_texts, sys_.ref_texts, config, progress)  # beside NLG and METEOR
    sys_.per_observation = {
        unc: clinical.per_observation(sys_.hyp_labels, sys_.ref_labels, unc) for unc in clinical.UNCERTAIN_AS
    }
    scores = nlg.nlg_scores(hyps, refs, groups=groups, meteor=job, progress=progress)
    sys_.per_report = {**scores["overall"].per_report, **per_report_ce, **model_job.result()}
    sys_.sufficient = scores["overall"].sufficient
    blocks = {"overall": _block(len(sys_.ids), scores["overall"].corpus, ce["overall"], hall_block(sys_.hallucination))}
    for s, idx in groups.items():
        blocks[s] = _block(len(idx), scores[s].corpus, ce[s], hall_block([sys_.hallucination[i] for i in idx]))
    blocks["overall"].update(model_metrics.block_values(sys_.per_report, list(range(len(sys_.ids)))))
    for s, idx in groups.items():
        blocks[s].update(model_metrics.block_values(sys_.per_report, idx))
    return blocks


# ---- the whole command -----------------------------------------------------------


@dataclass
class ScoreResult:
    summary: dict[str, Any]
    per_report: list[dict[str, Any]]
    # The scored systems (input, then each --against): `resample.ReportStatistics.of_system(s)`
    # gives intervals and paired tests later without re-scoring (rg4cli.metrics.uncertainty).
    systems: list[System] = field(default_factory=list)


def _prepare(
    path: str | None,
    ref: RefIndex,
    config: ScoreSettings,
    labeler: LazyLabeler,
    log: Callable[[str], None] | None,
    *,
    start_meteor: bool = True,
) -> tuple[System, dict[str, int], dict[str, dict[str, int]], str]:
    pairs, skipped, name = read_pairs(path, ref, on_missing=config.on_missing, on_error=config.on_error, log=log)
    sys_ = build_system(pairs, config, input_name=name, ref_name=ref.name, skipped=skipped, log=log)
    raw_hyp, raw_ref = normalize_for_metrics(sys_, log)  # the texts as written: labels are bound to them
    # METEOR starts aligning before labeling: its JVM works while this process labels and scores.
    prepare_system(sys_, config, start_meteor=start_meteor)
    if config.yield_to_meteor and sys_.meteor_job is not None:
        _yield_cpu()
    kept = {p.id: p for p in pairs}
    kept_pairs = [kept[i] for i in sys_.ids]
    unbound = UnboundWarning(log, "score") if log is not None else None
    sys_.hyp_labels, hyp_src = collect_labels(
        [p.hyp for p in kept_pairs],
        [p.hyp_line for p in kept_pairs],
        raw_hyp,
        source=name,
        config=config,
        labeler=labeler,
        what="hypothesis text",
        on_unbound=unbound,
    )
    sys_.ref_labels, ref_src = collect_labels(
        [p.ref for p in kept_pairs],
        [p.ref_line for p in kept_pairs],
        raw_ref,
        source=ref.name,
        config=config,
        labeler=labeler,
        what="reference text",
        on_unbound=unbound,
    )
    return sys_, skipped, {"hyp": hyp_src, "ref": ref_src}, name


def score_files(
    input_path: str | None,
    ref_path: str,
    config: ScoreSettings,
    *,
    against: str | Sequence[str] | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ScoreResult:
    """Score hypotheses (file or stdin) against --ref; optionally compare with --against
    (one file or several, each against the input).

    `log` gets warnings and notes (skipped ids, empty hypotheses, unbound
    annotations), `progress` one line per stage (labeling, each metric).
    """
    config.check()
    if config.meteor:
        nlg.warm_up_meteor()  # the JVM loads while we read, label and run the Python scorers
    ref = index_by_id(ref_path)
    labeler = LazyLabeler(config, progress)
    sys_, skipped, label_src, _ = _prepare(input_path, ref, config, labeler, log)
    if not sys_.ids:
        raise InputError("no report pairs to score", source=display_name(input_path))
    blocks = score_system(sys_, config, progress=progress)
    summary: dict[str, Any] = {
        "n": len(sys_.ids),
        "empty_hypotheses": sys_.empty,
        "overall": blocks.pop("overall"),
        "by_setting": blocks,
        "per_observation": sys_.per_observation,
        "config": {
            "tokenize": config.tokenize,
            "text": config.text,
            "ref_text": config.ref_text,
            "labeler": config.labeler,
            "labels": label_src,
            "labels_field": config.labels_field,
            "meteor": "meteor-1.5 -l en -norm" if config.meteor else None,
            "cider_idf": "evaluated set (per block)",
            "zero_division": 0,
            "on_missing": config.on_missing,
            **model_metrics.config_block(config),
        },
        "skipped": skipped,
        "against": None,
    }
    others = []
    for path in [against] if isinstance(against, str) else list(against or ()):
        other, block = _score_against(path, sys_, ref, config, labeler, log, progress)
        others.append((block["file"], other, block))
    summary["against"] = others[0][2] if others else None
    # ---- uncertainty (rg4cli.metrics.uncertainty): intervals and paired tests
    from rg4cli.metrics.uncertainty import summary_blocks

    summary["uncertainty"], summary["comparisons"] = summary_blocks(
        summary, sys_, others, config.uncertainty(), progress
    )
    # ----
    rows = []
    for i, rid in enumerate(sys_.ids):
        row: dict[str, Any] = {"id": rid, "setting": sys_.settings[i]}
        for key in PER_REPORT_KEYS:
            row[key] = sys_.per_report[key][i] if key in sys_.per_report else None
        hall = sys_.hallucination[i]
        row["input_agnostic"] = None if hall is None else bool(hall.get("input_agnostic"))
        rows.append(row)
    return ScoreResult(summary, rows, [sys_, *(o for _, o, _ in others)])


def _score_against(
    against: str,
    sys_: System,
    ref: RefIndex,
    config: ScoreSettings,
    labeler: LazyLabeler,
    log: Callable[[str], None] | None,
    progress: Callable[[str], None] | None,
) -> tuple[System, dict[str, Any]]:
    """Another system's reports scored over the ids it shares with the input, and its `against` block."""
    if progress is not None:
        progress(f"--against {display_name(against)}")
    # Its METEOR starts once the ids shared with the input are known (below).
    other, _, _, other_name = _prepare(against, ref, config, labeler, log, start_meteor=False)
    common = set(sys_.ids) & set(other.ids)
    if config.on_missing == "fail" and (len(common) != len(sys_.ids) or len(common) != len(other.ids)):
        only = sorted(set(sys_.ids) ^ set(other.ids))
        raise InputError(
            f"{len(only)} id(s) scored on one side only (first: {', '.join(map(repr, only[:3]))}); "
            "use --on-missing skip to compare the common ids",
            source=other_name,
            field="id",
        )
    keep = [i for i, rid in enumerate(other.ids) if rid in common]
    other = _subset(other, keep)
    other_blocks = score_system(other, config, by_setting=False, progress=progress)
    block = {
        "file": other_name,
        **compare(sys_, other, PER_REPORT_KEYS),
        "empty_hypotheses": other.empty,
        "overall": other_blocks["overall"],
    }
    block = {k: block[k] for k in ("file", "n", "empty_hypotheses", "overall", "tests")}
    return other, block


_YIELDED = False


def _yield_cpu() -> None:
    """nice +10 for the calling thread (Linux: per thread, so METEOR's I/O threads, started
    before, and the JVM keep theirs); once per process."""
    global _YIELDED
    if not _YIELDED:
        _YIELDED = True
        try:
            os.nice(10)
        except OSError:
            pass


def _subset(sys_: System, keep: Iterable[int]) -> System:
    keep = list(keep)
    pick = lambda xs: [xs[i] for i in keep]  # noqa: E731 - one expression, used on five lists below
    empty = sum(1 for t in pick(sys_.hyp_texts) if not t.strip())
    return System(
        pick(sys_.ids),
        pick(sys_.settings),
        pick(sys_.hyp_texts),
        pick(sys_.ref_texts),
        pick(sys_.hyp_labels),
        pick(sys_.ref_labels),
        pick(sys_.hallucination),
        empty=empty,
    )
