"""`rg4 build-data`: MIMIC-CXR-JPG import, the judge -> rewrite -> re-judge loop, the
rules rewriter, the label guard, Table 1, --resume, and the CLI."""

from __future__ import annotations

import csv
import gzip
import json
import zipfile
from pathlib import Path

import pytest

from rg4cli.dataset.assembly import BuildStats, build_records
from rg4cli.dataset.mimic import SKIP_NO_FRONTAL, SKIP_NO_REPORT, SKIP_NO_SECTIONS, MimicImport
from rg4cli.dataset.rewrite_loop import DROP_LABELS, DROP_UNRESOLVED, Example, RewriteLoop, RewriteReply
from rg4cli.dataset.rewriters import RulesRewriter
from rg4cli.errors import InputError
from rg4cli.judges.backends import make_judge
from rg4cli.labelers.backends import make_labeler

JUDGE = make_judge("rules")
LABELER = make_labeler("rules")


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---- import --------------------------------------------------------------------------
def _write_csv(path: Path, header, rows, gz=True):
    opener = (lambda p: gzip.open(p, "wt", newline="")) if gz else (lambda p: open(p, "w", newline=""))
    with opener(path) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


META = [
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "Rows",
    "Columns",
    "StudyDate",
    "StudyTime",
]
REPORT = "FINAL REPORT\n INDICATION: Cough.\n\n FINDINGS: {f}\n\n IMPRESSION: {i}\n"


def _tree(root: Path, gz=True, reports_zip=False):
    """Subject 10000001: three studies listed out of date order; subject 10000002: skips."""
    rows = [
        # study 3 (latest): AP bigger than PA -> PA still wins; two PA -> the larger one
        ["d3ap", "10000001", "50000003", "", "AP", 3000, 3000, "21300105", "090000"],
        ["d3pa2", "10000001", "50000003", "", "PA", 2000, 2000, "21300105", "090000"],
        ["d3pa1", "10000001", "50000003", "", "PA", 2500, 2000, "21300105", "090000"],
        ["d3ll", "10000001", "50000003", "", "LL", 2000, 2000, "21300105", "090000"],
        # study 1 (earliest), AP only, no lateral
        ["d1ap", "10000001", "50000001", "", "AP", 2000, 2000, "21300101", "235959.5"],
        # study 2: same day as study 3, earlier time; PA + LATERAL
        ["d2pa", "10000001", "50000002", "", "PA", 2000, 2000, "21300105", "081500"],
        ["d2lat", "10000001", "50000002", "", "LATERAL", 2000, 2000, "21300105", "081500"],
        # subject 2: no frontal / no report / no findings+impression
        ["d4lat", "10000002", "50000004", "", "LATERAL", 2000, 2000, "21300101", "100000"],
        ["d5pa", "10000002", "50000005", "", "PA", 2000, 2000, "21300102", "100000"],
        ["d6pa", "10000002", "50000006", "", "PA", 2000, 2000, "21300103", "100000"],
    ]
    ext = ".csv.gz" if gz else ".csv"
    _write_csv(root / f"mimic-cxr-2.0.0-metadata{ext}", META, rows, gz)
    _write_csv(
        root / f"mimic-cxr-2.0.0-split{ext}",
        ["dicom_id", "study_id", "subject_id", "split"],
        [[r[0], r[2], r[1], "test" if r[1] == "10000002" else "train"] for r in rows],
        gz,
    )
    for r in rows:
        d = root / "files" / f"p{r[1][:2]}" / f"p{r[1]}" / f"s{r[2]}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{r[0]}.jpg").write_bytes(b"\xff\xd8\xff")
    reports = {
        ("10000001", "50000001"): REPORT.format(f="Small left effusion.", i="Left effusion."),
        ("10000001", "50000002"): REPORT.format(f="Left effusion is unchanged.", i="Stable left effusion."),
        ("10000001", "50000003"): REPORT.format(
            f="Compared to the prior study, the effusion has resolved.", i="No effusion."
        ),
        ("10000002", "50000006"): "FINAL REPORT\n TECHNIQUE: PA and lateral.\n",
    }
    if reports_zip:
        with zipfile.ZipFile(root / "mimic-cxr-reports.zip", "w") as zf:
            for (subj, study), text in reports.items():
                zf.writestr(f"files/p{subj[:2]}/p{subj}/s{study}.txt", text)
        return
    for (subj, study), text in reports.items():
        (root / "files" / f"p{subj[:2]}" / f"p{subj}" / f"s{study}.txt").write_text(text)


