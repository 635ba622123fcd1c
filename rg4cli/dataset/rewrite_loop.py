"""The judge -> rewrite -> re-judge loop of the paper's dataset pipeline, and its prompt.

Paper (§Dataset Generation Pipeline): a judge finds input-agnostic content (prior
comparison PC, prior procedure PP, view, communication Comm) that a setting's inputs
cannot support; a generator rewrites the report; the judge checks again; at most 3
rounds, each rewrite prompt carrying the earlier attempts and the judge's findings
(the "dynamic prompt" that leans on the LLM's chain of thought). The labels of the
impression (here: and of the findings) before and after must match, else the example
is dropped.

The loop is backend-agnostic: a judge with `.judge(texts, settings) -> [dict]`
(rg4cli.judges.backends), a labeler with `.label(texts) -> [dict]` (rg4cli.labelers.backends),
and a rewriter with `.rewrite(tasks) -> [RewriteReply]` (rg4cli.dataset.rewriters). Each
round sends every still-flagged example to the rewriter in one call, so the openai
rewriter can run them concurrently and DiscBERT can judge them in one batch.
"""

from __future__ import annotations

import inspect
import json
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rg4cli.text.sections import join_sections
from rg4cli.vocab import CATEGORIES, CATEGORY_NAMES

GUARD_SECTIONS = ("impression", "findings")

DROP_LABELS = "labels changed"
DROP_EMPTY = "empty after rewriting"
DROP_FAILED = "generator failed"
DROP_UNRESOLVED = "still input-agnostic after the last round"


# ---- plain objects passed between loop and rewriters ---------------------------------
@dataclass
class Example:
    """One (study, setting) pair to clean: the original target and what the inputs are."""

    id: str
    setting: str
    findings: str | None
    impression: str | None
    view: str | None = None
    prior_report: str | None = None

    @property
    def has_lateral(self) -> bool:
        return self.setting[0] == "m"

    @property
    def has_prior(self) -> bool:
        return self.setting[1] == "w"


@dataclass
class Attempt:
    """One rewrite and what the judge (and labeler) said of it."""

    findings: str | None
    impression: str | None
    verdict: dict
    issues: list[dict] = field(default_factory=list)
    label_changes: list[str] = field(default_factory=list)


@dataclass
class RewriteTask:
    example: Example
    findings: str | None  # the text to rewrite now (the latest attempt, or the original)
    impression: str | None
    categories: list[str]  # flagged categories to remove / rewrite
    issues: list[dict]  # the judge's findings: {category, sentence, phrase?}
    attempts: list[Attempt]  # earlier rewrites of this example, oldest first
    round: int  # 1-based
    original: Attempt | None = None  # the original text with the judge's first verdict


@dataclass
class RewriteReply:
    findings: str | None = None
    impression: str | None = None
    error: str | None = None  # set when the generator gave up on this task
    edits: list[dict] = field(default_factory=list)  # what a rules rewrite cut or replaced (audit)


class Rewriter(Protocol):
    name: str

    def rewrite(self, tasks: Sequence[RewriteTask]) -> list[RewriteReply]: ...


@dataclass
class Outcome:
    example: Example
    findings: str | None
    impression: str | None
    rounds: int
    verdicts: list[dict]  # initial judgment, then one per rewrite round
    changed: bool
    resolved: bool
    dropped: str | None = None
    label_changes: list[str] = field(default_factory=list)
    error: str | None = None
    edits: list[dict] = field(default_factory=list)  # per edit: round, section, sentence, removed, ...

    def rewrite_field(self, generator: str, judge: str) -> dict:
        out = {
            "generator": generator,
            "judge": judge,
            "rounds": self.rounds,
            "verdicts": self.verdicts,
            "changed": self.changed,
            "resolved": self.resolved,
        }
        if self.label_changes:
            out["label_changes"] = self.label_changes
        if self.edits:
            out["edits"] = self.edits
        return out


# ---- judge results ---------------------------------------------------------------
def verdict_of(result: dict) -> dict:
    """{pc, pp, view, comm, input_agnostic}: the categories the setting's inputs cannot support.

    rg4cli.judges.backends results carry `unsupported` (the categories behind the
    verdict) beside the content flags; a bare {pc, pp, ...} dict is read as unsupported.
    """
    h = result.get("hallucination", result)
    if "unsupported" in h:
        bad = set(h.get("unsupported") or ())
        flags = {c: c in bad for c in CATEGORIES}
    else:
        flags = {c: bool(h.get(c)) for c in CATEGORIES}
    flags["input_agnostic"] = bool(h.get("input_agnostic", any(flags.values())))
    return flags


