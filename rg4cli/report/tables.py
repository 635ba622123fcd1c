"""HTML tables of the page's run section: the run, per-setting metrics, per-condition CE, comparisons.

Numbers come from `rg4 score` summaries as written; an interval is shown where the summary
has one (`uncertainty.metrics[<dotted path>] = {value, low, high, se, signature}`), and
system comparisons where it has `comparisons` (or the older `against.tests`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from rg4cli.report.inputs import ScoreInput, TrainInput
from rg4cli.vocab import INPUT_SETTINGS, OBSERVATIONS

CE_PATH = "ce.micro_14_unc_pos"
# (column title, path inside a block, tooltip)
METRICS: tuple[tuple[str, str, str], ...] = (
    ("CE P", f"{CE_PATH}.precision", "clinical efficacy precision, micro over 14, uncertain = positive"),
    ("CE R", f"{CE_PATH}.recall", "clinical efficacy recall, micro over 14, uncertain = positive"),
    ("CE F1", f"{CE_PATH}.f1", "clinical efficacy F1, micro over 14, uncertain = positive (the paper's CE)"),
    ("BLEU-1", "bleu_1", "corpus BLEU-1"),
    ("BLEU-4", "bleu_4", "corpus BLEU-4"),
    ("METEOR", "meteor", "METEOR 1.5"),
    ("ROUGE-L", "rouge_l", "ROUGE-L"),
    ("CIDEr", "cider", "CIDEr-D"),
    ("hall.", "hall.rate", "share of reports with input-agnostic content"),
)


def dig(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def blocks(summary: dict) -> list[tuple[str, str, dict]]:
    """(label, dotted path, block) for each setting present, then overall."""
    out = []
    found = summary.get("by_setting")
    by_setting: dict = found if isinstance(found, dict) else {}
    for s in (*INPUT_SETTINGS, *sorted(set(by_setting) - set(INPUT_SETTINGS))):
        if isinstance(by_setting.get(s), dict):
            out.append((s, f"by_setting.{s}", by_setting[s]))
    out.append(("all", "overall", summary["overall"]))
    return out


def interval(summary: dict, path: str) -> dict | None:
    """The summary's interval for a dotted metric path, if it has one."""
    metrics = dig(summary, "uncertainty.metrics")
    if not isinstance(metrics, dict):
        return None
    found = metrics.get(path)
    if isinstance(found, dict) and isinstance(found.get("low"), (int, float)):
        return found
    return None


