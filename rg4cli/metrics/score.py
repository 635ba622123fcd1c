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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from rg4cli.errors import InputError
from rg4cli.metrics import ce_variants, clinical, model_metrics, nlg
from rg4cli.metrics.significance import compare, wilcoxon_test  # noqa: F401  (wilcoxon_test: library name)
from rg4cli.metrics.text_checks import normalize_for_metrics
from rg4cli.records.provenance import UnboundWarning, annotation, status
from rg4cli.records.streams import RecordReader, RefIndex, display_name, index_by_id, join_by_id
from rg4cli.records.study import INPUT_SETTINGS, TEXT_FIELDS, setting_of, text_of
from rg4cli.vocab import CATEGORIES as HALL_CATEGORIES

ON_MISSING_CHOICES: tuple[str, ...] = ("fail", "skip")
LABELER_CHOICES: tuple[str, ...] = ("rules", "chexbert")
INPUT_FIELDS: tuple[str, ...] = ("frontal", "lateral", "prior_report")

SUMMARY_KEYS_DOC = """\
n                      number of scored report pairs
overall                metrics over all pairs (the block below)
by_setting.{sn,sw,mn,mw}
                       the same block per setting (only settings that occur; a
                       pair's setting is the record's `setting` field, else derived
                       from its lateral / prior_report inputs; pairs with neither
                       count only in overall)
  block.n              pairs in the block
  block.bleu_1, bleu_2, bleu_3, bleu_4
                       corpus BLEU-n (pycocoevalcap, "closest" reference length)
  block.meteor         METEOR 1.5 (-l en -norm); null with --no-meteor
  block.rouge_l        ROUGE-L (beta 1.2), mean over reports
  block.cider          CIDEr as pycocoevalcap's Cider computes it (the CIDEr-D form:
                       clipping, length penalty sigma 6, x10), IDF from the
                       block's own pairs
  block.ce.{micro,macro}_{14,5}_{unc_pos,unc_neg}.{precision,recall,f1}
                       clinical efficacy; 14 = all CheXpert observations, 5 =
                       Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural
                       Effusion; unc_pos = uncertain counted positive (LLM-RG4),
                       unc_neg = counted negative (R2Gen); 0/0 = 0
  block.ce.{weighted,samples}_{14,5}_{unc_pos,unc_neg}.{precision,recall,f1}
                       scikit-learn's support-weighted and per-report averages
                       (f1chexbert, LLaVA-Rad print them); 0/0 = 0
  block.ce.accuracy_{14,5}_{unc_pos,unc_neg}
                       share of reports whose binary labels all agree
                       (f1chexbert's accuracy = accuracy_5_unc_pos)
  block.ce.auroc_14_{unc_pos,unc_neg}
                       mean ROC AUC of the binary labels (compute_mlc's
                       AVG_AUCROC); null when a reference column is constant
  block.bertscore      {precision, recall, f1}: BERTScore means (--bertscore DIR;
                       bert-score 0.3.13's arithmetic, no idf, no rescaling)
  block.semb_score     mean cosine of CheXbert [CLS] embeddings (--semb)
  block.radgraph       {simple, partial, complete}: RadGraph F1 means
                       (--radgraph DIR; radgraph 0.1.18's rewards)
  block.hall           null when no hypothesis carries `hallucination`, else
                       {n, rate, present.{pc,pp,view,comm}, unsupported.{...}}:
                       n = hypotheses with the field, rate = share input_agnostic
                       (the paper's hall.), present = share with that content,
                       unsupported = share where the inputs cannot support it
empty_hypotheses       hypotheses whose text field is present but empty or blank:
                       scored as empty text (all metrics 0 for that report), kept
                       in n, as published evaluators do
per_observation.{unc_pos,unc_neg}.<observation>
                       {tp, fp, fn, tn, support, predicted, precision, recall, f1}
                       over all pairs (support = reference positives)
config                 {tokenize, text, ref_text, labeler, labels: {hyp, ref}:
                       {from_field, labeled, stale}, labels_field, meteor,
                       cider_idf, zero_division, on_missing, chexbert_text,
                       model_metrics}; stale = label fields computed from
                       another text, relabelled; model_metrics = {bertscore,
                       bertscore_layers, semb, radgraph, radgraph_lowercase}
                       as given
skipped                {not_in_ref, not_in_input, no_text, hallucination_stale}:
                       ids left out; hallucination_stale = hypotheses whose
                       `hallucination` was computed from another text (not used)
against                null without --against, else (the first --against) {file, n, empty_hypotheses,
                       overall (the other system's block over the paired ids),
                       tests.<metric>}
  tests.<metric>       for bleu_1..4, meteor, rouge_l, cider and
                       ce_f1_{14,5}_{unc_pos,unc_neg}, ce_exact_5_unc_pos and the
                       model metrics' per-report keys when computed:
                       {n, n_nonzero, mean_input, mean_against, mean_diff
                       (input - against), median_diff, w_plus, w_minus, statistic,
                       p_value (two-sided Wilcoxon signed-rank, scipy, zero
                       differences dropped; null when all are zero), higher
                       ("input", "against" or "tie": the side with the larger rank sum)}
uncertainty            null without --bootstrap N, else {method, resamples, ci, seed,
                       approximate, metrics.<path>: {value, low, high, se, signature}}
                       for every number of overall and by_setting (docs/uncertainty.md)
comparisons            null without --against, else one entry per --against: {system,
                       n, trials, resamples, holm_family, metrics.<path>: {a, b, delta
                       (b - a), p_ar (approximate randomization), p_ar_holm, p_boot
                       (paired bootstrap), wilcoxon_p (per-report scores), signature}}"""

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


