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
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from rg4cli.metrics import clinical, nlg
from rg4cli.errors import InputError, Rg4Error
from rg4cli.records.study import SETTINGS, TEXT_FIELDS, setting_of, text_of
from rg4cli.vocab import CATEGORIES as HALL_CATEGORIES
from rg4cli.records.streams import RecordReader, RefIndex, display_name, index_by_id, join_by_id

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
  block.hall           null when no hypothesis carries `hallucination`, else
                       {n, rate, present.{pc,pp,view,comm}, unsupported.{...}}:
                       n = hypotheses with the field, rate = share input_agnostic
                       (the paper's hall.), present = share with that content,
                       unsupported = share where the inputs cannot support it
per_observation.{unc_pos,unc_neg}.<observation>
                       {tp, fp, fn, tn, support, predicted, precision, recall, f1}
                       over all pairs (support = reference positives)
config                 {tokenize, text, ref_text, labeler, labels: {hyp, ref}:
                       {from_field, labeled}, labels_field, meteor, cider_idf,
                       zero_division, on_missing}
skipped                {not_in_ref, not_in_input, no_text}: ids left out
against                null without --against, else {file, n, overall (the other
                       system's block over the paired ids), tests.<metric>}
  tests.<metric>       for bleu_1..4, meteor, rouge_l, cider and
                       ce_f1_{14,5}_{unc_pos,unc_neg} (per-report scores):
                       {n, n_nonzero, mean_input, mean_against, mean_diff
                       (input - against), median_diff, w_plus, w_minus, statistic,
                       p_value (two-sided Wilcoxon signed-rank, scipy, zero
                       differences dropped; null when all are zero), higher
                       ("input", "against" or "tie": the side with the larger rank sum)}"""

PER_REPORT_KEYS: tuple[str, ...] = (*nlg.NLG_KEYS, *clinical.per_report_keys())


@dataclass
class ScoreConfig:
    text: str = "auto"
    ref_text: str = "auto"
    tokenize: str = "r2gen"
    labeler: str = "rules"
    checkpoint: str | None = None
    bert: str | None = None
    device: str = "auto"
    batch_size: int = 32
    labels_field: str = "labels"
    relabel: bool = False
    meteor: bool = True
    on_missing: str = "fail"
    on_error: str = "fail"

    def check(self) -> None:
        for name, value, choices in (("--text", self.text, TEXT_FIELDS), ("--ref-text", self.ref_text, TEXT_FIELDS),
                                     ("--tokenize", self.tokenize, nlg.TOKENIZE_CHOICES),
                                     ("--labeler", self.labeler, LABELER_CHOICES),
                                     ("--on-missing", self.on_missing, ON_MISSING_CHOICES)):
            if value not in choices:
                raise InputError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


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


# ---- reading ---------------------------------------------------------------------

def _numbered(reader: RecordReader, lines: dict[str, int]) -> Iterator[tuple[int, dict]]:
    for lineno, rec in reader:
        lines.setdefault(rec["id"], lineno)
        yield lineno, rec


def read_pairs(path: str | None, ref: RefIndex, *, on_missing: str, on_error: str = "fail",
               log: Callable[[str], None] | None = None) -> tuple[list[Pair], dict[str, int], str]:
    """Hypothesis records joined with references by id, in input order."""
    reader = RecordReader(path, on_error=on_error, log=log)
    lines: dict[str, int] = {}
    joined = join_by_id(_numbered(reader, lines), ref, input_name=reader.name, on_missing=on_missing)
    pairs = [Pair(h["id"], h, r, lines.get(h["id"]), ref.lines.get(h["id"])) for h, r in joined.pairs]
    skipped = {"not_in_ref": len(joined.missing_in_ref), "not_in_input": len(joined.missing_in_input)}
    if log is not None:
        if joined.missing_in_ref:
            log(f"skipped {len(joined.missing_in_ref)} id(s) of {reader.name} not in {ref.name} "
                f"(first: {', '.join(map(repr, joined.missing_in_ref[:3]))})")
        if joined.missing_in_input:
            log(f"{len(joined.missing_in_input)} id(s) of {ref.name} not in {reader.name} were not scored "
                f"(first: {', '.join(map(repr, joined.missing_in_input[:3]))})")
        if reader.summary():
            log(reader.summary())
    return pairs, skipped, reader.name


def setting_for(pair: Pair, source: str) -> str | None:
    """A `setting` field (hypothesis first), else derived from study inputs, else None."""
    for rec, line in ((pair.hyp, pair.hyp_line), (pair.ref, pair.ref_line)):
        stated = rec.get("setting")
        if stated is not None:
            if stated not in SETTINGS:
                raise InputError(f"expected one of {', '.join(SETTINGS)}, got {stated!r}",
                                 source=source, line=line, field="setting")
            return stated
    for rec in (pair.hyp, pair.ref):
        if any(k in rec for k in INPUT_FIELDS):
            return setting_of(rec)
    return None


def build_system(pairs: Sequence[Pair], config: ScoreConfig, *, input_name: str, ref_name: str,
                 skipped: dict[str, int], log: Callable[[str], None] | None = None) -> System:
    """Texts, settings and hallucination fields of the pairs; a pair without text is
    an error (or, with on_error=skip, left out and counted in skipped["no_text"])."""
    sys_ = System([], [], [], [])
    skipped.setdefault("no_text", 0)
    for pair in pairs:
        hyp_text = text_of(pair.hyp, config.text, source=input_name, line=pair.hyp_line)
        ref_text = text_of(pair.ref, config.ref_text, source=ref_name, line=pair.ref_line)
        missing = None
        if hyp_text is None:
            missing = InputError(f"no text to score (--text {config.text})", source=input_name,
                                 line=pair.hyp_line, field="report" if config.text == "auto" else config.text)
        elif ref_text is None:
            missing = InputError(f"no reference text (--ref-text {config.ref_text})", source=ref_name,
                                 line=pair.ref_line, field="findings" if config.ref_text == "auto" else config.ref_text)
        if missing is not None:
            if config.on_error == "fail":
                raise missing
            skipped["no_text"] += 1
            if log is not None and skipped["no_text"] <= 3:
                log(f"skipped: {missing}")
            continue
        hall = pair.hyp.get("hallucination")
        if hall is not None and not (isinstance(hall, dict) and "input_agnostic" in hall):
            raise InputError("expected an object with input_agnostic (as rg4 hallucination writes it)",
                             source=input_name, line=pair.hyp_line, field="hallucination")
        sys_.ids.append(pair.id)
        sys_.settings.append(setting_for(pair, input_name))
        sys_.hyp_texts.append(hyp_text)
        sys_.ref_texts.append(ref_text)
        sys_.hallucination.append(hall)
    return sys_


# ---- labels ----------------------------------------------------------------------

class LazyLabeler:
    """`labeling.make_labeler(...)`, built on first use and shared by every side.

    Labels are cached by text: references are labelled once even with --against,
    and repeated texts (templated normal reports) once.
    """

    def __init__(self, config: ScoreConfig):
        self.config = config
        self._labeler = None
        self._cache: dict[str, dict] = {}

    def label(self, texts: list[str]) -> list[dict]:
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            if self._labeler is None:
                from rg4cli.labelers.backends import make_labeler

                c = self.config
                if c.labeler == "chexbert" and not c.checkpoint:
                    raise InputError(f"labelling {len(todo)} report(s) with --labeler chexbert needs "
                                     "--labeler-model (chexbert.pth with --labeler-bert DIR, or an rg4 labeler "
                                     "model dir)")
                self._labeler = make_labeler(backend=c.labeler, checkpoint=c.checkpoint, bert=c.bert,
                                             device=c.device, batch_size=c.batch_size)
            self._cache.update(zip(todo, self._labeler.label(todo)))
        return [dict(self._cache[t]) for t in texts]


def collect_labels(records: Sequence[dict], lines: Sequence[int | None], texts: Sequence[str], *,
                   source: str, config: ScoreConfig, labeler: LazyLabeler) -> tuple[list[dict], dict[str, int]]:
    """Labels from the records' labels field where present (unless relabel), else the labeler's."""
    labels: list[dict | None] = [None] * len(records)
    todo: list[int] = []
    for i, (rec, line) in enumerate(zip(records, lines)):
        value = None if config.relabel else rec.get(config.labels_field)
        if value is None:
            todo.append(i)
            continue
        problem = clinical.labels_problem(value)
        if problem:
            raise InputError(problem, source=source, line=line, field=config.labels_field)
        labels[i] = value
    if todo:
        for i, lab in zip(todo, labeler.label([texts[i] for i in todo])):
            labels[i] = lab
    return labels, {"from_field": len(records) - len(todo), "labeled": len(todo)}  # type: ignore[return-value]


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


def score_system(sys_: System, config: ScoreConfig, *, by_setting: bool = True) -> dict[str, Any]:
    """NLG + CE (+ hall) blocks for overall and each setting; fills sys_.per_report."""
    hyps = nlg.prepare_texts(sys_.hyp_texts, config.tokenize)
    refs = nlg.prepare_texts(sys_.ref_texts, config.tokenize)
    groups: dict[str, list[int]] = {}
    if by_setting:
        for s in SETTINGS:
            idx = [i for i, x in enumerate(sys_.settings) if x == s]
            if idx:
                groups[s] = idx
    scores = nlg.nlg_scores(hyps, refs, groups=groups, meteor=config.meteor)
    per = dict(scores["overall"].per_report)
    per.update(clinical.per_report_scores(sys_.hyp_labels, sys_.ref_labels))
    sys_.per_report = per
    n = len(sys_.ids)
    blocks = {"overall": _block(n, scores["overall"].corpus, clinical.ce_scores(sys_.hyp_labels, sys_.ref_labels),
                                hall_block(sys_.hallucination))}
    for s, idx in groups.items():
        blocks[s] = _block(len(idx), scores[s].corpus,
                           clinical.ce_scores([sys_.hyp_labels[i] for i in idx], [sys_.ref_labels[i] for i in idx]),
                           hall_block([sys_.hallucination[i] for i in idx]))
    return blocks


def wilcoxon_test(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Paired two-sided Wilcoxon signed-rank test of a vs b (zero differences dropped)."""
    from scipy.stats import rankdata, wilcoxon

    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    d = x - y
    nz = d[d != 0]
    out: dict[str, Any] = {
        "n": int(len(d)), "n_nonzero": int(len(nz)),
        "mean_input": float(x.mean()) if len(x) else None, "mean_against": float(y.mean()) if len(y) else None,
        "mean_diff": float(d.mean()) if len(d) else None, "median_diff": float(np.median(d)) if len(d) else None,
        "w_plus": 0.0, "w_minus": 0.0, "statistic": None, "p_value": None, "higher": "tie",
    }
    if len(nz) == 0:
        return out
    ranks = rankdata(np.abs(nz))
    w_plus, w_minus = float(ranks[nz > 0].sum()), float(ranks[nz < 0].sum())
    with warnings.catch_warnings():  # scipy's notes on ties / normal approximation are not errors
        warnings.simplefilter("ignore")
        res = wilcoxon(x, y, zero_method="wilcox", alternative="two-sided")
    out.update(w_plus=w_plus, w_minus=w_minus, statistic=float(res.statistic), p_value=float(res.pvalue),
               higher="input" if w_plus > w_minus else "against" if w_minus > w_plus else "tie")
    return out


def compare(a: System, b: System) -> dict[str, Any]:
    """Wilcoxon tests over the ids both systems scored (in a's order)."""
    pos_b = {rid: i for i, rid in enumerate(b.ids)}
    ia = [i for i, rid in enumerate(a.ids) if rid in pos_b]
    ib = [pos_b[a.ids[i]] for i in ia]
    tests = {}
    for key in PER_REPORT_KEYS:
        if key in a.per_report and key in b.per_report:
            tests[key] = wilcoxon_test([a.per_report[key][i] for i in ia], [b.per_report[key][j] for j in ib])
    return {"n": len(ia), "tests": tests}


# ---- the whole command -----------------------------------------------------------

@dataclass
class ScoreResult:
    summary: dict[str, Any]
    per_report: list[dict[str, Any]]


def _prepare(path: str | None, ref: RefIndex, config: ScoreConfig, labeler: LazyLabeler,
             log: Callable[[str], None] | None) -> tuple[System, dict[str, int], dict[str, dict[str, int]], str]:
    pairs, skipped, name = read_pairs(path, ref, on_missing=config.on_missing, on_error=config.on_error, log=log)
    sys_ = build_system(pairs, config, input_name=name, ref_name=ref.name, skipped=skipped, log=log)
    kept = {p.id: p for p in pairs}
    kept_pairs = [kept[i] for i in sys_.ids]
    sys_.hyp_labels, hyp_src = collect_labels([p.hyp for p in kept_pairs], [p.hyp_line for p in kept_pairs],
                                              sys_.hyp_texts, source=name, config=config, labeler=labeler)
    sys_.ref_labels, ref_src = collect_labels([p.ref for p in kept_pairs], [p.ref_line for p in kept_pairs],
                                              sys_.ref_texts, source=ref.name, config=config, labeler=labeler)
    return sys_, skipped, {"hyp": hyp_src, "ref": ref_src}, name


def score_files(input_path: str | None, ref_path: str, config: ScoreConfig, *, against: str | None = None,
                log: Callable[[str], None] | None = None) -> ScoreResult:
    """Score hypotheses (file or stdin) against --ref; optionally compare with --against."""
    config.check()
    if config.meteor:
        nlg.warm_up_meteor()  # the JVM loads while we read, label and run the Python scorers
    ref = index_by_id(ref_path)
    labeler = LazyLabeler(config)
    sys_, skipped, label_src, _ = _prepare(input_path, ref, config, labeler, log)
    if not sys_.ids:
        raise InputError("no report pairs to score", source=display_name(input_path))
    blocks = score_system(sys_, config)
    summary: dict[str, Any] = {
        "n": len(sys_.ids),
        "overall": blocks.pop("overall"),
        "by_setting": blocks,
        "per_observation": {unc: clinical.per_observation(sys_.hyp_labels, sys_.ref_labels, unc)
                            for unc in clinical.UNCERTAIN_AS},
        "config": {
            "tokenize": config.tokenize, "text": config.text, "ref_text": config.ref_text,
            "labeler": config.labeler, "labels": label_src, "labels_field": config.labels_field,
            "meteor": "meteor-1.5 -l en -norm" if config.meteor else None,
            "cider_idf": "evaluated set (per block)", "zero_division": 0, "on_missing": config.on_missing,
        },
        "skipped": skipped,
        "against": None,
    }
    if against is not None:
        other, _, _, other_name = _prepare(against, ref, config, labeler, log)
        common = set(sys_.ids) & set(other.ids)
        if config.on_missing == "fail" and (len(common) != len(sys_.ids) or len(common) != len(other.ids)):
            only = sorted(set(sys_.ids) ^ set(other.ids))
            raise InputError(f"{len(only)} id(s) scored on one side only (first: {', '.join(map(repr, only[:3]))}); "
                             "use --on-missing skip to compare the common ids", source=other_name, field="id")
        keep = [i for i, rid in enumerate(other.ids) if rid in common]
        other = _subset(other, keep)
        other_blocks = score_system(other, config, by_setting=False)
        summary["against"] = {"file": other_name, **compare(sys_, other), "overall": other_blocks["overall"]}
        summary["against"] = {k: summary["against"][k] for k in ("file", "n", "overall", "tests")}
    rows = []
    for i, rid in enumerate(sys_.ids):
        row: dict[str, Any] = {"id": rid, "setting": sys_.settings[i]}
        for key in PER_REPORT_KEYS:
            row[key] = sys_.per_report[key][i] if key in sys_.per_report else None
        hall = sys_.hallucination[i]
        row["input_agnostic"] = None if hall is None else bool(hall.get("input_agnostic"))
        rows.append(row)
    return ScoreResult(summary, rows)


def _subset(sys_: System, keep: Iterable[int]) -> System:
    keep = list(keep)
    pick = lambda xs: [xs[i] for i in keep]  # noqa: E731
    return System(pick(sys_.ids), pick(sys_.settings), pick(sys_.hyp_texts), pick(sys_.ref_texts),
                  pick(sys_.hyp_labels), pick(sys_.ref_labels), pick(sys_.hallucination))

