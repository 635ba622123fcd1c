"""Uncertainty: resampled values equal `rg4 score` on the resampled files; AR equals brute force."""

from __future__ import annotations

import io
import json
import random
import shutil

import numpy as np
import pytest

from rg4cli.metrics import clinical, nlg
from rg4cli.metrics.resample import ReportStatistics, resample_weights
from rg4cli.metrics.score import ScoreSettings, hall_block, score_files
from rg4cli.metrics.significance import approximate_randomization, holm, swap_masks
from rg4cli.metrics.uncertainty import lookup

HAS_JAVA = shutil.which("java") is not None
SENTENCES = [
    "The heart is normal in size.",
    "There is no pleural effusion.",
    "No pneumothorax is seen.",
    "Mild cardiomegaly is unchanged.",
    "Left basilar atelectasis.",
    "The lungs are clear.",
    "Small right pleural effusion.",
    "Possible mild edema.",
    "No focal consolidation.",
    "Patchy opacity may represent pneumonia.",
    "Degenerative changes of the spine.",
    "Lung volumes are low.",
]


def _corpus(n: int, seed: int) -> tuple[list[dict], list[dict], list[dict]]:
    rng = random.Random(seed)

    def report() -> str:
        return " ".join(rng.sample(SENTENCES, rng.randint(1, 4)))

    refs, a, b = [], [], []
    for i in range(n):
        setting = rng.choice(["sn", "sw", "mn", "mw"])
        refs.append({"id": f"r{i}", "findings": report(), "setting": setting})
        for side in (a, b):
            rec = {"id": f"r{i}", "report": report() if rng.random() > 0.08 else "", "setting": setting}
            if rng.random() < 0.8:
                rec["hallucination"] = {
                    "input_agnostic": rng.random() < 0.3,
                    "pc": rng.random() < 0.3,
                    "pp": rng.random() < 0.3,
                    "view": rng.random() < 0.1,
                    "comm": False,
                    "unsupported": ["pc"] if rng.random() < 0.3 else [],
                }
            side.append(rec)
    return refs, a, b


