"""Generators for the rewrite loop: `rules` (offline default), `openai`, `hf`.

Each has `.name` and `.rewrite(tasks) -> [RewriteReply]` (rg4cli.dataset.rewrite_loop), one reply
per task in task order; a task the generator gives up on gets `RewriteReply(error=...)`
and the loop drops that example (counted), never the run.

- rules: deterministic. In each section, the sentences where the hallucination rules
  judge finds a flagged category are edited: comparison / procedure / view phrases are
  cut out or turned into the plain statement ("unchanged moderate cardiomegaly" ->
  "Moderate cardiomegaly", "X is again seen" -> "X is seen", "compared to the prior
  study, ..." -> "..."); clauses that still carry the category are dropped; a sentence
  with nothing clinical left (a technique line, "No change.", a communication) is
  deleted. Untouched sentences keep their exact characters.
- openai: any OpenAI-compatible chat-completions endpoint (vLLM, TGI, llama.cpp,
  hosted APIs), stdlib HTTP, bounded thread concurrency, retries with exponential
  backoff on 429/5xx/timeouts/connection errors, malformed replies counted and retried.
  Redirects are not followed (the API key would go along to wherever they point), a
  reply is read up to `max_reply_bytes` within `timeout` seconds, and an endpoint that
  keeps failing stops the run (`max_consecutive_failures` examples in a row given up).
- hf: a local transformers causal LM (chat template when the tokenizer has one).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rg4cli.dataset.clauses import CLAUSE_SPLIT_RE, COMM_SPLIT_RE, apply_rules
from rg4cli.dataset.rewrite_loop import (
    DROP_FAILED,
    RewriteReply,
    RewriteTask,
    build_messages,
    memoize_find,
    parse_reply,
)
from rg4cli.dataset.sentence_tidy import _FINDING_WORDS, _IS_PRESENT_RE, _SPACE_RE, _contentful, _tidy
from rg4cli.errors import InputError, Rg4Error
from rg4cli.llm.clients import HFClient, OpenAIClient
from rg4cli.text.sections import join_sections
from rg4cli.text.sentences import split_sentences

GENERATORS = ("rules", "openai", "hf")


def _says_nothing(clause: str) -> bool:
    """A clause with no clinical word, or whose subject is only "present" without a finding."""
    if not _contentful(clause):
        return True
    m = _IS_PRESENT_RE.search(clause)
    return bool(m) and not (_FINDING_WORDS.search(clause[: m.start()]) or _contentful(clause[: m.start()]))


class RulesRewriter:
    """Deterministic rewriter over the hallucination rules judge's phrase finder."""

    name = "rules"

    def __init__(self, finder: Any | None = None):
        if finder is None:
            from rg4cli.judges.backends import make_judge  # the phrase tables live there

            finder = make_judge("rules")
        self.finder = memoize_find(finder)
        self.stats: Counter = Counter()
        self._setting: str | None = None
        self._projection: str | None = None

    def _cats_in(self, text: str, categories: set[str]) -> list:
        """The finder's hits of these categories that the current inputs cannot support
        ("portable AP view" with an AP frontal is supported, so it is not a hit)."""
        return self._keep(self.finder.find(text), categories)

    def _keep(self, hits: Sequence, categories: set[str]) -> list:
        out = []
        for h in hits:
            if h.category not in categories:
                continue
            if (
                h.category == "view"
                and self._setting is not None
                and views_supported(list(h.views) if h.views else None, self._setting, self._projection)
            ):
                continue
            out.append(h)
        return out

    def rewrite_text(
        self,
        text: str | None,
        categories: Sequence[str],
        setting: str | None = None,
        projection: str | None = None,
        hits: Sequence | None = None,
        edits: list | None = None,
    ) -> str | None:
        """The section with the flagged categories removed or rewritten (None if nothing is left).

        With `setting` (and the frontal `projection`), view phrases the inputs support
        are kept; without, every view phrase of a flagged view category is edited.
        `hits`: the finder's hits on `text` when already known (offsets into `text`).
        `edits`: a list that receives one dict per edit ({sentence, removed, replacement,
        category, edit}; edit is cut, replace, clause or sentence).
        """
        if not text:
            return text
        self._setting, self._projection = setting, projection
        cats = set(categories)
        hits = self._cats_in(text, cats) if hits is None else self._keep(hits, cats)
        if not hits:
            return text
        spans = split_sentences(text)
        out: list[str] = []
        pos = 0
        for start, end in spans:
            here = [h for h in hits if h.start < end and h.end > start]
            if not here:
                continue
            out.append(text[pos:start])
            sentence = text[start:end]
            mine: list[dict] = []
            fixed = self.fix_sentence(sentence, cats, {h.category for h in here}, mine)
            if fixed is not None:
                out.append(fixed)
                self._count(mine)
                if edits is not None:
                    edits.extend(mine)
            else:
                self.stats["sentences deleted"] += 1
                cat = here[0].category
                self.stats[f"edits {cat}"] += 1
                if edits is not None:
                    edits.append(
                        {
                            "sentence": sentence.strip(),
                            "removed": sentence.strip(),
                            "replacement": "",
                            "category": cat,
                            "edit": "sentence",
                        }
                    )
            pos = end
        out.append(text[pos:])
        result = _SPACE_RE.sub(" ", "".join(out)).strip()
        return result or None

    def _count(self, edits: list[dict]) -> None:
        for e in edits:
            self.stats[f"edits {e['category']}"] += 1

    def fix_sentence(
        self, sentence: str, cats: set[str], present: set[str] | None = None, edits: list | None = None
    ) -> str | None:
        """Rewrite one sentence; None deletes it. `present`: flagged categories known to be in it."""
        edits = [] if edits is None else edits
        original = sentence
        if "comm" in cats and ("comm" in present if present is not None else self._cats_in(sentence, {"comm"})):
            # a communication is never rewritten: its clause goes, whole clauses stay
            sentence = self._drop_clauses(sentence, {"comm"}, COMM_SPLIT_RE, edits, original)
            if sentence is None:
                return None
        s = _tidy(apply_rules(sentence, cats, edits), sentence)
        if self._cats_in(s, cats):  # an edit can expose the next ("is stable since ___" -> "is stable")
            again = _tidy(apply_rules(s, cats, edits), sentence)
            s = again if again != s else s
        if self._cats_in(s, cats):
            s = self._drop_clauses(s, cats, CLAUSE_SPLIT_RE, edits, original)
            if s is None:
                return None
            s = _tidy(s, sentence)
        if s != original:
            s = self._drop_empty_clauses(s, sentence, present, edits)
        if s is None or not _contentful(s) or self._cats_in(s, cats):
            return None
        if s != original:
            self.stats["sentences rewritten"] += 1
        return s

    def _drop_empty_clauses(self, s: str, sentence: str, present: set[str] | None, edits: list) -> str | None:
        """An edited sentence without the clauses that now say nothing: a structure that was only
        compared ("the heart is present", "cardiomediastinal silhouette" left bare)."""
        parts = [p for p in CLAUSE_SPLIT_RE.split(s) if p and p.strip()]
        keep = [p for p in parts if not _says_nothing(p)]
        if len(keep) == len(parts):
            return s
        if not keep:
            return None
        cat = sorted(present)[0] if present else "pc"
        for p in parts:
            if p not in keep:
                edits.append(
                    {
                        "sentence": sentence.strip(),
                        "removed": p.strip(),
                        "replacement": "",
                        "category": cat,
                        "edit": "clause",
                    }
                )
        return _tidy(" ".join(keep), sentence)

    def _drop_clauses(
        self, sentence: str, cats: set[str], splitter: re.Pattern, edits: list, original: str
    ) -> str | None:
        """The sentence without its clauses that still hold flagged content (None: nothing left)."""
        parts = [p for p in splitter.split(sentence) if p and p.strip()]
        keep, gone = [], []
        for p in parts:
            found = self._cats_in(p, cats)
            (gone if found else keep).append((p, found))
        if not gone:
            return sentence
        if not keep:
            return None
        s = " ".join(p for p, _ in keep)
        if not _contentful(s):
            return None
        for p, found in gone:
            edits.append(
                {
                    "sentence": original.strip(),
                    "removed": p.strip(),
                    "replacement": "",
                    "category": found[0].category,
                    "edit": "clause",
                }
            )
        return s

    def _section_hits(self, findings: str | None, impression: str | None) -> tuple[list, list]:
        """Hits per section, from one search of the text the judge read ("findings: F impression: I");
        the loop has just judged that text, so a memoized finder answers from its cache."""
        joined = join_sections(findings, impression)
        f_at = joined.find(findings.strip()) if findings and findings.strip() else -1
        i_at = joined.rfind(impression.strip()) if impression and impression.strip() else -1
        f_hits, i_hits = [], []
        for h in self.finder.find(joined):
            for at, body, bucket in ((f_at, findings, f_hits), (i_at, impression, i_hits)):
                if at >= 0 and at <= h.start and h.end <= at + len(body.strip()):
                    lead = len(body) - len(body.lstrip())
                    bucket.append(h._replace(start=h.start - at + lead, end=h.end - at + lead))
        return f_hits, i_hits

    def rewrite(self, tasks: Sequence[RewriteTask]) -> list[RewriteReply]:
        out = []
        for t in tasks:
            ex = t.example
            f_hits, i_hits = self._section_hits(t.findings, t.impression)
            f_edits: list[dict] = []
            i_edits: list[dict] = []
            f = self.rewrite_text(t.findings, t.categories, ex.setting, ex.view, f_hits, f_edits)
            i = self.rewrite_text(t.impression, t.categories, ex.setting, ex.view, i_hits, i_edits)
            edits = [dict(e, section="findings") for e in f_edits] + [dict(e, section="impression") for e in i_edits]
            out.append(RewriteReply(f, i, edits=edits))
        return out