def flagged(verdict: dict) -> list[str]:
    return [c for c in CATEGORIES if verdict.get(c)]


_MARKER_RE = re.compile(r"^\s*(?:findings?|impressions?)\s*:\s*", re.IGNORECASE)


def issues_of(result: dict, categories: Sequence[str], text: str = "") -> list[dict]:
    """The judge's per-sentence findings for the flagged categories, for the prompt.

    Reads the hallucination module's `sentences` entries ({start, end, categories,
    unsupported, phrases}; spans index the judged text); a judge without sentence
    detail (DiscBERT) gives none, and the prompt then names the categories only.
    """
    h = result.get("hallucination", result)
    out: list[dict] = []
    for s in h.get("sentences") or []:
        if not isinstance(s, dict):
            continue
        cats = s.get("unsupported", s.get("categories")) or []
        if "start" in s and "end" in s and text:
            sentence = _MARKER_RE.sub("", text[s["start"] : s["end"]])
        else:
            sentence = s.get("text") or ""
        phrases = s.get("phrases") or []
        for c in cats:
            if c in categories:
                issue = {"category": c, "sentence": sentence}
                if phrases:
                    issue["phrase"] = ", ".join(str(p) for p in phrases)
                out.append(issue)
    return out


def judge_text(findings: str | None, impression: str | None) -> str:
    return join_sections(findings, impression)


# ---- the dynamic prompt (openai and hf generators) --------------------------------
SYSTEM_PROMPT = """You edit chest X-ray reports so that they contain only what the radiologist could write from the inputs they have.

Content categories (Nguyen et al. 2023):
- prior comparison (PC): comparisons with earlier studies ("compared to the prior", "unchanged", "new", "increased", "again seen", "stable", "interval").
- prior procedure (PP): procedures done before the study ("status post CABG", "post-operative", "after placement of").
- view: statements about which views/projections were taken or their quality ("PA and lateral views", "on the lateral view").
- communication (Comm): communication with clinicians ("discussed with Dr. ___", "paged", "notified at 10:15").

Rules:
- Remove communication and prior procedure content.
- Keep or rewrite prior comparison and view content so that it matches the inputs: without a prior report, state the current finding without comparing ("unchanged moderate cardiomegaly" -> "moderate cardiomegaly"); with a prior report, comparisons may stay; without a lateral image, do not mention the lateral view.
- Keep every positive and negative finding, its location, size and certainty, and keep medical recommendations.
- Change nothing else; keep the wording of the sentences that are fine.
Reply with one JSON object and nothing else: {"findings": "...", "impression": "..."}; use null for a section that is absent or becomes empty."""


def describe_inputs(ex: Example) -> str:
    view = {"PA": "a posteroanterior (PA) frontal image", "AP": "an anteroposterior (AP) frontal image"}.get(
        ex.view or "", "a frontal image"
    )
    parts = [
        view,
        "a lateral image" if ex.has_lateral else "no lateral image",
        "the previous study's report" if ex.has_prior else "no previous report",
    ]
    return "The radiologist has " + ", ".join(parts[:-1]) + " and " + parts[-1] + "."


def _report_json(findings: str | None, impression: str | None) -> str:
    return json.dumps({"findings": findings, "impression": impression}, ensure_ascii=False)


def _issue_lines(categories: Sequence[str], issues: Sequence[dict]) -> list[str]:
    lines = []
    for c in categories:
        these = [i for i in issues if i.get("category") == c]
        if not these:
            lines.append(f"- {CATEGORY_NAMES[c]} ({c.upper()}) that the inputs cannot support")
        for i in these:
            where = f' in: "{i["sentence"]}"' if i.get("sentence") else ""
            what = f' (phrase: "{i["phrase"]}")' if i.get("phrase") else ""
            lines.append(f"- {CATEGORY_NAMES[c]} ({c.upper()}){what}{where}")
    return lines


