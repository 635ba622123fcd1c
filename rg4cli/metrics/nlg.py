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
  call, closed at exit. Its start-up (about 8 s: it loads the paraphrase table)
  overlaps the Python scorers because `MeteorProcess` answers in a background
  thread. Lines sent to it are sanitised (no line breaks, no `|||`): either would
  desynchronise the line protocol and hang the reader for ever;
* per-report scores for every metric (BLEU-n per report is pycocoevalcap's
  sentence-level BLEU from the same call) and corpus scores for any number of
  subsets (settings) from one METEOR alignment pass: the JVM aligns once and returns
  per-segment sufficient statistics; the scores are METEOR's own arithmetic on them
  (`meteor_scores`, what its `EVAL` command computes: summed statistics for a corpus),
  done here so that no round trip to the JVM follows the alignment. `MeteorProcess.evaluate`
  asks the JVM itself, and the tests hold the two equal.

SPICE is not offered: pycocoevalcap's SPICE downloads Stanford CoreNLP at run time.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from rg4cli.errors import Rg4Error
from rg4cli.metrics.meteor_jvm import meteor_process, one_line
from rg4cli.text.cleaning import r2gen_clean, space_before_period

TOKENIZE_CHOICES: tuple[str, ...] = ("r2gen", "cvt2distilgpt2", "ptb", "none")
# Which mode reproduces which published pipeline (shown by `rg4 score --help` and the README).
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
# METEOR 1.5's parameters for `-l en` (task "default"): alpha, beta, gamma, delta, and the weights of
# its four matching stages (exact, stem, synonym, paraphrase). tests/lib checks them against the JVM.
METEOR_PARAMS = (0.85, 0.2, 0.6, 0.75)
METEOR_STAGE_WEIGHTS = (1.0, 0.6, 0.8, 0.6)


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
            ["java", "-cp", str(jar_dir / ptb.STANFORD_CORENLP_3_4_1_JAR), "edu.stanford.nlp.process.PTBTokenizer",
             "-preserveLines", "-lowerCase", tmp],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
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


# ---- METEOR: one JVM per process -------------------------------------------------

_CHUNKS = 4 + 4 * len(METEOR_STAGE_WEIGHTS)  # index of "chunks" in a statistics vector


def _full_match_in_one_chunk(v: Sequence[float]) -> bool:
    """Every test and reference word matched, in one chunk: METEOR then charges no fragmentation,
    and addStats leaves that chunk out of a sum. Total matches summed as MeteorStats(String) reads
    them (per stage: test content, reference content, test function, reference function)."""
    t_total = r_total = 0.0
    for i in range(4, _CHUNKS, 4):
        t_total += v[i]
        r_total += v[i + 1]
        t_total += v[i + 2]
        r_total += v[i + 3]
    return t_total == v[0] and r_total == v[1] and v[_CHUNKS] == 1.0


def _meteor_score(v: Sequence[float]) -> float:
    """METEOR's score of one statistics vector: MeteorScorer.computeMetrics, operation for operation.

    Layout (MeteorStats.toString): test length, reference length, test function words, reference
    function words, then per stage (test content, reference content, test function, reference
    function) matches, then chunks, test word matches, reference word matches.
    """
    alpha, beta, gamma, delta = METEOR_PARAMS
    n = len(METEOR_STAGE_WEIGHTS)
    t_len, r_len, t_fun, r_fun = v[0], v[1], v[2], v[3]
    stage = [v[4 + 4 * i: 8 + 4 * i] for i in range(n)]
    chunks, t_words, r_words = v[_CHUNKS], v[_CHUNKS + 1], v[_CHUNKS + 2]
    t_wlen = delta * (t_len - t_fun) + (1.0 - delta) * t_fun
    r_wlen = delta * (r_len - r_fun) + (1.0 - delta) * r_fun
    t_wm = r_wm = 0.0
    for w, (tc, _, _, _) in zip(METEOR_STAGE_WEIGHTS, stage):
        t_wm += tc * w * delta
    for w, (_, rc, _, _) in zip(METEOR_STAGE_WEIGHTS, stage):
        r_wm += rc * w * delta
    for w, (_, _, tf, _) in zip(METEOR_STAGE_WEIGHTS, stage):
        t_wm += tf * w * (1.0 - delta)
    for w, (_, _, _, rf) in zip(METEOR_STAGE_WEIGHTS, stage):
        r_wm += rf * w * (1.0 - delta)
    # Java's double division: x/0 is inf or NaN, never an exception; NaN scores become 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.float64(t_wm) / np.float64(t_wlen)
        recall = np.float64(r_wm) / np.float64(r_wlen)
        f_mean = 1.0 / ((1.0 - alpha) / precision + alpha / recall)
        if _full_match_in_one_chunk(v):
            frag = np.float64(0.0)
        else:
            frag = np.float64(chunks) / ((t_words + r_words) / 2.0)
        penalty = gamma * np.power(frag, beta)
        score = float(f_mean * (1.0 - penalty))
    return 0.0 if score != score else max(score, 0.0)


def meteor_scores(stats: Sequence[str]) -> tuple[float, list[float]]:
    """(corpus score, per-segment scores) from `MeteorProcess.stats` lines: what METEOR's
    `EVAL` returns (the corpus score is that of the summed statistics), computed here."""
    if not stats:
        return float("nan"), []
    vectors = [[float(x) for x in line.split()] for line in stats]
    total = [0.0] * len(vectors[0])
    for vec in vectors:  # MeteorStats.addStats, segment by segment
        total = [a + b for a, b in zip(total, vec)]
        if _full_match_in_one_chunk(vec):
            total[_CHUNKS] -= 1.0
    return _meteor_score(total), [_meteor_score(vec) for vec in vectors]