def _write(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def _values_match(stats: ReportStatistics, weights: np.ndarray, summary: dict) -> int:
    checked = 0
    for path, v in stats.values(weights[None]).items():
        want = lookup(summary, path)
        got = None if np.isnan(v[0]) else float(v[0])
        assert (want is None) == (got is None), (path, want, got)
        if want is not None:
            assert abs(got - want) <= 1e-12, (path, got, want)
            checked += 1
    return checked


@pytest.mark.slow
@pytest.mark.skipif(not HAS_JAVA, reason="METEOR needs Java")
def test_resampled_values_equal_rg4_score_on_resampled_files(tmp_path):
    """Every metric of several bootstrap resamples equals `rg4 score` on the files with the
    drawn reports written out (duplicates as new ids), to 1e-12."""
    refs, hyps, _ = _corpus(36, seed=3)
    config = ScoreSettings()
    result = score_files(_write(tmp_path / "a.jsonl", hyps), _write(tmp_path / "ref.jsonl", refs), config)
    stats = ReportStatistics.of_system(result.systems[0])
    assert _values_match(stats, np.ones(len(hyps)), result.summary) > 100
    weights = next(resample_weights(len(hyps), 3, seed=7))
    for k, w in enumerate(weights):
        hyp_rows, ref_rows = [], []
        for i, times in enumerate(w.astype(int)):
            for copy in range(times):
                hyp_rows.append({**hyps[i], "id": f"{hyps[i]['id']}#{copy}"})
                ref_rows.append({**refs[i], "id": f"{refs[i]['id']}#{copy}"})
        res = score_files(
            _write(tmp_path / f"a{k}.jsonl", hyp_rows), _write(tmp_path / f"ref{k}.jsonl", ref_rows), config
        )
        assert _values_match(stats, w, res.summary) > 100


def _brute_force_values(hyps, refs, labels_h, labels_r, hall, settings, meteor_stats) -> dict[str, float | None]:
    """Every metric of one corpus re-scored from its texts (METEOR from its segments' statistics)."""
    groups = {s: [i for i, x in enumerate(settings) if x == s] for s in ("sn", "sw", "mn", "mw")}
    groups = {s: idx for s, idx in groups.items() if idx}
    scores = nlg.nlg_scores(hyps, refs, groups=groups, meteor=False)
    out: dict[str, float | None] = {}
    for block, idx in [("overall", list(range(len(hyps)))), *((f"by_setting.{s}", i) for s, i in groups.items())]:
        corpus = scores["overall" if block == "overall" else block.split(".")[1]].corpus
        for key, value in corpus.items():
            out[f"{block}.{key}"] = value
        if meteor_stats is not None:
            out[f"{block}.meteor"] = nlg.meteor_scores([meteor_stats[i] for i in idx])[0]
        ce = clinical.ce_scores([labels_h[i] for i in idx], [labels_r[i] for i in idx])
        for key, triple in ce.items():
            for m, v in triple.items():
                out[f"{block}.ce.{key}.{m}"] = v
        h = hall_block([hall[i] for i in idx])
        if h is not None:
            out[f"{block}.hall.rate"] = h["rate"]
            for part in ("present", "unsupported"):
                for c, v in h[part].items():
                    out[f"{block}.hall.{part}.{c}"] = v
    return out


def test_approximate_randomization_equals_brute_force(tmp_path):
    """AR's p-value for every metric equals re-scoring each swapped corpus from its texts."""
    refs, a_rows, b_rows = _corpus(12, seed=5)
    config = ScoreSettings(meteor=False)
    ref = _write(tmp_path / "ref.jsonl", refs)
    result = score_files(
        _write(tmp_path / "a.jsonl", a_rows), ref, config, against=_write(tmp_path / "b.jsonl", b_rows)
    )
    sa, sb = result.systems
    a, b = ReportStatistics.of_system(sa), ReportStatistics.of_system(sb)
    trials, seed = 60, 11
    ar = approximate_randomization(a, b, trials, seed)
    (ha, ra), (hb, _) = sa.prepared, sb.prepared
    counts: dict[str, int] = {}
    observed = None
    for mask in [np.zeros((1, len(a)))] + list(swap_masks(len(a), trials, seed)):
        for row in mask:
            pick = lambda x, y, row=row: [y[i] if row[i] else x[i] for i in range(len(row))]  # noqa: E731 - a one-line swap rule bound per row
            va = _brute_force_values(
                pick(ha, hb), ra, pick(sa.hyp_labels, sb.hyp_labels), sa.ref_labels,
                pick(sa.hallucination, sb.hallucination), sa.settings, None,
            )  # fmt: skip
            vb = _brute_force_values(
                pick(hb, ha), ra, pick(sb.hyp_labels, sa.hyp_labels), sa.ref_labels,
                pick(sb.hallucination, sa.hallucination), sa.settings, None,
            )  # fmt: skip
            delta = {k: vb[k] - va[k] for k in va if va[k] is not None and vb.get(k) is not None}
            if observed is None:
                observed = delta
                continue
            for k, d in delta.items():
                o = abs(observed[k])
                counts[k] = counts.get(k, 0) + (abs(d) >= o - 1e-9 * max(1.0, o))
    assert observed is not None
    assert set(ar) >= set(observed)
    for path, d in observed.items():
        assert abs(ar[path]["delta"] - d) <= 1e-12, path
        assert ar[path]["p"] == (counts[path] + 1) / (trials + 1), (path, ar[path]["p"], counts[path])


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03, None]) == [0.03, 0.06, 0.06, None]
    assert holm([0.5]) == [0.5]


def test_resamples_depend_on_the_seed_only():
    one = np.concatenate(list(resample_weights(30, 120, seed=4)))
    assert one.shape == (120, 30) and np.all(one.sum(1) == 30)
    again = np.concatenate(list(resample_weights(30, 60, seed=4)))
    assert np.array_equal(one[:60], again)
    assert not np.array_equal(one, np.concatenate(list(resample_weights(30, 120, seed=5))))


