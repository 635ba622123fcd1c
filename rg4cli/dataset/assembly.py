"""MIMIC-RG4 assembly: imported studies -> (study, setting) examples -> cleaned records,
and the paper's Table 1 for the input and the output.

Per study, one example per setting its inputs allow (sn always; mn with a lateral;
sw with a prior report; mw with both). An example's inputs are cut to its setting
(sn has no lateral and no prior report even when the study has them), and its target
is the study's findings and impression, cleaned by the rewrite loop against exactly
those inputs. Records keep the raw target too (`raw_findings`, `raw_impression`).

Table 1 (paper): share of sn reports that carry PC / PP / View / Comm, per split,
as judged for the sn inputs. "input" judges the raw reports: `natural_sn` are the
studies whose own inputs are sn (no lateral, no prior; the paper's "MIMIC-CXR" rows),
`all_sn` every study's raw report read as sn; "output" judges the sn records written.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from rg4cli.dataset.mimic import MimicImport, MimicStudy
from rg4cli.dataset.rewrite_loop import CATEGORIES, Example, Outcome, RewriteLoop
from rg4cli.records.provenance import PROVENANCE, drop_annotations_of, status
from rg4cli.records.study import text_of

ROW_KEYS = ("n",) + CATEGORIES + ("input_agnostic",)


def example_id(study_id: str, setting: str) -> str:
    return f"s{study_id}_{setting}"


def examples_of(study: MimicStudy) -> list[Example]:
    out = []
    for setting in study.settings:
        out.append(
            Example(
                id=example_id(study.study_id, setting),
                setting=setting,
                findings=study.findings,
                impression=study.impression,
                view=study.view,
                prior_report=study.prior_report if setting[1] == "w" else None,
            )
        )
    return out


def study_setting(study: MimicStudy) -> str:
    return ("m" if study.lateral else "s") + ("w" if study.prior_report else "n")


def record_of(study: MimicStudy, outcome: Outcome, *, generator: str | None, judge: str) -> dict:
    ex = outcome.example
    m, w = ex.setting[0] == "m", ex.setting[1] == "w"
    rec = {
        "id": ex.id,
        "study_id": study.study_id,
        "subject_id": study.subject_id,
        "split": study.split,
        "setting": ex.setting,
        "study_setting": study_setting(study),
        "frontal": study.frontal,
        "view": study.view,
        "lateral": study.lateral if m else None,
        "prior_report": study.prior_report if w else None,
        "prior_study_id": study.prior_study_id if w else None,
        "indication": study.sections.get("indication"),
        "history": study.sections.get("history"),
        "findings": outcome.findings,
        "impression": outcome.impression,
        "raw_findings": study.findings,
        "raw_impression": study.impression,
        "rewrite": outcome.rewrite_field(generator, judge),
    }
    if study.annotations:
        carry_annotations(rec, study.annotations)
    if outcome.dropped:
        rec["dropped"] = outcome.dropped
        if outcome.error:
            rec["error"] = outcome.error
    return rec


def carry_annotations(rec: dict, annotations: dict) -> None:
    """Copy the study's annotations into its record, keeping only those whose text is still there.

    The rewriter may have replaced findings or impression: an annotation bound to the old
    text leaves with it (drop_annotations_of), one bound to a text it left alone stays.
    """
    rec.update(json.loads(json.dumps(annotations)))  # a deep copy: records of one study share nothing
    bound = rec.get(PROVENANCE) or {}
    keep = tuple(
        name
        for name, b in bound.items()
        if isinstance(b, dict) and status(rec, name, text_of(rec, b.get("text", "auto"))) == "match"
    )
    drop_annotations_of(rec, keep=keep)


def _row() -> dict:
    return {k: 0 for k in ROW_KEYS}


@dataclass
class BuildStats:
    """Counts for --stats: Table 1 before/after, examples per setting, drops and why."""

    table_in_natural: dict = field(default_factory=lambda: defaultdict(_row))
    table_in_all: dict = field(default_factory=lambda: defaultdict(_row))
    table_out: dict = field(default_factory=lambda: defaultdict(_row))
    written: Counter = field(default_factory=Counter)  # per setting
    dropped: Counter = field(default_factory=Counter)  # per reason
    dropped_by_setting: Counter = field(default_factory=Counter)
    rounds: Counter = field(default_factory=Counter)
    changed: int = 0
    unresolved: int = 0
    resumed: int = 0
    studies: int = 0

    @staticmethod
    def _add(table: dict, split: str | None, verdict: dict) -> None:
        for key in (split or "none", "all"):
            row = table[key]
            row["n"] += 1
            for c in CATEGORIES + ("input_agnostic",):
                row[c] += bool(verdict.get(c))

    def add(self, rec: dict, *, resumed: bool = False) -> None:
        """Account one written or dropped record (from this run, or read back on --resume)."""
        rw = rec.get("rewrite") or {}
        verdicts = rw.get("verdicts") or [{}]
        setting = rec.get("setting")
        if resumed:
            self.resumed += 1
        if setting == "sn":
            self._add(self.table_in_all, rec.get("split"), verdicts[0])
            if rec.get("study_setting") == "sn":
                self._add(self.table_in_natural, rec.get("split"), verdicts[0])
        if rec.get("dropped"):
            self.dropped[rec["dropped"]] += 1
            self.dropped_by_setting[setting] += 1
            return
        self.written[setting] += 1
        self.rounds[rw.get("rounds", 0)] += 1
        self.changed += bool(rw.get("changed"))
        self.unresolved += not rw.get("resolved", True)
        if setting == "sn":
            self._add(self.table_out, rec.get("split"), verdicts[-1])

    @staticmethod
    def _pct(table: dict) -> dict:
        out = {}
        for split in sorted(table, key=lambda s: (s == "all", s)):
            row = table[split]
            n = row["n"]
            out[split] = {
                "n": n,
                **{c: round(100.0 * row[c] / n, 2) if n else 0.0 for c in CATEGORIES + ("input_agnostic",)},
            }
        return out

    def drop_rate(self) -> float | None:
        """Dropped examples / examples decided (written + dropped), this run and resumed alike."""
        dropped = sum(self.dropped.values())
        total = sum(self.written.values()) + dropped
        return round(dropped / total, 6) if total else None

    def to_json(self, imported: MimicImport | None = None, generator_stats: dict | None = None) -> dict:
        out = {
            "table1": {
                "input_natural_sn": self._pct(self.table_in_natural),
                "input_all_sn": self._pct(self.table_in_all),
                "output_sn": self._pct(self.table_out),
            },
            "examples": {
                "written": dict(sorted(self.written.items())),
                "dropped": dict(sorted(self.dropped.items())),
                "dropped_by_setting": dict(sorted(self.dropped_by_setting.items())),
                "drop_rate": self.drop_rate(),
                "changed": self.changed,
                "unresolved_kept": self.unresolved,
                "rounds": {str(k): v for k, v in sorted(self.rounds.items())},
                "resumed": self.resumed,
            },
        }
        if imported is not None:
            out["studies"] = {
                "in_metadata": imported.n_studies,
                "used": self.studies,
                "skipped": dict(sorted(imported.skipped.items())),
                "skip_examples": {k: v for k, v in sorted(imported.skip_examples.items())},
                "notes": dict(sorted(imported.notes.items())),
            }
        if generator_stats:
            out["generator"] = dict(sorted(generator_stats.items()))
        return out


def format_table1(stats_json: dict) -> str:
    """The paper's Table 1 as text: % of sn reports with each category, per split."""
    lines = []
    header = (
        f"{'dataset':<22}{'split':<10}{'n':>8}"
        + "".join(f"{c.upper() if c != 'view' else 'View':>8}" for c in CATEGORIES)
        + f"{'any':>8}"
    )
    lines.append("Table 1: % of sn reports with input-agnostic content (judged for the sn inputs)")
    lines.append(header)
    names = {"input_natural_sn": "input (natural sn)", "input_all_sn": "input (all as sn)", "output_sn": "output sn"}
    for key, name in names.items():
        for split, row in stats_json["table1"][key].items():
            lines.append(
                f"{name:<22}{split:<10}{row['n']:>8}"
                + "".join(f"{row[c]:>8.2f}" for c in CATEGORIES)
                + f"{row['input_agnostic']:>8.2f}"
            )
            name = ""
    ex = stats_json["examples"]
    lines.append(
        "written per setting: "
        + ", ".join(f"{k} {v}" for k, v in ex["written"].items())
        + f"; changed {ex['changed']}; unresolved kept {ex['unresolved_kept']}"
        + (f"; resumed {ex['resumed']}" if ex["resumed"] else "")
    )
    lines.append("rewrite rounds per written example: " + ", ".join(f"{k}: {v}" for k, v in ex["rounds"].items()))
    rate = ex.get("drop_rate")
    lines.append(
        "dropped: "
        + (f"{100 * rate:.1f}% of examples; " if rate is not None else "")
        + (", ".join(f"{k}: {v}" for k, v in ex["dropped"].items()) or "none")
        + (
            " (by setting: " + ", ".join(f"{k} {v}" for k, v in ex["dropped_by_setting"].items()) + ")"
            if ex["dropped"]
            else ""
        )
    )
    st = stats_json.get("studies")
    if st:
        lines.append(
            f"studies: {st['in_metadata']} in metadata, {st['used']} used; skipped: "
            + (", ".join(f"{k}: {v}" for k, v in st["skipped"].items()) or "none")
        )
        if st["notes"]:
            lines.append("notes: " + ", ".join(f"{k}: {v}" for k, v in st["notes"].items()))
    gen = dict(stats_json.get("generator") or {})
    edits = {k.split(" ", 1)[1]: gen.pop(k) for k in list(gen) if k.startswith("edits ")}
    if edits:
        lines.append("rewriter edits per category: " + ", ".join(f"{k} {v}" for k, v in sorted(edits.items())))
    if gen:
        lines.append("generator: " + ", ".join(f"{k} {v}" for k, v in gen.items()))
    return "\n".join(lines)