class MeteorStats:
    """METEOR statistics computed in the background (the JVM works while Python scores)."""

    def __init__(self, hyps: Sequence[str], refs: Sequence[str | Sequence[str]]):
        self._result: list[str] | None = None
        self._error: BaseException | None = None
        self.finished_at = 0.0  # time.perf_counter() when the last statistic arrived
        self._thread = threading.Thread(target=self._run, args=(list(hyps), _as_refs(refs)), daemon=True)
        self._thread.start()

    def _run(self, hyps: list[str], refs: list[list[str]]) -> None:
        try:
            self._result = meteor_process().stats(hyps, refs)
        except BaseException as exc:
            self._error = exc
        self.finished_at = time.perf_counter()

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> list[str]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


# ---- scores ---------------------------------------------------------------------

@dataclass
class NlgScores:
    """Corpus scores (keys NLG_KEYS; None = not computed) and per-report lists (input order)."""

    corpus: dict[str, float | None]
    per_report: dict[str, list[float]] = field(default_factory=dict)


def _as_refs(refs: Sequence[str | Sequence[str]]) -> list[list[str]]:
    return [[r] if isinstance(r, str) else list(r) for r in refs]


@dataclass
class _Cooked:
    """pycocoevalcap's BLEU and CIDEr scorers with every pair's n-gram counts ("cooked").

    `Bleu.compute_score` and `Cider.compute_score` are exactly: a fresh scorer, `+=`
    each (hypothesis, references) pair, `compute_score()`. Counting is per pair, so a
    subset's scorer is the same lists sliced -- identical numbers (CIDEr's document
    frequencies are recomputed from the subset) without counting n-grams again.
    """

    bleu: object
    cider: object

    @classmethod
    def of(cls, hyps: list[str], refs: list[list[str]]) -> "_Cooked":
        from pycocoevalcap.bleu.bleu_scorer import BleuScorer
        from pycocoevalcap.cider.cider_scorer import CiderScorer

        bleu, cider = BleuScorer(n=4), CiderScorer(n=4, sigma=6.0)
        for hyp, rs in zip(hyps, refs):
            bleu += (hyp, rs)
            cider += (hyp, rs)
        return cls(bleu, cider)

    def subset(self, idx: Sequence[int]) -> "_Cooked":
        from pycocoevalcap.bleu.bleu_scorer import BleuScorer
        from pycocoevalcap.cider.cider_scorer import CiderScorer

        bleu, cider = BleuScorer(n=4), CiderScorer(n=4, sigma=6.0)
        for old, new in ((self.bleu, bleu), (self.cider, cider)):
            new.crefs = [old.crefs[i] for i in idx]
            new.ctest = [old.ctest[i] for i in idx]
        return _Cooked(bleu, cider)

    def scores(self) -> tuple[dict, dict]:
        corpus: dict[str, float | None] = {}
        per: dict[str, list[float]] = {}
        bleu, bleu_each = self.bleu.compute_score(option="closest", verbose=0)
        for n in range(4):
            corpus[f"bleu_{n + 1}"] = float(bleu[n])
            per[f"bleu_{n + 1}"] = [float(x) for x in bleu_each[n]]
        cider, cider_each = self.cider.compute_score()
        corpus["cider"], per["cider"] = float(cider), [float(x) for x in cider_each]
        return corpus, per


def _rouge(hyps: list[str], refs: list[list[str]]) -> tuple[float, list[float]]:
    from pycocoevalcap.rouge.rouge import Rouge

    mean, each = Rouge().compute_score({i: r for i, r in enumerate(refs)}, {i: [h] for i, h in enumerate(hyps)})
    return float(mean), [float(x) for x in each]


def nlg_scores(hyps: Sequence[str], refs: Sequence[str | Sequence[str]], *,
               groups: dict[str, Sequence[int]] | None = None, meteor: bool | MeteorStats = True,
               progress: Callable[[str], None] | None = None) -> dict[str, NlgScores]:
    """NLG scores of prepared texts for the whole set and for each group of indices.

    Returns {"overall": NlgScores(corpus, per_report), group: NlgScores(corpus)}.
    Every group is scored as if pycocoevalcap were called on that subset alone
    (BLEU and CIDEr recomputed, so CIDEr's IDF comes from the subset; METEOR from
    the cached statistics; ROUGE-L is the mean of the per-report scores). An
    empty set or group gives None scores. `meteor` may be a MeteorStats already
    running on these texts (started early so the JVM works meanwhile).
    """
    hyps = list(hyps)
    refs_l = _as_refs(refs)
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
        out["overall"] = NlgScores(corpus, per)
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
        say(f"BLEU, ROUGE-L, CIDEr done ({time.perf_counter() - t0:.1f} s" +
            (f"; {len(subsets)} subset(s))" if subsets else ")"))
    if job is not None:
        if not job.done():
            say("METEOR: waiting for its JVM to finish aligning")
        stats = job.result()
        say(f"METEOR done ({job.finished_at - meteor_process().started_at:.1f} s after its JVM started)")
        score, each = meteor_scores(stats)
        out["overall"].corpus["meteor"] = score
        out["overall"].per_report["meteor"] = each
        for name, idx in subsets.items():
            if idx:
                out[name].corpus["meteor"] = meteor_scores([stats[i] for i in idx])[0]
    for res in out.values():
        res.corpus = {k: res.corpus.get(k) for k in NLG_KEYS}
    return out


def warm_up_meteor() -> None:
    """Start the JVM now so its start-up overlaps other work (no-op if running)."""
    meteor_process()