@dataclass
class Pair:
    id: str
    hyp: dict
    ref: dict
    hyp_line: int | None
    ref_line: int | None


@dataclass
class System:
    """One system's reports, prepared and scored, in pair order."""

    ids: list[str]
    settings: list[str | None]
    hyp_texts: list[str]
    ref_texts: list[str]
    hyp_labels: list[dict] = field(default_factory=list)
    ref_labels: list[dict] = field(default_factory=list)
    hallucination: list[dict | None] = field(default_factory=list)
    per_report: dict[str, list[float]] = field(default_factory=dict)
    empty: int = 0  # hypotheses scored as empty text
    prepared: tuple[list[str], list[str]] | None = None  # (hyps, refs) as the scorers see them
    per_observation: dict[str, dict] = field(default_factory=dict)
    meteor_job: nlg.MeteorStats | None = None  # METEOR aligning in its JVM while Python works
    sufficient: nlg.Sufficient | None = None  # per-report statistics for resampling (score_system)


# ---- reading ---------------------------------------------------------------------


def _numbered(reader: RecordReader, lines: dict[str, int]) -> Iterator[tuple[int, dict]]:
    for lineno, rec in reader:
        lines.setdefault(rec["id"], lineno)
        yield lineno, rec


def read_pairs(
    path: str | None,
    ref: RefIndex,
    *,
    on_missing: str,
    on_error: str = "fail",
    log: Callable[[str], None] | None = None,
) -> tuple[list[Pair], dict[str, int], str]:
    """Hypothesis records joined with references by id, in input order."""
    reader = RecordReader(path, on_error=on_error, log=log)
    lines: dict[str, int] = {}
    joined = join_by_id(_numbered(reader, lines), ref, input_name=reader.name, on_missing=on_missing)
    pairs = [Pair(h["id"], h, r, lines.get(h["id"]), ref.lines.get(h["id"])) for h, r in joined.pairs]
    skipped = {"not_in_ref": len(joined.missing_in_ref), "not_in_input": len(joined.missing_in_input)}
    if log is not None:
        if joined.missing_in_ref:
            log(
                f"skipped {len(joined.missing_in_ref)} id(s) of {reader.name} not in {ref.name} "
                f"(first: {', '.join(map(repr, joined.missing_in_ref[:3]))})"
            )
        if joined.missing_in_input:
            log(
                f"{len(joined.missing_in_input)} id(s) of {ref.name} not in {reader.name} were not scored "
                f"(first: {', '.join(map(repr, joined.missing_in_input[:3]))})"
            )
        if reader.summary():
            log(reader.summary())
    return pairs, skipped, reader.name


