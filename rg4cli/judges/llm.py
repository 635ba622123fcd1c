"""The LLM judge: a large language model finds the four categories, rg4 gives the verdict.

The paper's judge is an LLM (Llama-3-70B) whose judgments DiscBERT then learns. Here the
LLM is reached through the rewriter's clients (rg4cli.llm.clients): `openai` (any
OpenAI-compatible chat-completions endpoint: bounded concurrency, retries, reply size
and time limits, redirects refused, the key never printed) or `hf` (a local
transformers causal LM by path).

The report goes to the model as numbered sentences (rg4's sentence splitter), and the
model answers which sentences carry prior comparison, prior procedure, view or
communication content, the views a view sentence names and the words that carry it.
That is content only: the verdict against the study's inputs is computed here with the
same rule as the rules and DiscBERT judges (`backends.unsupported_categories`), so the
output is the same record field (`backends` module docstring) with `backend` "openai"
or "hf", and `rg4 train --task discbert` learns the LLM's flags as it learns the rules'.
The content of a text does not depend on the setting: one study's text judged in four
settings costs one request (answers are cached by text).
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from rg4cli.errors import InputError, Rg4Error
from rg4cli.judges.verdict import VIEW_KINDS, _check_batch, _check_setting, _empty_result, unsupported_categories
from rg4cli.text.sentences import split_sentences
from rg4cli.vocab import CATEGORIES, CATEGORY_NAMES

LLM_BACKENDS = ("openai", "hf")
CACHE_SIZE = 50_000

SYSTEM_PROMPT = """You read chest X-ray reports and find four kinds of content (Nguyen et al. 2023):
- pc, prior comparison: any comparison with an earlier study or statement of change over time ("compared to the prior", "unchanged", "stable", "new", "increased", "again seen", "interval", "persistent", "has resolved").
- pp, prior procedure: procedures done before this study ("status post CABG", "post-operative changes", "since the placement of", "sternotomy wires").
- view: statements about which views or projections were taken, or their quality ("PA and lateral views", "single portable AP view", "on the lateral view", "lateral view limited by").
- comm, communication: results communicated to clinicians ("discussed with Dr. ___", "notified", "paged", "by telephone at 10:15").
Statements that no earlier study exists ("no prior studies", "comparison: none") are not comparisons. Findings themselves (devices present, normal heart size) are none of the four.
For a view sentence also list the views it names, from: lateral, frontal, pa, ap, two_views, single_view, other (oblique, decubitus, apical lordotic).
The report comes as numbered sentences. Reply with one JSON object and nothing else:
{"sentences": [{"n": <sentence number>, "categories": ["pc"], "views": [], "phrases": ["<the words that carry it>"]}]}
listing only the sentences that carry any of the four; {"sentences": []} when none does."""

_CATEGORY_ALIASES = {
    **{c: c for c in CATEGORIES},
    **{name: c for c, name in CATEGORY_NAMES.items()},
    "prior_comparison": "pc",
    "prior_procedure": "pp",
    "communication": "comm",
}
_VIEW_ALIASES = {
    **{v: v for v in VIEW_KINDS},
    "two views": "two_views",
    "single view": "single_view",
    "posteroanterior": "pa",
    "anteroposterior": "ap",
    "oblique": "other",
    "decubitus": "other",
    "apical lordotic": "other",
}


def judge_messages(sentences: Sequence[str], system_prompt: str | None = None) -> list[dict]:
    numbered = "\n".join(f"{n}. {s.strip()}" for n, s in enumerate(sentences, start=1))
    return [
        {"role": "system", "content": system_prompt or SYSTEM_PROMPT},
        {"role": "user", "content": "Report sentences:\n" + numbered + "\n\nReply with the JSON object only."},
    ]


def _json_object(text: str) -> Any:
    if not isinstance(text, str) or "{" not in text:
        raise ValueError("no JSON object in the reply")
    try:
        return json.loads(text[text.find("{") : text.rfind("}") + 1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"bad JSON in the reply: {exc.msg}") from None


def parse_judgement(text: str, n_sentences: int) -> list[dict]:
    """[{n, categories, views, phrases}] from a reply; ValueError when it is not what was asked."""
    obj = _json_object(text)
    items = obj.get("sentences") if isinstance(obj, dict) else None
    if not isinstance(items, list):
        raise ValueError("the reply's JSON has no 'sentences' list")
    out: dict[int, dict] = {}
    for item in items:
        n = item.get("n", item.get("sentence")) if isinstance(item, dict) else None
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= n_sentences:
            raise ValueError(f"sentence number {n!r} is not one of 1..{n_sentences}")
        cats, views = [], []
        for c in item.get("categories") or []:
            key = _CATEGORY_ALIASES.get(str(c).strip().lower())
            if key is None:
                raise ValueError(f"unknown category {c!r} (expected {', '.join(CATEGORIES)})")
            cats.append(key)
        for v in item.get("views") or []:
            key = _VIEW_ALIASES.get(str(v).strip().lower().replace("-", " "))
            if key is None:
                raise ValueError(f"unknown view {v!r} (expected {', '.join(VIEW_KINDS)})")
            views.append(key)
        phrases = [str(p)[:200] for p in item.get("phrases") or [] if str(p).strip()]
        entry = out.setdefault(n, {"n": n, "categories": [], "views": [], "phrases": []})
        entry["categories"] = [c for c in CATEGORIES if c in cats or c in entry["categories"]]
        entry["views"] = [v for v in VIEW_KINDS if v in views or v in entry["views"]]
        entry["phrases"] += [p for p in phrases if p not in entry["phrases"]]
    return [out[n] for n in sorted(out) if out[n]["categories"]]


class LLMJudge:
    """`.judge(texts, settings, projections=None) -> list[dict]` through an LLM client.

    `client` is an `OpenAIRewriter` (requests run `workers` at a time) or an `HFRewriter`
    (batched local generation); `backend` names it in the output.
    """

    def __init__(self, client: Any, backend: str, *, system_prompt: str | None = None, cache_size: int = CACHE_SIZE):
        self.client = client
        self.backend = backend
        self.system_prompt = system_prompt
        self.cache_size = cache_size
        self._cache: OrderedDict[str, list[dict]] = OrderedDict()

    @property
    def stats(self):
        return self.client.stats

    def _ask(self, sentence_lists: list[list[str]]) -> list[tuple[Any, str | None]]:
        conversations = [judge_messages(s, self.system_prompt) for s in sentence_lists]
        parsers = [functools.partial(parse_judgement, n_sentences=len(s)) for s in sentence_lists]
        if hasattr(self.client, "ask_batch"):  # local model: batched generation
            return self.client.ask_batch(conversations, parsers)
        return self.client.run_concurrently(
            lambda pair: self.client.ask(pair[0], pair[1]), list(zip(conversations, parsers))
        )

    def content(self, texts: Sequence[str]) -> list[list[dict]]:
        """The flagged sentences of each text (cached by text): [{start, end, categories, views, phrases}]."""
        spans = {t: split_sentences(t) for t in dict.fromkeys(texts)}
        todo = [t for t in spans if t not in self._cache and spans[t]]
        if todo:
            answers = self._ask([[t[s:e] for s, e in spans[t]] for t in todo])
            failed = [(t, err) for t, (_, err) in zip(todo, answers) if err is not None]
            if failed:
                raise Rg4Error(
                    f"the {self.backend} judge could not judge {len(failed)} of {len(todo)} report(s) "
                    f"(last: {failed[-1][1]}); nothing was written for them"
                )
            for t, (found, _) in zip(todo, answers):
                self._cache[t] = [
                    {
                        "start": spans[t][f["n"] - 1][0],
                        "end": spans[t][f["n"] - 1][1],
                        **{k: f[k] for k in ("categories", "views", "phrases")},
                    }
                    for f in found
                ]
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return [self._cache.get(t, []) for t in texts]

    def judge(
        self, texts: Sequence[str | None], settings: Sequence[str], projections: Sequence[str | None] | None = None
    ) -> list[dict]:
        projs = _check_batch(texts, settings, projections)
        for s in settings:
            _check_setting(s)
        found = dict(zip([t for t in texts if t], self.content([t for t in texts if t])))
        out = []
        for text, setting, proj in zip(texts, settings, projs):
            res = _empty_result(setting, self.backend)
            sentences = found.get(text, []) if text else []
            views = {v for s in sentences for v in s["views"]}
            for s in sentences:
                for c in s["categories"]:
                    res[c] = True
            res["views"] = [v for v in VIEW_KINDS if v in views]
            # View content whose views the model does not name: the rule for unnamed views.
            detail = res["views"] if (res["view"] and res["views"]) else None
            res["unsupported"] = unsupported_categories(res, setting, detail, proj)
            res["input_agnostic"] = bool(res["unsupported"])
            for s in sentences:
                res["sentences"].append(
                    {
                        "start": s["start"],
                        "end": s["end"],
                        "categories": list(s["categories"]),
                        "unsupported": unsupported_categories(
                            {c: True for c in s["categories"]}, setting, s["views"] or None, proj
                        ),
                        "phrases": list(s["phrases"]),
                    }
                )
            out.append(res)
        return out


def make_llm_judge(
    backend: str,
    model: str | None = None,
    *,
    device: str = "cpu",
    base_url: str | None = None,
    model_name: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    workers: int = 8,
    timeout: float = 120.0,
    max_retries: int = 5,
    backoff: float = 1.0,
    max_new_tokens: int = 512,
    batch_size: int = 4,
    trust_remote_code: bool = False,
    system_prompt: str | None = None,
) -> LLMJudge:
    """backend "openai": base_url + model_name (+ api_key_env, workers, timeout, max_retries,
    backoff); "hf": `model`, a local causal LM directory."""
    from rg4cli.llm.clients import HFClient, OpenAIClient

    if backend == "openai":
        if model is not None:
            raise InputError("the openai judge takes --base-url and --model-name, not a model directory")
        client = OpenAIClient(
            base_url or "",
            model_name or "",
            api_key_env=api_key_env,
            workers=workers,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_tokens=1024,
        )
    elif backend == "hf":
        if not model:
            raise InputError("the hf judge needs a local causal LM directory (--model, or --judge-model in build-data)")
        client = HFClient(
            str(model),
            device=device,
            max_new_tokens=max_new_tokens,
            max_retries=max_retries,
            batch_size=batch_size,
            trust_remote_code=trust_remote_code,
        )
    else:
        raise InputError(f"unknown LLM judge {backend!r}; expected one of {', '.join(LLM_BACKENDS)}")
    return LLMJudge(client, backend, system_prompt=system_prompt)
