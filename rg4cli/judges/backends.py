"""Input-agnostic content in reports, judged against each study's inputs.

The paper's measure (LLM-RG4, Table 1 and the *hall.* columns): a report carries
content that its inputs cannot support. Four categories (Nguyen et al. 2023):

- ``pc``   prior comparison: "compared to the prior", "unchanged", "again seen", "interval", "new"...
- ``pp``   prior procedure: "status post", "post-operative", "since the placement of", "after CABG"...
- ``view`` which views/projections were taken, or their quality: "PA and lateral views",
           "single portable AP view", "on the lateral view", "lateral view limited by"...
- ``comm`` communication of results: "discussed with Dr. ___", "notified", "paged", "by telephone"...

The verdict (`verdict`) is setting-aware; see `VERDICT_RULE` (the text of the man page).
Two judges share one output shape (`make_judge`): the rules judge (phrase tables in
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

import bisect
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from rg4cli.devices import resolve_device
from rg4cli.errors import InputError
from rg4cli.judges.verdict import (
    VIEW_KINDS,
    _check_batch,
    _check_setting,
    _empty_result,
    unsupported_categories,
)
from rg4cli.records.provenance import current_annotation
from rg4cli.text.sentences import split_sentences
from rg4cli.vocab import CATEGORIES, INPUT_SETTINGS

BACKENDS: tuple[str, ...] = ("rules", "discbert", "openai", "hf")
PHRASES_FILE = "hallucination_phrases.json"


class Hit(NamedTuple):
    """One matched phrase: category, its span, the span of its sentence, the words."""

    category: str
    start: int
    end: int
    sentence_start: int
    sentence_end: int
    phrase: str
    rule: str = ""
    views: tuple[str, ...] = ()


# ---- the phrase tables -------------------------------------------------------------


@dataclass
class _CategoryTable:
    category: str
    regex: re.Pattern
    rules: dict[str, dict]  # group name -> entry
    exclude: re.Pattern | None
    sentence_filters: dict[str, re.Pattern] = field(default_factory=dict)  # group name -> filter


def _entry_regex(entry: dict, where: str) -> str:
    if "regex" in entry:
        return entry["regex"]
    if "phrases" in entry:
        words = [p for p in entry["phrases"] if isinstance(p, str) and p.strip()]
        if not words:
            raise InputError(f"{where}: empty phrase list")
        alts = sorted((r"\s+".join(re.escape(w) for w in p.split()) for p in words), key=len, reverse=True)
        return r"\b(?:" + "|".join(alts) + r")\b"
    raise InputError(f"{where}: an entry needs `regex` or `phrases`")


def _compile(pattern: str, where: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise InputError(f"{where}: bad regular expression: {exc}") from exc


def load_phrases(source: str | Path | dict | None = None) -> dict:
    """The phrase tables as a dict: the packaged file, another JSON file, or a dict."""
    if isinstance(source, dict):
        return source
    if source is None:
        text = resources.files("rg4cli.data").joinpath(PHRASES_FILE).read_text(encoding="utf-8")
        name = PHRASES_FILE
    else:
        p = Path(source)
        if not p.is_file():
            raise InputError(f"no such phrase table: {p}")
        text, name = p.read_text(encoding="utf-8"), str(p)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"bad JSON: {exc.msg} at line {exc.lineno}", source=name) from exc


def _build_tables(data: dict) -> dict[str, _CategoryTable]:
    filters_src = data.get("sentence_filters", {})
    filters = {name: _compile(rx, f"sentence_filters.{name}") for name, rx in filters_src.items()}
    cats = data.get("categories")
    if not isinstance(cats, dict):
        raise InputError("phrase table: no `categories` object")
    tables = {}
    for cat in CATEGORIES:
        spec = cats.get(cat)
        if not spec or not spec.get("patterns"):
            raise InputError(f"phrase table: category {cat!r} has no patterns")
        parts, rules, rule_filters = [], {}, {}
        default_filter = spec.get("unless_sentence")
        for i, entry in enumerate(spec["patterns"]):
            where = f"categories.{cat}.patterns[{i}]"
            rx = _entry_regex(entry, where)
            _compile(rx, where)  # report a bad entry by its own position
            group = f"r{i}"
            parts.append(f"(?P<{group}>{rx})")
            rules[group] = entry
            fname = entry.get("unless_sentence", default_filter)
            if fname:
                if fname not in filters:
                    raise InputError(f"{where}: unknown sentence filter {fname!r}")
                rule_filters[group] = filters[fname]
            for v in entry.get("views", ()):
                if v not in VIEW_KINDS:
                    raise InputError(f"{where}: unknown view kind {v!r}")
        excl = [_entry_regex(e, f"categories.{cat}.exclude[{i}]") for i, e in enumerate(spec.get("exclude", []))]
        tables[cat] = _CategoryTable(
            category=cat,
            regex=_compile(_fast_alternation("|".join(parts)), f"categories.{cat}"),
            rules=rules,
            exclude=_compile(_fast_alternation("|".join(f"(?:{x})" for x in excl)), f"categories.{cat}.exclude")
            if excl
            else None,
            sentence_filters=rule_filters,
        )
    return tables


def _fast_alternation(pattern: str) -> str:
    """The same pattern, tried only where a match can start (speed: ~2x on report text).

    Python's regex engine tries every branch of a long alternation at every position;
    a leading lookahead on the characters a match can start with (computed from the
    parsed pattern) skips most positions at once. When the start cannot be worked out
    (a branch may start with any word character), the pattern is returned unchanged.
    """
    chars = _first_chars(pattern)
    if not chars or len(chars) > 45:
        return pattern
    cls = "".join(re.escape(c) for c in sorted(chars | {c.upper() for c in chars}))
    return f"(?=[{cls}])(?:{pattern})"


def _first_chars(pattern: str) -> set[str] | None:
    try:
        try:
            import re._constants as sre_c  # Python >= 3.11
            import re._parser as sre_p
        except ImportError:  # pragma: no cover - Python 3.10
            import sre_constants as sre_c  # type: ignore[no-redef]
            import sre_parse as sre_p  # type: ignore[no-redef]
        parsed = sre_p.parse(pattern, re.IGNORECASE)
    except Exception:  # noqa: BLE001 - an optimisation only: fall back to the plain pattern
        return None

    def first(items) -> tuple[set[str] | None, bool]:
        """(chars a match of `items` can start with, whether `items` can match empty)."""
        out: set[str] = set()
        for op, av in items:
            if op is sre_c.AT:
                continue
            if op is sre_c.LITERAL:
                return out | {chr(av).lower()}, False
            if op is sre_c.IN:
                for o, a in av:
                    if o is sre_c.LITERAL:
                        out.add(chr(a).lower())
                    elif o is sre_c.RANGE and a[1] - a[0] < 40:
                        out |= {chr(x).lower() for x in range(a[0], a[1] + 1)}
                    elif o is sre_c.CATEGORY and a is sre_c.CATEGORY_DIGIT:
                        out |= set("0123456789")
                    else:
                        return None, False
                return out, False
            if op is sre_c.SUBPATTERN:
                sub, empty = first(av[-1])
            elif op is sre_c.BRANCH:
                sub, empty = set(), False
                for branch in av[1]:
                    b, e = first(branch)
                    if b is None:
                        return None, False
                    sub |= b
                    empty = empty or e
            elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT):
                sub, empty = first(av[2])
                empty = empty or av[0] == 0
            elif op in (sre_c.ASSERT, sre_c.ASSERT_NOT):
                continue  # a lookaround consumes nothing; the next item decides
            else:
                return None, False
            if sub is None:
                return None, False
            out |= sub
            if not empty:
                return out, False
        return out, True

    chars, can_be_empty = first(list(parsed))
    if chars is None or can_be_empty:
        return None
    return chars


# ---- judges ----------------------------------------------------------------------


class RulesJudge:
    """Phrase-table judge: `find` (hits with spans) and `judge` (the record field)."""

    backend = "rules"

    def __init__(self, phrases: str | Path | dict | None = None):
        self.phrases = load_phrases(phrases)
        self.tables = _build_tables(self.phrases)

    def find(self, text: str | None, sentence_spans: list[tuple[int, int]] | None = None) -> list[Hit]:
        """Every phrase of the four categories in `text`, by position, exclusions applied."""
        if not text:
            return []
        spans = sentence_spans if sentence_spans is not None else split_sentences(text)
        starts = [s for s, _ in spans]
        hits: list[Hit] = []
        for cat, table in self.tables.items():
            found = list(table.regex.finditer(text))
            if not found:
                continue
            # Exclusions are looked for only in the sentences that hold a hit (they never
            # cross a sentence): most of a report is never scanned twice.
            # Per sentence, computed once (a long sentence must not be re-scanned per hit): the
            # ends of its exclusion matches (ordered, disjoint) and each filter's verdict.
            excluded: dict[tuple[int, int], tuple[list[tuple[int, int]], list[int]]] = {}
            filtered: dict[tuple[Any, tuple[int, int]], bool] = {}
            for m in found:
                start, end = m.span()
                if start == end:
                    continue
                sent = _sentence_of(spans, starts, start, end, len(text))
                if table.exclude is not None:
                    if sent not in excluded:
                        ex = [x.span() for x in table.exclude.finditer(text, sent[0], sent[1])]
                        excluded[sent] = (ex, [e for _, e in ex])
                    ex, ex_ends = excluded[sent]
                    n = bisect.bisect_right(ex_ends, start)  # the first exclusion ending after `start`
                    if n < len(ex) and ex[n][0] < end:
                        continue
                group = m.lastgroup
                filt = table.sentence_filters.get(group)
                if filt is not None:
                    if (filt, sent) not in filtered:
                        filtered[(filt, sent)] = filt.search(text, sent[0], sent[1]) is not None
                    if filtered[(filt, sent)]:
                        continue
                entry = table.rules[group]
                views = entry.get("views", ())
                if views:
                    views = _projection_views(text[start:end], views)
                hits.append(
                    Hit(
                        cat,
                        start,
                        end,
                        sent[0],
                        sent[1],
                        text[start:end].strip(),
                        entry.get("name", group),
                        tuple(views),
                    )
                )
        hits.sort(key=lambda h: (h.start, CATEGORIES.index(h.category)))
        return hits

    def judge_one(self, text: str | None, setting: str, projection: str | None = None) -> dict:
        _check_setting(setting)
        out = _empty_result(setting, self.backend)
        hits = self.find(text)
        if not hits:
            return out
        views: set[str] = set()
        by_sentence: dict[tuple[int, int], list[Hit]] = {}
        for h in hits:
            out[h.category] = True
            views.update(h.views)
            by_sentence.setdefault((h.sentence_start, h.sentence_end), []).append(h)
        out["views"] = [v for v in VIEW_KINDS if v in views]
        out["unsupported"] = unsupported_categories(out, setting, out["views"], projection)
        out["input_agnostic"] = bool(out["unsupported"])
        for (s, e), group in sorted(by_sentence.items()):
            cats = [c for c in CATEGORIES if any(h.category == c for h in group)]
            sent_views = sorted({v for h in group for v in h.views}, key=VIEW_KINDS.index)
            found = {c: True for c in cats}
            phrases = list(dict.fromkeys(h.phrase for h in group))  # first occurrences, in order
            out["sentences"].append(
                {
                    "start": s,
                    "end": e,
                    "categories": cats,
                    "unsupported": unsupported_categories(found, setting, sent_views, projection),
                    "phrases": phrases,
                }
            )
        return out

    def judge(
        self, texts: Sequence[str | None], settings: Sequence[str], projections: Sequence[str | None] | None = None
    ) -> list[dict]:
        projs = _check_batch(texts, settings, projections)
        return [self.judge_one(t, s, p) for t, s, p in zip(texts, settings, projs)]


_PROJECTION_RE = {
    "pa": re.compile(r"\b(?:PA|postero-?anterior|posterior[- ]anterior)\b", re.I),
    "ap": re.compile(r"\b(?:AP|antero-?posterior|anterior[- ]posterior)\b", re.I),
}


def _projection_views(phrase: str, views: Sequence[str]) -> list[str]:
    """A view phrase also names its projection when it says PA or AP ("single portable AP view")."""
    out = list(views)
    for kind, rx in _PROJECTION_RE.items():
        if kind not in out and rx.search(phrase):
            out.append(kind)
    return out


def _sentence_of(spans: list[tuple[int, int]], starts: list[int], start: int, end: int, length: int) -> tuple[int, int]:
    i = bisect.bisect_right(starts, start) - 1
    if i < 0:
        return (0, spans[0][1]) if spans else (0, length)
    s, e = spans[i]
    if start >= e and i + 1 < len(spans):
        # Between two sentences (e.g. in bare punctuation): the next one holds the words.
        s, e = spans[i + 1]
    return s, max(e, min(end, length))


class DiscBertJudge:
    """DiscBERT (BERT + four binary heads on [CLS]): judges each report and each of its sentences.

    Report flags come from the whole text (as the paper scores reports); sentence
    entries from the same model on each sentence, so a rewriter can act on them.
    Which views are named comes from the rules' view phrases (the model has one
    view head, not one per view); see VERDICT_RULE for view content nobody names.
    """

    backend = "discbert"

    def __init__(
        self,
        model: str | Path | Any,
        device: str = "cpu",
        batch_size: int = 32,
        bert: str | Path | None = None,
        threshold: float = 0.5,
        rules: RulesJudge | None = None,
        sentence_level: bool = True,
    ):
        from rg4cli.model.classifiers import Classifier, load_classifier

        if model is None:
            raise InputError("--backend discbert needs --model (an rg4 DiscBERT directory or the official checkpoint)")
        self.classifier = model if isinstance(model, Classifier) else load_classifier(model, "discbert", bert=bert)
        if self.classifier.task != "discbert":
            raise InputError(f"{self.classifier.source} is a {self.classifier.task!r} model, not DiscBERT")
        if batch_size < 1:
            raise InputError(f"--batch-size must be at least 1, got {batch_size}")
        if not 0.0 < threshold < 1.0:
            raise InputError(f"--threshold must be between 0 and 1, got {threshold}")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.threshold = threshold
        self.rules = rules or RulesJudge()
        self.sentence_level = sentence_level

    def judge(
        self, texts: Sequence[str | None], settings: Sequence[str], projections: Sequence[str | None] | None = None
    ) -> list[dict]:
        from rg4cli.model.classifiers import predict_discbert

        projs = _check_batch(texts, settings, projections)
        for s in settings:
            _check_setting(s)
        # One batched pass over every report and every sentence of every report.
        items: list[str] = []
        plan: list[tuple[int | None, list[tuple[int, int, int]]]] = []
        for text in texts:
            if not text:
                plan.append((None, []))
                continue
            idx = len(items)
            items.append(text)
            sents = []
            for s, e in split_sentences(text) if self.sentence_level else []:
                sents.append((s, e, len(items)))
                items.append(text[s:e])
            plan.append((idx, sents))
        probs = (
            predict_discbert(self.classifier, items, batch_size=self.batch_size, device=self.device) if items else []
        )
        out = []
        for text, setting, proj, (idx, sents) in zip(texts, settings, projs, plan):
            res = _empty_result(setting, self.backend)
            if idx is None:
                out.append(res)
                continue
            p = probs[idx]
            res["scores"] = {c: round(float(p[c]), 4) for c in CATEGORIES}
            for c in CATEGORIES:
                res[c] = p[c] >= self.threshold
            view_hits = [h for h in self.rules.find(text) if h.category == "view"]
            view_starts = [h.start for h in view_hits]  # ordered: find() sorts by start
            named = sorted({v for h in view_hits for v in h.views}, key=VIEW_KINDS.index)
            res["views"] = named
            detail = named if (res["view"] and named) else None
            res["unsupported"] = unsupported_categories(res, setting, detail, proj)
            res["input_agnostic"] = bool(res["unsupported"])
            for s, e, j in sents:
                cats = [c for c in CATEGORIES if probs[j][c] >= self.threshold]
                if not cats:
                    continue
                in_sentence = view_hits[bisect.bisect_left(view_starts, s) : bisect.bisect_left(view_starts, e)]
                sent_named = sorted({v for h in in_sentence for v in h.views}, key=VIEW_KINDS.index)
                found = {c: True for c in cats}
                res["sentences"].append(
                    {
                        "start": s,
                        "end": e,
                        "categories": cats,
                        "unsupported": unsupported_categories(found, setting, sent_named or None, proj),
                        "phrases": [],
                    }
                )
            out.append(res)
        return out


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


# ---- summary -----------------------------------------------------------------------


def _field_of(item: dict, on_unbound: Callable[[str], None] | None = None) -> dict:
    if "input_agnostic" in item and "setting" in item:
        return item
    h = item.get("hallucination")
    if not isinstance(h, dict) or "input_agnostic" not in h:
        raise InputError("record has no `hallucination` field (run `rg4 hallucination` first)", field="hallucination")
    if current_annotation(item, "hallucination", on_unbound=on_unbound) is None:
        raise InputError(
            "was judged on another text than the record holds now (its report changed since); "
            "run `rg4 hallucination` again",
            field="hallucination",
        )
    return h


def _counts() -> dict:
    return {
        "reports": 0,
        "input_agnostic": 0,
        "present": {c: 0 for c in CATEGORIES},
        "unsupported": {c: 0 for c in CATEGORIES},
    }


def _rates(c: dict) -> dict:
    n = c["reports"]

    def r(k: int) -> float | None:
        return round(k / n, 6) if n else None

    return {
        "reports": n,
        "input_agnostic": c["input_agnostic"],
        "rate": r(c["input_agnostic"]),
        "present": {k: r(v) for k, v in c["present"].items()},
        "unsupported": {k: r(v) for k, v in c["unsupported"].items()},
    }


def summarize(records: Iterable[dict], *, on_unbound: Callable[[str], None] | None = None) -> dict:
    """Share of reports that are input-agnostic (the paper's *hall.*), overall and per setting.

    Takes records with a `hallucination` field (or the fields themselves); a record's
    field counts only while it is bound to the record's current text (records.provenance:
    otherwise InputError; a field without provenance counts, with `on_unbound`). Rates are
    fractions of the reports counted (null when there are none): `rate` = input-agnostic,
    `present[cat]` = reports with that content, `unsupported[cat]` = reports where that
    content is unsupported by the inputs (what makes them input-agnostic).
    """
    total = _counts()
    by_setting = {s: _counts() for s in INPUT_SETTINGS}
    backends = set()
    for item in records:
        h = _field_of(item, on_unbound)
        setting = h["setting"]
        _check_setting(setting)
        backends.add(h.get("backend"))
        unsupported = set(h.get("unsupported") or [])
        for c in (total, by_setting[setting]):
            c["reports"] += 1
            c["input_agnostic"] += bool(h["input_agnostic"])
            for cat in CATEGORIES:
                c["present"][cat] += bool(h.get(cat))
                c["unsupported"][cat] += cat in unsupported
    out = _rates(total)
    out["by_setting"] = {s: _rates(c) for s, c in by_setting.items() if c["reports"]}
    names = sorted(b for b in backends if b)
    out["backend"] = names[0] if len(names) == 1 else (names or None)
    return out


def format_summary(summary: dict) -> str:
    """A small stderr table: % input-agnostic, and per category % present / % unsupported."""

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}"

    head = f"{'setting':<8}{'reports':>8}{'hall.%':>8}" + "".join(f"{c + ' %pres/unsup':>18}" for c in CATEGORIES)
    lines = [head]
    rows = list(summary.get("by_setting", {}).items()) + [("all", summary)]
    for name, v in rows:
        cells = "".join(f"{pct(v['present'][c]) + ' / ' + pct(v['unsupported'][c]):>18}" for c in CATEGORIES)
        lines.append(f"{name:<8}{v['reports']:>8}{pct(v['rate']):>8}{cells}")
    return "\n".join(lines)
