"""NLG metrics through pycocoevalcap: BLEU-1..4, METEOR, ROUGE-L, CIDEr.

The scorers are pycocoevalcap's own, called directly on `{key: [text]}` dicts the
way R2Gen's `compute_scores` (and R2GenGPT / LLM-RG4) call them: no PTB tokenizer
unless asked for, CIDEr's IDF from the evaluated set, BLEU with the "closest"
reference length, METEOR 1.5 with `-l en -norm`. What this module adds:

* text preparation named by one word (`prepare_texts`, table in `TOKENIZE_DOC`):
  `r2gen` (the R2Gen-family cleaning, `cleaning.r2gen_clean`), `cvt2distilgpt2` (a
  space before every ".", `cleaning.space_before_period`), `ptb` (pycocoevalcap's
  Stanford PTB tokenizer and punctuation filter) or `none` (the text as given);
* ONE METEOR JVM per process (`meteor_process()`), started lazily, reused by every
  call, closed at exit. Its start-up (seconds: it loads the paraphrase table)
  overlaps the Python scorers because `MeteorProcess` answers in a background
  thread. Lines sent to it are sanitised (no line breaks, no `|||`): either would
  desynchronise the line protocol and hang the reader for ever;
* per-report scores for every metric (BLEU-n per report is pycocoevalcap's
  sentence-level BLEU from the same call) and corpus scores for any number of
  subsets (settings) from one METEOR alignment pass: the JVM aligns once and returns
  per-segment sufficient statistics; the scores are METEOR's own arithmetic on them
  (`rg4cli.metrics.meteor`), so that only one short round trip follows the alignment;
* ROUGE-L and CIDEr with pycocoevalcap's arithmetic but not its speed (a bit-parallel
  LCS; CIDEr vectorised over pairs, its sums still added one term at a time), equal
  to the library's numbers bit for bit (tested).

SPICE is not offered: pycocoevalcap's SPICE downloads Stanford CoreNLP at run time.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rg4cli.errors import Rg4Error
from rg4cli.metrics.meteor import MeteorStats, as_refs, meteor_scores
from rg4cli.metrics.meteor_jvm import meteor_process, one_line
from rg4cli.text.cleaning import r2gen_clean, space_before_period

TOKENIZE_CHOICES: tuple[str, ...] = ("r2gen", "cvt2distilgpt2", "ptb", "none")
# Which mode reproduces which published pipeline (shown by `rg4 score --help`).
TOKENIZE_DOC = """\
mode            reproduces
r2gen           R2Gen / R2GenCMN (clean_report_mimic_cxr) and R2GenGPT /
  (default)     LLM-RG4 (clean_report, ":" kept as a token) on raw text;
                their own pre-tokenised outputs (already cleaned) are left
                as they are, so these score as with `none`
cvt2distilgpt2  CvT2DistilGPT2's COCOCaptionMetrics and the MIMIC-CXR code
                that reuses it (MLRG, SEI, PriorRG, EVOKE, CoGaze): a space
                before every ".", runs of spaces collapsed, nothing else
none            pre-tokenised files of any pipeline: the text exactly as
                given, as pycocoevalcap's scorers called directly see it
