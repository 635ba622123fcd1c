"""`rg4 score`'s model-based metrics: BERTScore, SembScore, RadGraph F1 (all optional, offline).

Each is asked for by an option naming a local model (`--bertscore DIR`, `--semb` with the
CheXbert of `--labeler-model`, `--radgraph DIR` or an annotations file) and never downloads. A block gets
`bertscore` {precision, recall, f1}, `semb_score` and `radgraph` {simple, partial, complete}
(the means over its pairs; null when not asked for); the per-report rows get
`MODEL_PER_REPORT_KEYS`, so `--against` tests them too. Texts are the raw hypothesis and
reference texts (not the NLG cleaning), as the reference packages are called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rg4cli.errors import InputError

MODEL_PER_REPORT_KEYS: tuple[str, ...] = (
    "bertscore_precision",
    "bertscore_recall",
    "bertscore_f1",
    "semb_score",
    "radgraph_simple",
    "radgraph_partial",
    "radgraph_complete",
)
BLOCK_KEYS: tuple[str, ...] = ("bertscore", "semb_score", "radgraph")
_LOADED: dict[tuple, Any] = {}  # models shared by the input and --against systems of one run


def _cached(key: tuple, build: Callable[[], Any]) -> Any:
    if key not in _LOADED:
        _LOADED[key] = build()
    return _LOADED[key]


def check_settings(config) -> None:
    """Option errors before any work: one line each."""
    if config.semb and not config.labeler_model:
        raise InputError("--semb needs the CheXbert model: --labeler-model chexbert.pth --labeler-bert DIR")
    if config.bertscore_layers is not None and not config.bertscore:
        raise InputError("--bertscore-layers needs --bertscore DIR")
    if config.radgraph_lowercase not in ("release", "all"):
        raise InputError(f"--radgraph-lowercase must be release or all, got {config.radgraph_lowercase!r}")
    if config.bertscore:
        from rg4cli.metrics.bertscore import check_directory

        check_directory(config.bertscore)
    if config.radgraph:
        from rg4cli.metrics.radgraph import check_directory as check_radgraph

        check_radgraph(config.radgraph)


class Job:
    """`per_report_scores` in a thread (model forwards release the GIL; NLG and METEOR run meanwhile)."""

    def __init__(self, hyps: list[str], refs: list[str], config, progress: Callable[[str], None] | None):
        import threading

        self._out: dict[str, list[float]] = {}
        self._error: BaseException | None = None
        self._thread = None
        if config.bertscore or config.semb or config.radgraph:
            self._thread = threading.Thread(target=self._run, args=(hyps, refs, config, progress), daemon=True)
            self._thread.start()

    def _run(self, hyps, refs, config, progress) -> None:
        try:
            self._out = per_report_scores(hyps, refs, config, progress)
        except BaseException as exc:  # re-raised in the caller's thread by result()
            self._error = exc

    def result(self) -> dict[str, list[float]]:
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._out


def start(hyps: list[str], refs: list[str], config, progress: Callable[[str], None] | None = None) -> Job:
    return Job(hyps, refs, config, progress)


def per_report_scores(
    hyps: list[str], refs: list[str], config, progress: Callable[[str], None] | None = None
) -> dict[str, list[float]]:
    """The requested metrics for every pair (keys of MODEL_PER_REPORT_KEYS)."""
    from rg4cli.devices import resolve_device

    out: dict[str, list[float]] = {}
    if not hyps:
        return out
    device = str(resolve_device(config.device))
    if config.bertscore:
        from rg4cli.metrics.bertscore import BertScorer

        if progress:
            progress(f"BERTScore ({config.bertscore})")
        scorer = _cached(
            ("bertscore", config.bertscore, config.bertscore_layers, device),
            lambda: BertScorer(config.bertscore, config.bertscore_layers, device),
        )
        scores = scorer.score(hyps, refs)
        out.update(bertscore_precision=scores.precision, bertscore_recall=scores.recall, bertscore_f1=scores.f1)
    if config.semb:
        from rg4cli.metrics.semb import semb_scores
        from rg4cli.model.classifiers import load_classifier

        if progress:
            progress("SembScore (CheXbert embeddings)")
        clf = _cached(
            ("chexbert", config.labeler_model, config.labeler_bert),
            lambda: load_classifier(config.labeler_model, "labeler", config.labeler_bert),
        )
        out["semb_score"] = semb_scores(clf, hyps, refs, config.batch_size, device, config.chexbert_text)
    if config.radgraph:
        from pathlib import Path

        from rg4cli.metrics.radgraph import AnnotationFile, RadGraphAnnotator, rewards

        if progress:
            progress(f"RadGraph ({config.radgraph})")
        if Path(config.radgraph).is_file():  # annotations made elsewhere: read afresh each run
            annotator = AnnotationFile(config.radgraph)
        else:
            annotator = _cached(
                ("radgraph", config.radgraph, device), lambda: RadGraphAnnotator(config.radgraph, device)
            )
        distinct = list(dict.fromkeys([*hyps, *refs]))
        notes = dict(zip(distinct, annotator.annotate(distinct)))
        levels = rewards([notes[h] for h in hyps], [notes[r] for r in refs], config.radgraph_lowercase)
        out.update({f"radgraph_{level}": values for level, values in levels.items()})
    return out


def _mean(values: list[float], idx: list[int]) -> float:
    return sum(values[i] for i in idx) / len(idx)


def block_values(per_report: dict[str, list[float]], idx: list[int]) -> dict[str, Any]:
    """A block's `bertscore`, `semb_score` and `radgraph` over the pairs `idx` (null when not computed)."""
    out: dict[str, Any] = dict.fromkeys(BLOCK_KEYS)
    if not idx:
        return out
    if "bertscore_f1" in per_report:
        out["bertscore"] = {k: _mean(per_report[f"bertscore_{k}"], idx) for k in ("precision", "recall", "f1")}
    if "semb_score" in per_report:
        out["semb_score"] = _mean(per_report["semb_score"], idx)
    if "radgraph_partial" in per_report:
        out["radgraph"] = {k: _mean(per_report[f"radgraph_{k}"], idx) for k in ("simple", "partial", "complete")}
    return out


def summary_line(summary: dict) -> str | None:
    """The overall model metrics as one line for the terminal (None when none was computed)."""
    block = summary.get("overall") or {}
    parts = []
    if block.get("bertscore"):
        parts.append(f"BERTScore F1 {block['bertscore']['f1']:.4f}")
    if block.get("semb_score") is not None:
        parts.append(f"SembScore {block['semb_score']:.4f}")
    if block.get("radgraph"):
        r = block["radgraph"]
        parts.append(f"RadGraph F1 simple {r['simple']:.4f} partial {r['partial']:.4f} complete {r['complete']:.4f}")
    return "overall: " + "; ".join(parts) if parts else None


def config_block(config) -> dict[str, Any]:
    """What the summary's `config` records of these options (and the CheXbert text preparation)."""
    return {
        "chexbert_text": config.chexbert_text,
        "model_metrics": {
            "bertscore": config.bertscore,
            "bertscore_layers": config.bertscore_layers,
            "semb": config.semb,
            "radgraph": config.radgraph,
            "radgraph_lowercase": config.radgraph_lowercase,
        },
    }