def test_cli_json_shape(tmp_path):
    """--bootstrap and a repeated --against fill "uncertainty" and "comparisons" as documented."""
    refs, a_rows, b_rows = _corpus(20, seed=9)
    ref = _write(tmp_path / "ref.jsonl", refs)
    a, b = _write(tmp_path / "a.jsonl", a_rows), _write(tmp_path / "b.jsonl", b_rows)
    config = ScoreSettings(meteor=False, bootstrap=50, trials=99, seed=3)
    s = score_files(a, ref, config, against=[b, a]).summary
    u = s["uncertainty"]
    assert (u["method"], u["resamples"], u["ci"], u["seed"], u["approximate"]) == (
        "percentile bootstrap",
        50,
        0.95,
        3,
        [],
    )
    m = u["metrics"]["overall.ce.micro_14_unc_pos.f1"]
    assert m["low"] <= m["value"] <= m["high"] and m["se"] > 0
    assert m["signature"] == "ce.micro_14_unc_pos.f1|tok:r2gen|lab:rules|boot:50|ci:0.95|seed:3|rg4:0.1.0"
    assert "by_setting.sn.bleu_4" in u["metrics"] and "overall.hall.rate" in u["metrics"]
    assert [c["system"] for c in s["comparisons"]] == [b, a]
    first, same = (c["metrics"]["overall.bleu_4"] for c in s["comparisons"])
    assert same["delta"] == 0 and same["p_ar"] == 1.0 and same["p_boot"] == 1.0
    assert first["p_ar_holm"] == min(1.0, 2 * first["p_ar"]) or first["p_ar_holm"] >= first["p_ar"]
    assert first["wilcoxon_p"] == s["against"]["tests"]["bleu_4"]["p_value"]
    assert s["against"]["file"] == b
    assert score_files(a, ref, ScoreSettings(meteor=False)).summary["uncertainty"] is None


def test_tables_show_intervals_and_mark_significance():
    from rich.console import Console

    from rg4cli.metrics.tables_uncertainty import uncertainty_tables

    m = {"value": 0.203, "low": 0.195, "high": 0.211, "se": 0.004, "signature": "x"}
    c = {"a": 0.2, "b": 0.3, "delta": 0.1, "p_ar": 0.001, "p_ar_holm": 0.002, "p_boot": 0.01, "wilcoxon_p": None}
    summary = {
        "by_setting": {},
        "uncertainty": {"ci": 0.95, "resamples": 1000, "seed": 1, "metrics": {"overall.bleu_4": m}},
        "comparisons": [{"system": "b", "n": 9, "trials": 999, "resamples": None, "metrics": {"overall.cider": c}}],
    }
    console = Console(width=200, record=True, file=io.StringIO())
    for item in uncertainty_tables(summary):
        console.print(item)
    text = console.export_text()
    assert "0.203 [0.195, 0.211]" in text
    assert [line.rstrip().endswith("*") for line in text.splitlines() if line.strip().startswith("CIDEr")] == [True]


def test_systems_on_the_same_references_share_cider_work(tmp_path):
    """B's resampled values are the same whether B shares A's reference side or not."""
    from rg4cli.metrics.resample import bootstrap_values

    refs, a_rows, b_rows = _corpus(30, seed=2)
    ref = _write(tmp_path / "ref.jsonl", refs)
    result = score_files(
        _write(tmp_path / "a.jsonl", a_rows),
        ref,
        ScoreSettings(meteor=False),
        against=_write(tmp_path / "b.jsonl", b_rows),
    )
    a, b = (ReportStatistics.of_system(s) for s in result.systems)
    _, shared = bootstrap_values([a, b], 40, seed=1)
    alone = bootstrap_values([ReportStatistics.of_system(result.systems[1])], 40, seed=1)[0]
    assert b.cider_block(np.arange(len(b))).df is a.cider_block(np.arange(len(a))).df
    for path, v in alone.items():
        assert np.allclose(shared[path], v, rtol=0, atol=1e-12, equal_nan=True), path


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("bootstrap", 1, "--bootstrap"), ("ci", 1.5, "--ci"), ("trials", -1, "--trials"), ("seed", -2, "--seed")],
)
def test_bad_uncertainty_options_are_input_errors(option, value, message):
    from rg4cli.errors import InputError

    with pytest.raises(InputError, match=message):
        ScoreSettings(**{option: value}).check()


def test_an_output_never_replaces_a_repeated_against(tmp_path):
    from rg4cli.cli.common import check_options
    from rg4cli.errors import InputError

    b = tmp_path / "b.jsonl"
    b.write_text("")
    with pytest.raises(InputError):
        check_options({"input": "a.jsonl", "against": ["c.jsonl", str(b)], "output": str(b)})