# =====================================================================================
# LLM generators: the chat clients (rg4cli.llm.clients) plus what a rewrite asks and reads
# =====================================================================================
def unrewritten_error(rewriter: Any) -> Rg4Error | None:
    """The run's failure to report when the generator gave up on examples (exit status 1)."""
    failed = int((getattr(rewriter, "stats", None) or {}).get("failed", 0))
    if not failed:
        return None
    return Rg4Error(
        f"{failed} example(s) could not be rewritten: the {rewriter.name} generator gave up on them "
        f"(dropped as '{DROP_FAILED}', not written to the output; the records written are complete)"
    )


class OpenAIRewriter(OpenAIClient):
    """Rewrites through an OpenAI-compatible endpoint (OpenAIClient: retries, limits, no redirects).

    A task the client gives up on fails (RewriteReply.error) and the loop drops that example."""

    name = "openai"

    def complete(self, messages: list[dict]) -> tuple[str | None, str | None, str | None]:
        """(findings, impression, error) for one rewrite prompt, with retries."""
        parsed, error = self.ask(messages, parse_reply)
        return (None, None, error) if error is not None else (*parsed, None)

    def _one(self, task: RewriteTask) -> RewriteReply:
        f, i, err = self.complete(build_messages(task, self.system_prompt))
        return RewriteReply(f, i, err)

    def rewrite(self, tasks: Sequence[RewriteTask]) -> list[RewriteReply]:
        if not tasks:
            return []
        return self.run_concurrently(self._one, list(tasks))


class HFRewriter(HFClient):
    """Rewrites with a local causal LM (HFClient); replies parsed like the openai generator's."""

    name = "hf"

    def rewrite(self, tasks: Sequence[RewriteTask]) -> list[RewriteReply]:
        answers = self.ask_batch([build_messages(t, self.system_prompt) for t in tasks], parse_reply)
        return [RewriteReply(*parsed) if error is None else RewriteReply(error=error) for parsed, error in answers]


def views_supported(views, setting, projection):
    from rg4cli.judges.verdict import views_supported as supported

    return supported(views, setting, projection)


def make_rewriter(name: str, *, finder: Any | None = None, **options: Any):
    """rules | openai (base_url, model, api_key_env, workers, timeout, max_retries, ...) | hf (model_path, ...)."""
    if name == "rules":
        return RulesRewriter(finder)
    if name == "openai":
        return OpenAIRewriter(**options)
    if name == "hf":
        return HFRewriter(**options)
    raise InputError(f"--generator must be one of {', '.join(GENERATORS)}, got {name!r}")
