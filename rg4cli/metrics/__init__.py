"""rg4 score: NLG metrics and clinical efficacy.

Library entry: `score_files(input_path, ref_path, ScoreSettings(...), against=None,
log=None, progress=None) -> ScoreResult(summary, per_report)`; `summary_tables`
renders a summary for a terminal. Text preparation modes: `nlg.TOKENIZE_DOC`.

Intervals and paired tests without re-scoring (docs/uncertainty.md):
`ReportStatistics.of_system(result.systems[i])`, `bootstrap_intervals(stats, resamples,
ci, seed)`, `paired_tests(a, [(name, b), ...], trials, resamples, seed)`.

The names load on first use, so that `rg4cli.metrics.meteor_jvm` can be imported (and
METEOR's JVM started) before numpy and the scorers are.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ReportStatistics": "rg4cli.metrics.resample",
    "bootstrap_intervals": "rg4cli.metrics.uncertainty",
    "paired_tests": "rg4cli.metrics.uncertainty",
    "SUMMARY_KEYS_DOC": "rg4cli.metrics.score",
    "ScoreResult": "rg4cli.metrics.score",
    "ScoreSettings": "rg4cli.metrics.score",
    "score_files": "rg4cli.metrics.score",
    "summary_tables": "rg4cli.metrics.tables",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    # For type checkers only: __getattr__ loads these lazily at run time.
    from rg4cli.metrics.resample import ReportStatistics  # noqa: F401 - as above
    from rg4cli.metrics.score import SUMMARY_KEYS_DOC, ScoreResult, ScoreSettings, score_files  # noqa: F401 - as above
    from rg4cli.metrics.tables import summary_tables  # noqa: F401 - as above
    from rg4cli.metrics.uncertainty import bootstrap_intervals, paired_tests  # noqa: F401 - as above


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