ptb             the COCO caption evaluation (pycocoevalcap's PTBTokenizer,
                lowercased, punctuation removed; needs Java)"""
NLG_KEYS: tuple[str, ...] = ("bleu_1", "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider")


# ---- text preparation ----------------------------------------------------------


def prepare_texts(texts: Sequence[str | None], tokenize: str = "r2gen") -> list[str]:
    """Texts as the scorers will see them (tokens joined by spaces)."""
    if tokenize == "r2gen":
        return [r2gen_clean(t or "") for t in texts]
    if tokenize == "cvt2distilgpt2":
        return [space_before_period(t or "") for t in texts]
    if tokenize == "none":
        return [t or "" for t in texts]
    if tokenize == "ptb":
        return ptb_tokenize(texts)
    raise ValueError(f"tokenize must be one of {', '.join(TOKENIZE_CHOICES)}, got {tokenize!r}")


def ptb_tokenize(texts: Sequence[str | None]) -> list[str]:
    """pycocoevalcap's PTBTokenizer (same jar, flags and punctuation filter).

    Run here rather than through `PTBTokenizer.tokenize` because that writes its
    temporary file into the installed package directory (read-only on many
    installs) and silently misaligns captions when a line breaks inside one.
    """
    from pycocoevalcap.tokenizer import ptbtokenizer as ptb

    if not texts:
        return []
    jar_dir = Path(ptb.__file__).resolve().parent
    lines = [one_line(t) for t in texts]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as fh:
        fh.write("\n".join(lines))
        tmp = fh.name
    try:
        proc = subprocess.run(
            [
                "java",
                "-cp",
                str(jar_dir / ptb.STANFORD_CORENLP_3_4_1_JAR),
                "edu.stanford.nlp.process.PTBTokenizer",
                "-preserveLines",
                "-lowerCase",
                tmp,
            ],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise Rg4Error("--tokenize ptb needs Java (`java` is not on PATH)") from exc
    finally:
        os.unlink(tmp)
    if proc.returncode != 0:
        raise Rg4Error(f"PTB tokenizer failed: {proc.stderr.decode(errors='replace').strip()[-300:]}")
    out = proc.stdout.decode("utf-8").split("\n")
    if len(out) < len(lines):
        raise Rg4Error(f"PTB tokenizer returned {len(out)} lines for {len(lines)} texts")
    return [" ".join(w for w in line.rstrip().split(" ") if w not in ptb.PUNCTUATIONS) for line in out[: len(lines)]]


# ---- scores ---------------------------------------------------------------------


@dataclass
class NlgScores:
    """Corpus scores (keys NLG_KEYS; None = not computed) and per-report lists (input order)."""

    corpus: dict[str, float | None]
    per_report: dict[str, list[float]] = field(default_factory=dict)
    sufficient: Sufficient | None = None  # overall only: what resampling needs (`rg4cli.metrics.resample`)


@dataclass
class Sufficient:
    """Per-report statistics the scorers computed, kept for resampling: BleuScorer's per-pair
    counts (`ctest`), CIDEr's cooked pairs, METEOR's per-segment statistics (None without it)."""

    bleu: list
    cider: _CiderTable
    meteor: list[str] | None = None


# ---- BLEU, ROUGE-L, CIDEr: pycocoevalcap's numbers, computed faster ----------------
#
# BLEU is pycocoevalcap's BleuScorer itself. ROUGE-L and CIDEr are pycocoevalcap's
# Rouge and CiderScorer operation for operation, with their slow parts replaced by
# equivalents that give the same bits (tests/lib/test_metrics.py compares them with
# the library on token soups, multi-reference pairs and subsets): the LCS table becomes
# a bit-parallel LCS (an integer either way); CIDEr counts each text's n-grams once for
# all subsets, takes `np.log` once per distinct document frequency instead of once per
# n-gram occurrence, and runs its per-n-gram arithmetic as numpy vector operations,
# which are the same IEEE operations as the library's scalar ones; its sums are added
# one term at a time in the library's order (`_ordered_sums`), and `pow(x, 2)` stays a
# libm pow (it is not always x * x).

ROUGE_BETA = 1.2  # pycocoevalcap's Rouge.beta
CIDER_N, CIDER_SIGMA = 4, 6.0  # pycocoevalcap's Cider(): n-grams up to 4, length penalty sigma


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (pycocoevalcap's `my_lcs`).

    Bit-parallel (Crochemore et al. 2001): bit i of `v` is 1 while a[i] is not yet used by
    the LCS so far; one big-integer step per token of b instead of a row of the len(a) x
    len(b) table in Python.
    """
    positions: dict[str, int] = {}
    for i, tok in enumerate(a):
        positions[tok] = positions.get(tok, 0) | (1 << i)
    full = (1 << len(a)) - 1
    v = full
    for tok in b:
        match = positions.get(tok)
        if match:
            u = v & match
            v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def rouge_l(hyp: str, refs: Sequence[str]) -> float:
    """pycocoevalcap's `Rouge.calc_score` for one hypothesis (tokens split on single spaces)."""
    token_c = hyp.split(" ")
    prec, rec = [], []
    for reference in refs:
        token_r = reference.split(" ")
        lcs = lcs_length(token_r, token_c)
        prec.append(lcs / float(len(token_c)))
        rec.append(lcs / float(len(token_r)))
    prec_max, rec_max = max(prec), max(rec)
    if prec_max != 0 and rec_max != 0:
        return ((1 + ROUGE_BETA**2) * prec_max * rec_max) / float(rec_max + ROUGE_BETA**2 * prec_max)
    return 0.0


