"""rg4 score: NLG metrics and clinical efficacy.

Library entry: `score_files(input_path, ref_path, ScoreSettings(...), against=None,
log=None, progress=None) -> ScoreResult(summary, per_report)`; `summary_tables`
renders a summary for a terminal. Text preparation modes: `nlg.TOKENIZE_DOC`.
"""

from rg4cli.metrics.score import SUMMARY_KEYS_DOC, ScoreResult, ScoreSettings, score_files
from rg4cli.metrics.tables import summary_tables

__all__ = ["SUMMARY_KEYS_DOC", "ScoreResult", "ScoreSettings", "score_files", "summary_tables"]