@pytest.mark.parametrize("gz,reports_zip", [(True, False), (False, True)])
def test_import_picks_images_prior_and_counts_skips(tmp_path, gz, reports_zip):
    _tree(tmp_path, gz=gz, reports_zip=reports_zip)
    imp = MimicImport(tmp_path, reports=tmp_path / "mimic-cxr-reports.zip" if reports_zip else None)
    studies = list(imp.studies())
    assert [s.study_id for s in studies] == ["50000001", "50000002", "50000003"]  # by date and time
    s1, s2, s3 = studies
    assert (s1.view, s1.lateral, s1.prior_report, s1.settings) == ("AP", None, None, ("sn",))
    assert s2.frontal == "files/p10/p10000001/s50000002/d2pa.jpg"
    assert s2.lateral == "files/p10/p10000001/s50000002/d2lat.jpg"
    assert s2.prior_study_id == "50000001"
    assert s2.prior_report == "findings: Small left effusion. impression: Left effusion."
    assert s2.settings == ("sn", "sw", "mn", "mw")
    assert s3.frontal.endswith("/d3pa1.jpg") and s3.view == "PA"  # PA over a larger AP; larger PA of two
    assert s3.lateral.endswith("/d3ll.jpg") and s3.prior_study_id == "50000002"  # same day, earlier time
    assert s3.split == "train" and s3.sections["indication"] == "Cough."
    assert imp.skipped == {SKIP_NO_FRONTAL: 1, SKIP_NO_REPORT: 1, SKIP_NO_SECTIONS: 1}
    assert imp.skip_examples[SKIP_NO_REPORT] == ["50000005"]


def test_import_passes_over_missing_image_files(tmp_path):
    _tree(tmp_path)
    (tmp_path / "files/p10/p10000001/s50000003/d3pa1.jpg").unlink()
    (tmp_path / "files/p10/p10000001/s50000002/d2lat.jpg").unlink()
    s = {x.study_id: x for x in MimicImport(tmp_path).studies()}
    assert s["50000003"].frontal.endswith("/d3pa2.jpg")
    assert s["50000002"].lateral is None
    trusting = {x.study_id: x for x in MimicImport(tmp_path, check_images=False).studies()}
    assert trusting["50000003"].frontal.endswith("/d3pa1.jpg")


def test_import_errors_name_file_line_and_field(tmp_path):
    with pytest.raises(InputError, match="no metadata CSV"):
        MimicImport(tmp_path)
    _tree(tmp_path)
    rows = [["dx", "10000003", "50000009", "", "PA", 1, 1, "not-a-date", "1"]]
    _write_csv(tmp_path / "mimic-cxr-2.0.0-metadata.csv.gz", META, rows)
    with pytest.raises(InputError) as info:
        MimicImport(tmp_path)
    assert "mimic-cxr-2.0.0-metadata.csv.gz:2: StudyDate: expected a number" in str(info.value)
    _write_csv(tmp_path / "mimic-cxr-2.0.0-metadata.csv.gz", ["dicom_id", "subject_id"], [["a", "1"]])
    with pytest.raises(InputError, match="missing column"):
        MimicImport(tmp_path)


# ---- the rules rewriter ---------------------------------------------------------------
def _fix(text, setting="sn", view="PA", cats=("pc", "pp", "view", "comm")):
    return RulesRewriter(JUDGE).rewrite_text(text, cats, setting, view)


@pytest.mark.parametrize(
    "before,after",
    [
        ("Unchanged moderate cardiomegaly.", "Moderate cardiomegaly."),
        ("Compared to the prior radiograph, the heart size is normal.", "The heart size is normal."),
        ("The right pleural effusion is unchanged in size.", "The right pleural effusion is present."),
        ("Mild pulmonary edema is again seen.", "Mild pulmonary edema is seen."),
        ("The left pleural effusion has resolved.", "No left pleural effusion."),
        ("Lung volumes are lower than on the prior study.", "Lung volumes are low."),
        ("There is interval increase in the right pleural effusion.", "There is right pleural effusion."),
        ("No significant change since the prior exam. No pneumothorax.", "No pneumothorax."),
        ("Heart size is unchanged. Lungs are clear.", "Lungs are clear."),
    ],
)
def test_rules_rewriter_states_comparisons_plainly_without_a_prior(before, after):
    assert _fix(before) == after


def test_rules_rewriter_removes_communication_and_procedures_and_fits_views():
    text = "Small right pneumothorax. Findings were discussed with Dr. ___ by telephone at 10:15 am."
    assert _fix(text) == "Small right pneumothorax."
    assert _fix("The patient is status post CABG. Lungs are clear.") == "Lungs are clear."
    views = (
        "PA and lateral views of the chest were obtained. On the lateral view, there is blunting of the "
        "posterior costophrenic angle."
    )
    assert _fix(views, "sn") == "There is blunting of the posterior costophrenic angle."
    assert _fix(views, "mn") == views  # both images given: nothing to fit
    # with a prior report the comparison is supported: untouched characters
    assert _fix("Unchanged moderate cardiomegaly.", "sw", cats=("pp", "comm")) == "Unchanged moderate cardiomegaly."
    assert _fix(None) is None