def _rouge(hyps: list[str], refs: list[list[str]]) -> tuple[float, list[float]]:
    each = np.array([rouge_l(h, r) for h, r in zip(hyps, refs)])
    return float(np.mean(each)), [float(x) for x in each]


def ngram_counts(text: str, n: int = CIDER_N) -> dict[tuple[str, ...], int]:
    """Counts of the 1..n-grams of a whitespace-split text: pycocoevalcap's `precook`, the same
    dict in the same order (all unigrams in order of first appearance, then bigrams, ...)."""
    words = text.split()
    counts: Counter = Counter()
    for k in range(1, n + 1):
        counts.update(zip(*(words[i:] for i in range(k))))
    return counts


def _ordered_sums(values: np.ndarray, row: np.ndarray, n_rows: int) -> np.ndarray:
    """Per row, the sum of its values added one at a time from 0.0 in array order.

    What `total += x` in a Python loop gives, bit for bit (numpy's own sum adds pairwise,
    which rounds differently): element k of every row is added in one vector step.
    """
    acc = np.zeros(n_rows)
    if not len(values):
        return acc
    by_row = np.argsort(row, kind="stable")
    sorted_rows = row[by_row]
    first = np.searchsorted(sorted_rows, sorted_rows, side="left")
    pos = np.empty(len(row), dtype=np.int64)
    pos[by_row] = np.arange(len(row)) - first  # k: the element's place within its row
    by_pos = np.argsort(pos, kind="stable")
    bounds = np.searchsorted(pos[by_pos], np.arange(int(pos.max()) + 2))
    for k in range(len(bounds) - 1):
        take = by_pos[bounds[k] : bounds[k + 1]]
        acc[row[take]] += values[take]  # one element per row: no repeated index
    return acc


class _CookedText(NamedTuple):
    """One text's n-grams as integer ids, in pycocoevalcap's `precook` order."""

    ids: np.ndarray  # the n-grams
    tf: np.ndarray  # their counts in the text
    order: np.ndarray  # n - 1
    length: int  # CIDEr's "length": the text's bigram count


@dataclass
class _CiderPair:
    """What CIDEr needs of one pair that does not depend on the IDF (so a subset reuses it)."""

    hyp: _CookedText
    refs: list[_CookedText]
    in_refs: list[np.ndarray]  # per reference, the counts of the hypothesis's n-grams in it (0: absent)
    ref_ngrams: np.ndarray  # distinct n-grams of all references (one document for the IDF)


