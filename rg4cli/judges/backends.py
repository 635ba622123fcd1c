"""Input-agnostic content in reports, judged against each study's inputs.

The paper's measure (LLM-RG4, Table 1 and the *hall.* columns): a report carries
content that its inputs cannot support. Four categories (Nguyen et al. 2023):

- ``pc``   prior comparison: "compared to the prior", "unchanged", "again seen", "interval", "new"...
- ``pp``   prior procedure: "status post", "post-operative", "since the placement of", "after CABG"...
- ``view`` which views/projections were taken, or their quality: "PA and lateral views",
           "single portable AP view", "on the lateral view", "lateral view limited by"...
- ``comm`` communication of results: "discussed with Dr. ___", "notified", "paged", "by telephone"...

The verdict (`verdict`) is setting-aware; see `VERDICT_RULE` (the text of the man page).
Two judges share one output shape (`make_judge`): the rules judge (judges.rules; phrase tables in
`data/hallucination_phrases.json`, with exclusions such as "no prior studies") and
DiscBERT (BERT + four binary heads, `classifiers.DiscBertModel`).

Record field written by `Judge.judge` (one dict per text):

    {"pc": bool, "pp": bool, "view": bool, "comm": bool,   # content of that category present
     "views": [...],            # views the text names: lateral, frontal, pa, ap, two_views, single_view, other
     "unsupported": [...],      # categories this study's inputs cannot support (the reason for the verdict)
     "input_agnostic": bool,    # the verdict: unsupported is not empty
     "setting": "sn",           # the setting judged against
     "backend": "rules",
     "sentences": [{"start": int, "end": int,          # character span in the judged text
                    "categories": [...],              # categories found in the sentence
                    "unsupported": [...],             # those the inputs cannot support
                    "phrases": [...]}]}               # matched words (rules; empty for DiscBERT)
    # DiscBERT adds "scores": {pc, pp, view, comm: probability}.

Only sentences with a finding are listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rg4cli.errors import InputError
from rg4cli.judges.discbert import DiscBertJudge
from rg4cli.judges.phrases import PHRASES_FILE, Hit, load_phrases
from rg4cli.judges.rules import RulesJudge
from rg4cli.judges.summary import format_summary, summarize
from rg4cli.vocab import CATEGORIES

__all__ = [
    "BACKENDS",
    "CATEGORIES",
    "PHRASES_FILE",
    "DiscBertJudge",
    "Hit",
    "RulesJudge",
    "format_summary",
    "load_phrases",
    "make_judge",
    "summarize",
]

BACKENDS: tuple[str, ...] = ("rules", "discbert", "openai", "hf")


def make_judge(
    backend: str = "rules",
    model: str | Path | Any = None,
    device: str = "cpu",
    batch_size: int = 32,
    *,
    bert: str | Path | None = None,
    threshold: float = 0.5,
    phrases: str | Path | dict | None = None,
    sentence_level: bool = True,
    llm_options: dict | None = None,
) -> Any:
    """A judge with `.judge(texts, settings, projections=None) -> list[dict]` (the record field).

    backend "rules": the phrase tables (`phrases`: another JSON file or dict); "discbert":
    `model` is an rg4 DiscBERT directory (`rg4 train --task discbert`), the official
    Lightning checkpoint (with `bert`: the bert-base-uncased config/tokenizer directory),
    or a loaded `classifiers.Classifier`; `sentence_level=False` skips DiscBERT's per-sentence
    pass (report flags only, `sentences` empty; half the model calls). "openai" / "hf": an
    LLM finds the content (rg4cli.judges.llm; `llm_options`: base_url, model_name,
    api_key_env, workers, ... for openai; `model` is the causal LM directory for hf).
    """
    if backend == "rules":
        if model is not None:
            raise InputError("--judge-model is for --backend discbert; the rules backend takes no model")
        return RulesJudge(phrases)
    if backend == "discbert":
        return DiscBertJudge(
            model,
            device=device,
            batch_size=batch_size,
            bert=bert,
            threshold=threshold,
            rules=RulesJudge(phrases),
            sentence_level=sentence_level,
        )
    if backend in ("openai", "hf"):
        from rg4cli.judges.llm import make_llm_judge

        return make_llm_judge(backend, None if model is None else str(model), device=device, **(llm_options or {}))
    raise InputError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