# ---- the loop ----------------------------------------------------------------------------
class _Scripted:
    """A generator that answers with fixed texts (to test the loop, not the wording)."""

    name = "scripted"

    def __init__(self, answer):
        self.answer = answer
        self.calls = 0

    def rewrite(self, tasks):
        self.calls += 1
        return [RewriteReply(*self.answer(t)) for t in tasks]


def test_label_guard_drops_an_example_whose_findings_changed():
    ex = Example("s1_sn", "sn", "Unchanged moderate cardiomegaly. Small left effusion.", "Cardiomegaly.", view="PA")
    lossy = _Scripted(lambda t: ("Small left effusion.", t.impression))
    [out] = RewriteLoop(JUDGE, lossy, LABELER, rounds=3).run([ex])
    assert out.dropped == DROP_LABELS and any("Cardiomegaly" in c for c in out.label_changes)
    [kept] = RewriteLoop(JUDGE, lossy, LABELER, rounds=3, guard=()).run([ex])
    assert kept.dropped is None and kept.resolved and kept.rounds == 1


def test_rounds_are_capped_and_unresolved_examples_kept_or_dropped():
    ex = Example("s1_sn", "sn", "Stable cardiomegaly.", None, view="PA")
    stubborn = _Scripted(lambda t: (t.findings, t.impression))
    [out] = RewriteLoop(JUDGE, stubborn, LABELER, rounds=2).run([ex])
    assert stubborn.calls == 2 and out.rounds == 2 and len(out.verdicts) == 3
    assert not out.resolved and out.dropped is None and out.verdicts[-1]["pc"]
    [out] = RewriteLoop(JUDGE, stubborn, LABELER, rounds=2, drop_unresolved=True).run([ex])
    assert out.dropped == DROP_UNRESOLVED
    [clean] = RewriteLoop(JUDGE, stubborn, LABELER, rounds=3).run([Example("s2_sn", "sn", "Normal.", None)])
    assert clean.rounds == 0 and not clean.changed


# ---- end to end on phantom studies ------------------------------------------------------


def _joined(r):
    from rg4cli.text.sections import join_sections

    return join_sections(r["findings"], r["impression"])


def test_no_rewrite_keeps_raw_targets(phantom_tree):
    imp = MimicImport(phantom_tree)
    stats = BuildStats()
    loop = RewriteLoop(JUDGE, None, None)
    recs = list(build_records(imp.studies(), loop, stats, generator=None, judge="rules", limit=10))
    assert recs and all(r["findings"] == r["raw_findings"] and r["impression"] == r["raw_impression"] for r in recs)
    assert all(r["rewrite"]["rounds"] == 0 and r["rewrite"]["generator"] is None for r in recs)


# ---- the hf generator on a tiny random causal LM ------------------------------------------
def test_hf_rewriter_loads_a_local_causal_lm_and_counts_malformed_replies(tmp_path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from rg4cli.dataset.rewrite_loop import SYSTEM_PROMPT, RewriteTask
    from rg4cli.dataset.rewriters import HFRewriter
    from rg4cli.model.tokenizers import build_bpe_tokenizer

    torch.manual_seed(0)
    tok = build_bpe_tokenizer(
        [SYSTEM_PROMPT, 'findings impression cardiomegaly effusion unchanged {} " :'], vocab_size=300
    )
    tok.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)

    rw = HFRewriter(str(tmp_path), device="cpu", max_new_tokens=4, max_retries=1)
    ex = Example("s1_sn", "sn", "Unchanged moderate cardiomegaly.", None, view="PA")
    task = RewriteTask(ex, ex.findings, None, ["pc"], [], [], 1)
    prompt = rw._prompt([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
    assert prompt == "<|system|>S\n<|user|>U\n<|assistant|>"  # the tokenizer's chat template
    [reply] = rw.rewrite([task])  # 4 random tokens are no JSON object: malformed, retried once, given up
    assert reply.error and "malformed" in reply.error
    assert rw.stats["malformed"] == 2 and rw.stats["failed"] == 1 and rw.stats["requests"] == 2

    rw._generate = lambda prompts, sample: ['{"findings": "Moderate cardiomegaly.", "impression": null}'] * len(prompts)
    [out] = RewriteLoop(JUDGE, rw, LABELER, rounds=3).run([ex])
    assert out.findings == "Moderate cardiomegaly." and out.resolved and out.dropped is None