class _CiderTable:
    """pycocoevalcap's CiderScorer (CIDEr with its length penalty, sigma 6) on cooked pairs.

    `scores(idx)` equals `Cider().compute_score` on those pairs alone, bit for bit:
    the same IEEE operations in the same order, vectorised over pairs (`np.log` and
    `pow` are taken per value as the library takes them, through the same functions).
    """

    def __init__(self, hyps: Sequence[str], refs: Sequence[Sequence[str]]):
        vocab: dict[tuple, int] = defaultdict(itertools.count().__next__)  # n-gram -> id, in order of appearance

        def encode(counts: dict) -> _CookedText:
            ids = np.array(list(map(vocab.__getitem__, counts)), dtype=np.int64)
            tf = np.array(list(counts.values()), dtype=np.float64)
            order = np.array(list(map(len, counts)), dtype=np.int64) - 1
            return _CookedText(ids, tf, order, int(tf[order == 1].sum()))

        self.pairs: list[_CiderPair] = []
        for hyp, rs in zip(hyps, refs):
            hc = ngram_counts(hyp)
            ref_counts = [ngram_counts(r) for r in rs]
            cooked = encode(hc)
            cooked_refs = [encode(rc) for rc in ref_counts]
            in_refs = [np.array(list(map(rc.get, hc, itertools.repeat(0))), dtype=np.float64) for rc in ref_counts]
            ref_ngrams = np.unique(np.concatenate([c.ids for c in cooked_refs])) if cooked_refs else cooked.ids[:0]
            self.pairs.append(_CiderPair(cooked, cooked_refs, in_refs, ref_ngrams))
        self.vocab_size = len(vocab)

    def scores(self, idx: Sequence[int] | None = None) -> tuple[float, list[float]]:
        pairs = self.pairs if idx is None else [self.pairs[i] for i in idx]
        n_pairs = len(pairs)
        # IDF from the references of these pairs: log(max(1, df)) per distinct df value, as
        # the library computes it per n-gram (same input, same np.log, same result).
        doc_freq = np.bincount(np.concatenate([p.ref_ngrams for p in pairs]), minlength=self.vocab_size)
        ref_len = np.log(float(n_pairs))
        dfs, where = np.unique(doc_freq, return_inverse=True)
        log_df = np.array([np.log(max(1.0, float(d))) for d in dfs])
        idf = ref_len - log_df[where]

        # Texts: every hypothesis, then every reference of every pair.
        texts = [p.hyp for p in pairs]
        owner = []  # (pair, reference) for each reference text
        for pi, p in enumerate(pairs):
            for ri, r in enumerate(p.refs):
                texts.append(r)
                owner.append((pi, ri))
        lens = np.array([len(t.ids) for t in texts], dtype=np.int64)
        row = np.repeat(np.arange(len(texts)), lens)
        ids = np.concatenate([t.ids for t in texts])
        tf = np.concatenate([t.tf for t in texts])
        order = np.concatenate([t.order for t in texts])
        value = tf * idf[ids]
        square = np.array(list(map(pow, value.tolist(), itertools.repeat(2))))
        norm = np.sqrt(_ordered_sums(square, row * CIDER_N + order, len(texts) * CIDER_N)).reshape(-1, CIDER_N)

        # Similarity of each hypothesis with each of its references: sum over the hypothesis's
        # n-grams, in its order, of min(h, r) * r with r = 0 for n-grams the reference lacks.
        hyp_value = np.split(value[: int(lens[:n_pairs].sum())], np.cumsum(lens[:n_pairs])[:-1])
        sim_vals, sim_rows = [], []
        for k, (pi, ri) in enumerate(owner):
            p = pairs[pi]
            r_value = p.in_refs[ri] * idf[p.hyp.ids]
            sim_vals.append(np.minimum(hyp_value[pi], r_value) * r_value)
            sim_rows.append(k * CIDER_N + p.hyp.order)
        val = _ordered_sums(
            np.concatenate(sim_vals) if sim_vals else np.zeros(0),
            np.concatenate(sim_rows) if sim_rows else np.zeros(0, dtype=np.int64),
            len(owner) * CIDER_N,
        ).reshape(-1, CIDER_N)
        pair_of = np.array([pi for pi, _ in owner], dtype=np.int64)
        slot_of = np.array([ri for _, ri in owner], dtype=np.int64)
        norm_h, norm_r = norm[pair_of], norm[n_pairs:]
        both = (norm_h != 0) & (norm_r != 0)
        val = np.where(both, val / np.where(both, norm_h * norm_r, 1.0), val)
        # The length penalty, one Python float per (pair, reference), as the library writes it.
        deltas = [float(pairs[pi].hyp.length - pairs[pi].refs[ri].length) for pi, ri in owner]
        val = val * np.array([np.e ** (-(d**2) / (2 * CIDER_SIGMA**2)) for d in deltas])[:, None]
        # Summed over a pair's references in their order, from 0.0.
        score = np.zeros((n_pairs, CIDER_N))
        for slot in range(int(slot_of.max()) + 1 if len(owner) else 0):
            at = slot_of == slot
            score[pair_of[at]] += val[at]
        scores = []
        for pi, p in enumerate(pairs):
            score_avg = np.mean(np.array(score[pi]))
            score_avg /= len(p.refs)
            score_avg *= 10.0
            scores.append(score_avg)
        each = np.array(scores)
        return float(np.mean(each)), [float(x) for x in each]