def num(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "–"
    return f"{value:.{digits}f}"


def _cell(summary: dict, block_path: str, block: dict, metric: str) -> str:
    value = dig(block, metric)
    ci = interval(summary, f"{block_path}.{metric}")
    if ci is None:
        return f"<td>{num(value)}</td>"
    return f'<td>{num(value)}<span class="ci"> [{num(ci["low"])}, {num(ci["high"])}]</span></td>'


def _table(head: Sequence[str], rows: Iterable[str], caption: str, cls: str = "") -> str:
    th = "".join(f'<th scope="col">{h}</th>' for h in head)
    return (
        f'<div class="scroll"><table class="{cls}"><caption>{escape(caption)}</caption>'
        f"<thead><tr>{th}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def metric_table(scores: Sequence[ScoreInput]) -> str:
    head = ["system", "setting", "n", *(f'<abbr title="{escape(tip)}">{t}</abbr>' for t, _, tip in METRICS)]
    rows = []
    for score in scores:
        for label, path, block in blocks(score.summary):
            cells = "".join(_cell(score.summary, path, block, m) for _, m, _ in METRICS)
            rows.append(
                f'<tr data-setting="{escape(label)}"><th scope="row">{escape(score.name)}</th>'
                f"<td>{escape(label)}</td><td>{block.get('n', '–')}</td>{cells}</tr>"
            )
    caption = "Metrics per setting (intervals in brackets where the summary has them)"
    return _table(head, rows, caption, "metrics")


def observation_table(scores: Sequence[ScoreInput]) -> str:
    """Per-condition CE (uncertain = positive): F1 per system, with support."""
    head = ["observation", *(f"{escape(s.name)} F1" for s in scores), "support"]
    rows = []
    for obs in OBSERVATIONS:
        cells, support = [], None
        for s in scores:
            entry = dig(s.summary, "per_observation.unc_pos") or {}
            o = entry.get(obs) if isinstance(entry, dict) else None
            cells.append(f"<td>{num((o or {}).get('f1'))}</td>")
            support = (o or {}).get("support", support)
        rows.append(
            f'<tr><th scope="row">{escape(obs)}</th>{"".join(cells)}<td>{support if support is not None else "–"}</td></tr>'
        )
    return _table(head, rows, "Clinical efficacy per observation (uncertain = positive)", "observations")


def _system_name(value: object) -> str:
    """An --against file as the page names it: its name without directories and `.jsonl`."""
    name = str(value).replace("\\", "/").rsplit("/", 1)[-1]
    return name.removesuffix(".gz").removesuffix(".jsonl") or "?"


def _comparison_row(label: str, path: str, m: dict) -> str:
    return (
        f'<tr><th scope="row">{escape(label)}</th><td>{escape(path)}</td><td>{num(m.get("a"))}</td>'
        f"<td>{num(m.get('b'))}</td><td>{num(m.get('delta'))}</td><td>{num(m.get('p_ar'), 4)}</td>"
        f"<td>{num(m.get('p_ar_holm'), 4)}</td><td>{num(m.get('p_boot'), 4)}</td>"
        f"<td>{num(m.get('wilcoxon_p'), 4)}</td></tr>"
    )


def comparison_table(scores: Sequence[ScoreInput]) -> str | None:
    """Paired comparisons: the table's metrics over all pairs first, every other path folded below."""
    main_paths = [f"overall.{m}" for _, m, _ in METRICS]
    rows, more = [], []
    for s in scores:
        comparisons = [c for c in s.summary.get("comparisons") or [] if isinstance(c, dict)]
        for comp in comparisons:
            metrics = comp.get("metrics") if isinstance(comp.get("metrics"), dict) else {}
            label = f"{s.name} vs {_system_name(comp.get('system', '?'))}"
            for path in main_paths:
                if isinstance(metrics.get(path), dict):
                    rows.append(_comparison_row(label, path, metrics[path]))
            for path, m in metrics.items():
                if path not in main_paths and isinstance(m, dict):
                    more.append(_comparison_row(label, path, m))
        tests = dig(s.summary, "against.tests")
        if isinstance(tests, dict) and not comparisons:  # an older summary: Wilcoxon tests only
            label = f"{s.name} vs {_system_name(dig(s.summary, 'against.file') or 'against')}"
            for metric, t in tests.items():
                if isinstance(t, dict):
                    m = {"a": t.get("mean_input"), "b": t.get("mean_against"), "wilcoxon_p": t.get("p_value")}
                    m["delta"] = t.get("mean_diff")
                    rows.append(_comparison_row(label, f"mean {metric}", m))
    if not rows and not more:
        return None
    head = ["systems", "metric", "a", "b", "Δ", "p (approx. rand.)", "p (Holm)", "p (bootstrap)", "p (Wilcoxon)"]
    caption = "System comparisons (paired, same studies; Δ as the summary gives it)"
    html = _table(head, rows, caption, "comparisons")
    if more:
        html += (
            f"<details><summary>All {len(more)} other compared numbers</summary>"
            + _table(head, more, "Other compared numbers", "comparisons")
            + "</details>"
        )
    return html


def signatures(summary: dict) -> list[str]:
    """The summary's metric signatures, one line per distinct recipe (`<metric>|tok:…|boot:…`)."""
    found = {str(summary["signature"])} if summary.get("signature") else set()
    blocks_ = [dig(summary, "uncertainty.metrics") or {}]
    blocks_ += [c.get("metrics") or {} for c in summary.get("comparisons") or [] if isinstance(c, dict)]
    for metrics in blocks_:
        if not isinstance(metrics, dict):
            continue
        for m in metrics.values():
            if isinstance(m, dict) and m.get("signature"):
                name, sep, rest = str(m["signature"]).partition("|")
                found.add(f"<metric>|{rest}" if sep else name)
    return sorted(found)


def _kv(pairs: Iterable[tuple[str, Any]]) -> str:
    items = []
    for k, v in pairs:
        if v is None or v == {} or v == []:
            continue
        items.append(f"<dt>{escape(str(k))}</dt><dd><code>{escape(str(v))}</code></dd>")
    return f'<dl class="kv">{"".join(items)}</dl>'


def _options(config: dict) -> str:
    flat: list[tuple[str, Any]] = []
    for k, v in config.items():
        if isinstance(v, dict):
            flat.extend((f"{k}.{kk}", vv) for kk, vv in v.items())
        else:
            flat.append((k, v))
    return " ".join(f"{k}={v}" for k, v in flat if v not in (None, "", [], {}))


def run_section(
    version: str, inputs: Sequence[tuple[str, str | None]], trains: Sequence[TrainInput], scores: Sequence[ScoreInput]
) -> str:
    parts = [_kv([("rg4 version (this page)", version), *inputs])]
    if trains:
        rows = []
        for t in trains:
            ts = t.summary
            rows.append(
                f'<tr><th scope="row">{escape(t.name)}</th><td>{escape(t.stage)}</td>'
                f"<td>{escape(str(t.config.get('seed', '–')))}</td><td>{ts.get('steps', '–')}</td>"
                f"<td>{num(ts.get('first_loss'))} → {num(ts.get('final_loss'))}</td>"
                f"<td><code>{escape(t.digest or '–')}</code></td>"
                f'<td class="opts"><details><summary>rg4 train …</summary><code>{escape(_options(t.config))}</code>'
                "</details></td></tr>"
            )
        head = ["model", "stage", "seed", "steps", "loss", "digest (SHA-256)", "options"]
        parts.append(_table(head, rows, "Training runs", "train"))
    if scores:
        score_rows = []
        for s in scores:
            sigs = signatures(s.summary)
            found = s.summary.get("config")
            config: dict = found if isinstance(found, dict) else {}
            score_rows.append(
                f'<tr><th scope="row">{escape(s.name)}</th><td><code>{escape(s.path)}</code></td>'
                f"<td>{s.summary.get('n', '–')}</td>"
                f'<td class="opts"><code>rg4 score {escape(_options(config))}</code></td>'
                f"<td>{'<br>'.join(f'<code>{escape(x)}</code>' for x in sigs) or '–'}</td></tr>"
            )
        parts.append(_table(["system", "summary", "n", "options", "metric signatures"], score_rows, "Scores", "scores"))
    return "".join(parts)