def setting_for(pair: Pair, source: str) -> str | None:
    """A `setting` field (hypothesis first), else derived from study inputs, else None."""
    for rec, line in ((pair.hyp, pair.hyp_line), (pair.ref, pair.ref_line)):
        stated = rec.get("setting")
        if stated is not None:
            if stated not in INPUT_SETTINGS:
                raise InputError(
                    f"expected one of {', '.join(INPUT_SETTINGS)}, got {stated!r}",
                    source=source,
                    line=line,
                    field="setting",
                )
            return stated
    for rec in (pair.hyp, pair.ref):
        if any(k in rec for k in INPUT_FIELDS):
            return setting_of(rec)
    return None


def _blank_text(record: dict, which: str) -> bool:
    """True when the field(s) `which` reads are present as strings, all blank (an empty report)."""
    names = {"auto": ("report", "findings", "impression"), "findings+impression": ("findings", "impression")}.get(
        which, (which,)
    )
    values = [record.get(n) for n in names if record.get(n) is not None]
    return bool(values) and all(isinstance(v, str) and not v.strip() for v in values)


def build_system(
    pairs: Sequence[Pair],
    config: ScoreSettings,
    *,
    input_name: str,
    ref_name: str,
    skipped: dict[str, int],
    log: Callable[[str], None] | None = None,
) -> System:
    """Texts, settings and hallucination fields of the pairs.

    A hypothesis whose text field is present but empty is scored as "" and counted
    (System.empty). A pair with no text field is an error (or, with on_error=skip,
    left out and counted in skipped["no_text"]). A `hallucination` field computed
    from another text is not used (counted in skipped["hallucination_stale"]).
    """
    sys_ = System([], [], [], [])
    skipped.setdefault("no_text", 0)
    skipped.setdefault("hallucination_stale", 0)
    for pair in pairs:
        missing = None
        try:  # a text field of the wrong type is skipped like a missing one with on_error=skip
            hyp_text = text_of(pair.hyp, config.text, source=input_name, line=pair.hyp_line)
            ref_text = text_of(pair.ref, config.ref_text, source=ref_name, line=pair.ref_line)
        except InputError as exc:
            hyp_text = ref_text = ""
            missing = exc
        if missing is None and hyp_text is None and _blank_text(pair.hyp, config.text):
            hyp_text = ""
            sys_.empty += 1
        if missing is not None:
            pass
        elif hyp_text is None:
            missing = InputError(
                f"no text to score (--text {config.text})",
                source=input_name,
                line=pair.hyp_line,
                field="report" if config.text == "auto" else config.text,
            )
        elif ref_text is None:
            missing = InputError(
                f"no reference text (--ref-text {config.ref_text})",
                source=ref_name,
                line=pair.ref_line,
                field="findings" if config.ref_text == "auto" else config.ref_text,
            )
        if missing is not None:
            if config.on_error == "fail":
                raise missing
            skipped["no_text"] += 1
            if log is not None and skipped["no_text"] <= 3:
                log(f"skipped: {missing}")
            continue
        hall = pair.hyp.get("hallucination")
        if hall is not None and not (isinstance(hall, dict) and "input_agnostic" in hall):
            raise InputError(
                "expected an object with input_agnostic (as rg4 hallucination writes it)",
                source=input_name,
                line=pair.hyp_line,
                field="hallucination",
            )
        if hall is not None and status(pair.hyp, "hallucination", hyp_text) == "stale":
            hall = None
            skipped["hallucination_stale"] += 1
        sys_.ids.append(pair.id)
        sys_.settings.append(setting_for(pair, input_name))
        sys_.hyp_texts.append(hyp_text)
        sys_.ref_texts.append(ref_text)
        sys_.hallucination.append(hall)
    if log is not None:
        if sys_.empty:
            log(
                f"{input_name}: {sys_.empty} empty hypothes{'i' if sys_.empty == 1 else 'e'}s scored as empty text "
                "(kept in n; summary: empty_hypotheses)"
            )
        if skipped["hallucination_stale"]:
            log(
                f"{input_name}: {skipped['hallucination_stale']} `hallucination` field(s) were computed from another "
                "text and are not used (run rg4 hallucination on these reports)"
            )
    return sys_


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