@dataclass
class _Cooked:
    """Every pair's n-gram counts ("cooked"), for BLEU (pycocoevalcap's BleuScorer) and CIDEr.

    Both scorers count per pair, so a subset is the same lists sliced: identical
    numbers to a fresh call on the subset (CIDEr's document frequencies are
    recomputed from it) without counting n-grams again.
    """

    bleu: object
    cider: _CiderTable
    idx: Sequence[int] | None = None  # the pairs of this subset (None: all)

    @classmethod
    def of(cls, hyps: list[str], refs: list[list[str]]) -> _Cooked:
        from pycocoevalcap.bleu.bleu_scorer import BleuScorer

        bleu = BleuScorer(n=4)
        for hyp, rs in zip(hyps, refs):
            bleu += (hyp, rs)
        return cls(bleu, _CiderTable(hyps, refs))

    def subset(self, idx: Sequence[int]) -> _Cooked:
        from pycocoevalcap.bleu.bleu_scorer import BleuScorer

        bleu = BleuScorer(n=4)
        bleu.crefs = [self.bleu.crefs[i] for i in idx]
        bleu.ctest = [self.bleu.ctest[i] for i in idx]
        return _Cooked(bleu, self.cider, list(idx))

    def scores(self) -> tuple[dict, dict]:
        corpus: dict[str, float | None] = {}
        per: dict[str, list[float]] = {}
        bleu, bleu_each = self.bleu.compute_score(option="closest", verbose=0)
        for n in range(4):
            corpus[f"bleu_{n + 1}"] = float(bleu[n])
            per[f"bleu_{n + 1}"] = [float(x) for x in bleu_each[n]]
        corpus["cider"], per["cider"] = self.cider.scores(self.idx)
        return corpus, per


def nlg_scores(
    hyps: Sequence[str],
    refs: Sequence[str | Sequence[str]],
    *,
    groups: dict[str, Sequence[int]] | None = None,
    meteor: bool | MeteorStats = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, NlgScores]:
    """NLG scores of prepared texts for the whole set and for each group of indices.

    Returns {"overall": NlgScores(corpus, per_report), group: NlgScores(corpus)}.
    Every group is scored as if pycocoevalcap were called on that subset alone
    (BLEU and CIDEr recomputed, so CIDEr's IDF comes from the subset; METEOR from
    the cached statistics; ROUGE-L is the mean of the per-report scores). An
    empty set or group gives None scores. `meteor` may be a MeteorStats already
    running on these texts (started early so the JVM works meanwhile).
    """
    hyps = list(hyps)
    refs_l = as_refs(refs)
    if len(hyps) != len(refs_l):
        raise ValueError(f"{len(hyps)} hypotheses but {len(refs_l)} references")
    say = progress or (lambda _msg: None)
    job = meteor if isinstance(meteor, MeteorStats) else MeteorStats(hyps, refs_l) if meteor and hyps else None
    out: dict[str, NlgScores] = {}
    t0 = time.perf_counter()
    if not hyps:
        out["overall"] = NlgScores({k: None for k in NLG_KEYS}, {k: [] for k in NLG_KEYS})
    else:
        say(f"BLEU-1..4, ROUGE-L, CIDEr on {len(hyps):,} pair(s)" + (" (METEOR aligning meanwhile)" if job else ""))
        cooked = _Cooked.of(hyps, refs_l)
        corpus, per = cooked.scores()
        corpus["rouge_l"], per["rouge_l"] = _rouge(hyps, refs_l)
        out["overall"] = NlgScores(corpus, per, Sufficient(cooked.bleu.ctest, cooked.cider))
    subsets = {name: list(idx) for name, idx in (groups or {}).items()}
    for name, idx in subsets.items():
        if not idx:
            out[name] = NlgScores({k: None for k in NLG_KEYS})
            continue
        corpus, _ = cooked.subset(idx).scores()
        # Rouge.compute_score is the plain mean of per-report scores: take the subset's
        # (same numbers, same order, same np.mean) instead of re-running the LCS.
        corpus["rouge_l"] = float(np.mean(np.array([out["overall"].per_report["rouge_l"][i] for i in idx])))
        out[name] = NlgScores(corpus)
    if hyps:
        say(
            f"BLEU, ROUGE-L, CIDEr done ({time.perf_counter() - t0:.1f} s"
            + (f"; {len(subsets)} subset(s))" if subsets else ")")
        )
    if job is not None:
        if not job.done():
            say("METEOR: waiting for its JVM to finish aligning")
        stats = job.result()
        say(f"METEOR done ({job.finished_at - meteor_process().started_at:.1f} s after its JVM started)")
        score, each, by_subset = meteor_scores(stats, meteor_process(), subsets)
        out["overall"].corpus["meteor"] = score
        out["overall"].per_report["meteor"] = each
        if out["overall"].sufficient is not None:
            out["overall"].sufficient.meteor = stats
        for name, value in by_subset.items():
            out[name].corpus["meteor"] = value
    for res in out.values():
        res.corpus = {k: res.corpus.get(k) for k in NLG_KEYS}
    return out


def warm_up_meteor() -> None:
    """Start the JVM now so its start-up overlaps other work (no-op if running)."""
    meteor_process()