def build_messages(task: RewriteTask, system_prompt: str | None = None) -> list[dict]:
    """Chat messages for one rewrite (the paper's dynamic prompt): the inputs, the
    original and the judge's findings on it, each earlier attempt with the judge's
    findings (and lost labels) on it, then the request to fix the current text."""
    ex = task.example
    lines = [describe_inputs(ex), "", "Original report:", _report_json(ex.findings, ex.impression)]
    if task.attempts:
        if task.original is not None:
            lines += ["Judge on the original:"] + (
                _issue_lines(flagged(task.original.verdict), task.original.issues) or ["- no input-agnostic content"]
            )
        for n, att in enumerate(task.attempts, start=1):
            lines += ["", f"Attempt {n}:", _report_json(att.findings, att.impression), f"Judge on attempt {n}:"]
            problems = _issue_lines(flagged(att.verdict), att.issues)
            if att.label_changes:
                problems.append(
                    "- findings were lost or changed: "
                    + "; ".join(att.label_changes)
                    + " (keep every finding of the original)"
                )
            lines += problems or ["- no input-agnostic content"]
        lines += ["", f"Current text (attempt {len(task.attempts)}):", _report_json(task.findings, task.impression)]
    lines += ["", "The judge finds in the current text:"]
    lines += _issue_lines(task.categories, task.issues)
    lines += [
        "",
        "Rewrite the current text to fix these problems, following the rules. Reply with the JSON object only.",
    ]
    return [
        {"role": "system", "content": system_prompt or SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


def parse_reply(text: str) -> tuple[str | None, str | None]:
    """Findings and impression from a generator's reply; ValueError when malformed.

    Accepts the JSON object alone, inside a ``` fence, or after some preamble.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty reply")
    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    try:
        obj = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"bad JSON in the reply: {exc.msg}") from None
    if not isinstance(obj, dict) or not ({"findings", "impression"} & obj.keys()):
        raise ValueError("the reply's JSON has neither 'findings' nor 'impression'")
    out = []
    for key in ("findings", "impression"):
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            raise ValueError(f"'{key}' is {type(value).__name__}, expected a string or null")
        out.append(value.strip() or None if isinstance(value, str) else None)
    return out[0], out[1]


# ---- the loop ---------------------------------------------------------------------
class LabelCache:
    """Labels per text (the same original section is guarded in up to four settings)."""

    def __init__(self, labeler: Any, size: int = 50_000):
        self.labeler = labeler
        self.size = size
        self._cache: OrderedDict[str, dict] = OrderedDict()

    def labels(self, texts: Sequence[str]) -> list[dict]:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            for t, lab in zip(todo, self.labeler.label(todo)):
                self._cache[t] = lab.get("labels", lab) if isinstance(lab, dict) else lab
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return [self._cache[t] for t in texts]


def _label_diff(before: dict, after: dict, section: str) -> list[str]:
    out = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            out.append(f"{section}: {name} {before.get(name)} -> {after.get(name)}")
    return out


def memoize_find(judge: Any, size: int = 8192) -> Any:
    """Cache a rules judge's `find(text)` on this instance (returns the judge).

    The same text is judged in up to four settings and again by the rules rewriter;
    the phrase search is the judge's cost, the verdict per setting is cheap.
    """
    find = getattr(judge, "find", None)
    if find is None or getattr(find, "_rg4_memo", False):
        return judge
    cache: OrderedDict = OrderedDict()

    def memo_find(text, sentence_spans=None):
        if sentence_spans is not None:
            return find(text, sentence_spans)
        hit = cache.get(text)
        if hit is None:
            hit = cache[text] = find(text)
            if len(cache) > size:
                cache.popitem(last=False)
        return hit

    memo_find._rg4_memo = True  # type: ignore[attr-defined]  # a marker on the function object
    judge.find = memo_find
    return judge


class RewriteLoop:
    """Judge -> rewrite -> re-judge for batches of examples (see module doc)."""

    def __init__(
        self,
        judge: Any,
        rewriter: Rewriter | None,
        labeler: Any | None,
        *,
        rounds: int = 3,
        guard: Sequence[str] = GUARD_SECTIONS,
        drop_unresolved: bool = False,
    ):
        if rounds < 0:
            raise ValueError("rounds must be >= 0")
        self.judge = memoize_find(judge)
        self.rewriter = rewriter
        self.labels = LabelCache(labeler) if labeler is not None else None
        self.rounds = rounds
        self.guard = tuple(guard)
        self.drop_unresolved = drop_unresolved
        try:
            self._takes_projections = "projections" in inspect.signature(judge.judge).parameters
        except (TypeError, ValueError):
            self._takes_projections = False

    def _judge(self, pairs: Sequence[tuple[str | None, str | None]], examples: Sequence[Example]) -> list[dict]:
        """Judge results, each with the judged text under "_text" (for issue sentences)."""
        if not pairs:
            return []
        texts = [judge_text(f, i) for f, i in pairs]
        settings = [e.setting for e in examples]
        projections = [e.view for e in examples]
        if self._takes_projections:
            results = self.judge.judge(texts, settings, projections=projections)
        else:
            results = self.judge.judge(texts, settings)
        return [dict(r, _text=t) for r, t in zip(results, texts)]

    def _label_changes(self, ex: Example, findings: str | None, impression: str | None) -> list[str]:
        if self.labels is None:
            return []
        before, after = [], []
        for section, new in (("impression", impression), ("findings", findings)):
            old = getattr(ex, section)
            if section in self.guard and (old or "") != (new or ""):
                before.append((section, old or ""))
                after.append((section, new or ""))
        if not before:
            return []
        labs = self.labels.labels([t for _, t in before] + [t for _, t in after])
        n = len(before)
        changes: list[str] = []
        for k, (section, _) in enumerate(before):
            changes += _label_diff(labs[k], labs[n + k], section)
        return changes

    def run(self, examples: Sequence[Example]) -> list[Outcome]:
        results = self._judge([(e.findings, e.impression) for e in examples], examples)
        state = []
        for ex, res in zip(examples, results):
            v = verdict_of(res)
            original = Attempt(ex.findings, ex.impression, v, issues_of(res, flagged(v), res["_text"]))
            state.append(
                {
                    "f": ex.findings,
                    "i": ex.impression,
                    "verdicts": [v],
                    "result": res,
                    "attempts": [],
                    "error": None,
                    "original": original,
                    "edits": [],
                }
            )
        if self.rewriter is not None:
            for rnd in range(1, self.rounds + 1):
                todo = [k for k, s in enumerate(state) if s["error"] is None and flagged(s["verdicts"][-1])]
                if not todo:
                    break
                tasks = []
                for k in todo:
                    s = state[k]
                    cats = flagged(s["verdicts"][-1])
                    issues = issues_of(s["result"], cats, s["result"]["_text"])
                    tasks.append(
                        RewriteTask(examples[k], s["f"], s["i"], cats, issues, list(s["attempts"]), rnd, s["original"])
                    )
                replies = self.rewriter.rewrite(tasks)
                judged_k, pairs = [], []
                for k, reply in zip(todo, replies):
                    if reply.error is not None:
                        state[k]["error"] = reply.error
                        continue
                    judged_k.append(k)
                    pairs.append((reply.findings, reply.impression))
                    state[k]["edits"] += [dict(e, round=rnd) for e in reply.edits]
                new_results = self._judge(pairs, [examples[k] for k in judged_k])
                for k, (f, i), res in zip(judged_k, pairs, new_results):
                    s = state[k]
                    v = verdict_of(res)
                    s["f"], s["i"], s["result"] = f, i, res
                    s["verdicts"].append(v)
                    s["attempts"].append(
                        Attempt(
                            f, i, v, issues_of(res, flagged(v), res["_text"]), self._label_changes(examples[k], f, i)
                        )
                    )
        return [self._finish(ex, s) for ex, s in zip(examples, state)]

    def _finish(self, ex: Example, s: dict) -> Outcome:
        f, i = s["f"], s["i"]
        rounds = len(s["verdicts"]) - 1
        changed = (f or "") != (ex.findings or "") or (i or "") != (ex.impression or "")
        resolved = not flagged(s["verdicts"][-1])
        out = Outcome(ex, f, i, rounds, s["verdicts"], changed, resolved, error=s["error"], edits=s["edits"])
        if s["error"] is not None:
            out.dropped = DROP_FAILED
            return out
        if changed:
            out.label_changes = s["attempts"][-1].label_changes if s["attempts"] else []
            if not (f or i):
                out.dropped = DROP_EMPTY
            elif out.label_changes:
                out.dropped = DROP_LABELS
        if out.dropped is None and not resolved and self.drop_unresolved:
            out.dropped = DROP_UNRESOLVED
        return out