def build_records(
    studies: Iterable[MimicStudy],
    loop: RewriteLoop,
    stats: BuildStats,
    *,
    generator: str | None,
    judge: str,
    done: set[str] | frozenset = frozenset(),
    batch_studies: int = 64,
    limit: int | None = None,
) -> Iterator[dict]:
    """Yield one record per (study, setting), in study order then INPUT_SETTINGS order.

    Dropped examples are yielded too, with a `dropped` reason (the CLI writes them to
    --rejects, not to the dataset). Pairs whose id is in `done` are not redone.
    """
    batch: list[tuple[MimicStudy, list]] = []
    n_studies = 0

    def flush() -> Iterator[dict]:
        examples = [e for _, exs in batch for e in exs]
        outcomes = iter(loop.run(examples)) if examples else iter(())
        for study, exs in batch:
            for _ in exs:
                rec = record_of(study, next(outcomes), generator=generator, judge=judge)
                stats.add(rec)
                yield rec

    for study in studies:
        if limit is not None and n_studies >= limit:
            break
        n_studies += 1
        stats.studies += 1
        todo = [e for e in examples_of(study) if e.id not in done]
        if not todo:
            continue
        batch.append((study, todo))
        if len(batch) >= batch_studies:
            yield from flush()
            batch = []
    if batch:
        yield from flush()
