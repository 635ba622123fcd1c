"""The LLM judge (`--judge openai|hf`, `rg4 hallucination --backend openai|hf`) on a loopback server.

The fake chat-completions server plays the LLM: it reads the numbered sentences of the
prompt and answers the JSON the judge asks for, finding content by a few keywords.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import torch
from typer.testing import CliRunner

from rg4cli.cli.app import app
from rg4cli.errors import Rg4Error
from rg4cli.judges.backends import make_judge
from rg4cli.judges.llm import parse_judgement

from ..chat_stub import ChatServer

KEY = "sk-judge-secret-456"
KEYWORDS = {
    "pc": ("compared", "unchanged", "stable"),
    "pp": ("status post",),
    "view": ("lateral view", "pa view"),
    "comm": ("discussed",),
}


def llm_answer(user: str) -> dict:
    found = []
    for m in re.finditer(r"^(\d+)\. (.*)$", user, re.M):
        low = m.group(2).lower()
        cats = [c for c, words in KEYWORDS.items() if any(w in low for w in words)]
        if cats:
            views = [v for v, w in (("lateral", "lateral"), ("pa", "pa view")) if w in low] if "view" in cats else []
            found.append(
                {
                    "n": int(m.group(1)),
                    "categories": cats,
                    "views": views,
                    "phrases": [w for c in cats for w in KEYWORDS[c] if w in low],
                }
            )
    return {"sentences": found}


class FakeLLM(ChatServer):
    """Plays the LLM judge: behaviours "ok" (the keyword answer), "500", "badnumber" (a sentence
    number the report does not have)."""

    def respond(self, h, what, body):
        if what == "500":
            return self.send(h, 500, {"error": "x"})
        answer = llm_answer(body["messages"][-1]["content"])
        if what == "badnumber":
            answer = {"sentences": [{"n": 99, "categories": ["pc"]}]}
        time.sleep(0.05)
        return self.send(h, 200, self.completion("```json\n" + json.dumps(answer) + "\n```"))


@pytest.fixture
def llm(monkeypatch):
    monkeypatch.setenv("RG4_JUDGE_KEY", KEY)
    made = []

    def make(**kw):
        made.append(FakeLLM(**kw))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _judge(server, **kw):
    opts = dict(
        base_url=server.url,
        model_name="judge-70b",
        api_key_env="RG4_JUDGE_KEY",
        workers=3,
        timeout=5.0,
        max_retries=2,
        backoff=0.01,
    )
    opts.update(kw)
    return make_judge("openai", llm_options=opts)


TEXT = (
    "Compared to the prior study, the heart is unchanged. No effusion. "
    "Findings were discussed with Dr. ___. Small nodule on the lateral view."
)


def test_same_contract_and_verdicts_as_the_other_judges(llm):
    srv = llm()
    judge = _judge(srv)
    out = judge.judge([TEXT] * 4, ["sn", "sw", "mn", "mw"], projections=["PA"] * 4)
    rules = make_judge("rules").judge([TEXT], ["sn"])[0]
    for res in out:
        assert set(res) == set(rules) and res["backend"] == "openai"
        assert (res["pc"], res["pp"], res["view"], res["comm"]) == (True, False, True, True)
        assert res["views"] == ["lateral"]
    assert [r["unsupported"] for r in out] == [["pc", "view", "comm"], ["view", "comm"], ["pc", "comm"], ["comm"]]
    assert [r["input_agnostic"] for r in out] == [True] * 4
    sents = out[0]["sentences"]
    assert [TEXT[s["start"] : s["end"]].split(",")[0] for s in sents][:1] == ["Compared to the prior study"]
    assert [s["categories"] for s in sents] == [["pc"], ["comm"], ["view"]]
    assert sents[0]["phrases"] == ["compared", "unchanged"]
    assert len(srv.requests) == 1  # one text, four settings: one request
    assert srv.headers[0]["Authorization"] == "Bearer " + KEY
    user = srv.requests[0]["messages"][1]["content"]
    assert "1. Compared to the prior study" in user and "4. Small nodule on the lateral view." in user


def test_clean_and_empty_texts(llm):
    srv = llm()
    out = _judge(srv).judge(["The lungs are clear.", "", None], ["sn", "sn", "mw"])
    assert [r["input_agnostic"] for r in out] == [False] * 3 and out[0]["sentences"] == []
    assert len(srv.requests) == 1


def test_bounded_concurrency_retries_and_give_up(llm):
    srv = llm(script=["500", "badnumber"])
    judge = _judge(srv, workers=2)
    texts = [f"Finding number {k} is unchanged." for k in range(8)]
    out = judge.judge(texts, ["sn"] * 8)
    assert all(r["pc"] for r in out) and 1 < srv.max_in_flight <= 2
    assert judge.stats["http_5xx"] == 1 and judge.stats["malformed"] == 1 and judge.stats["failed"] == 0

    dead = llm(script=["500"] * 50)
    with pytest.raises(Rg4Error) as info:
        _judge(dead, max_retries=1).judge(["Stable effusion."], ["sn"])
    assert "could not judge 1" in str(info.value) and KEY not in str(info.value)


def test_replies_that_are_not_the_contract_are_malformed():
    for reply in (
        '{"sentences": [{"n": 3, "categories": ["pc"]}]}',
        '{"sentences": [{"n": 1, "categories": ["x"]}]}',
        '{"found": []}',
        "no json here",
        '{"sentences": [{"n": 1, "categories": ["pc"], "views": ["up"]}]}',
    ):
        with pytest.raises(ValueError):
            parse_judgement(reply, 2)
    got = parse_judgement('{"sentences": [{"n": 2, "categories": ["Communication", "view"], "views": ["PA"]}]}', 2)
    assert got == [{"n": 2, "categories": ["view", "comm"], "views": ["pa"], "phrases": []}]


def _records(tmp_path):
    texts = [
        TEXT,
        "The lungs are clear. No effusion.",
        "Status post CABG. Heart size normal.",
        "Stable cardiomegaly. Discussed with the team.",
    ]
    recs = [
        {"id": f"r{k}", "frontal": "f.png", "report": t, **({"prior_report": "Old."} if k == 3 else {})}
        for k, t in enumerate(texts)
    ]
    path = tmp_path / "reports.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


def test_hallucination_cli_with_the_openai_backend_then_discbert_learns_its_flags(llm, tmp_path):
    from rg4cli.training.classifiers import read_classifier_examples

    srv = llm()
    judged = tmp_path / "judged.jsonl"
    res = CliRunner().invoke(
        app,
        [
            "hallucination",
            str(_records(tmp_path)),
            "--backend",
            "openai",
            "--base-url",
            srv.url,
            "--model-name",
            "judge-70b",
            "--api-key-env",
            "RG4_JUDGE_KEY",
            "-o",
            str(judged),
        ],
    )
    assert res.exit_code == 0, res.output
    assert KEY not in res.output
    out = [json.loads(line)["hallucination"] for line in judged.read_text().splitlines()]
    assert [o["backend"] for o in out] == ["openai"] * 4
    flags = [[o[c] for c in ("pc", "pp", "view", "comm")] for o in out]
    assert flags == [[True, False, True, True], [False] * 4, [False, True, False, False], [True, False, False, True]]
    assert [o["unsupported"] for o in out][3] == ["comm"]  # the prior report supports the comparison

    examples = read_classifier_examples(str(judged), "discbert")
    assert examples.targets.tolist() == [[float(x) for x in row] for row in flags]
    res = CliRunner().invoke(
        app,
        [
            "train",
            "--task",
            "discbert",
            "--max-steps",
            "2",
            "--batch-size",
            "2",
            "-q",
            "-o",
            str(tmp_path / "disc"),
            str(judged),
        ],
    )
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(
        app,
        [
            "hallucination",
            str(judged),
            "--backend",
            "discbert",
            "--judge-model",
            str(tmp_path / "disc"),
            "-o",
            str(tmp_path / "again.jsonl"),
        ],
    )
    assert res.exit_code == 0, res.output


def test_build_data_with_the_openai_judge(llm, tmp_path):
    from .test_dataset_assembly import _tree

    srv = llm()
    _tree(tmp_path)
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(
        app,
        [
            "build-data",
            str(tmp_path),
            "-o",
            str(out),
            "--judge",
            "openai",
            "--base-url",
            srv.url,
            "--model-name",
            "judge-70b",
            "--api-key-env",
            "RG4_JUDGE_KEY",
            "--workers",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    recs = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    sn = recs["s50000002_sn"]  # "Left effusion is unchanged." without a prior: judged, rewritten, re-judged
    assert sn["rewrite"]["rounds"] >= 1 and sn["rewrite"]["verdicts"][0]["pc"]
    assert "unchanged" not in sn["findings"].lower() and sn["rewrite"]["resolved"]
    assert all(len(h["messages"]) == 2 for h in srv.requests) and KEY not in res.output


def test_the_hf_judge_on_a_local_causal_lm(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    from rg4cli.model.tokenizers import build_bpe_tokenizer

    torch.manual_seed(0)
    tok = build_bpe_tokenizer(['sentences categories views phrases pc pp view comm {} [] : " 1 2 3'], vocab_size=200)
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
    judge = make_judge("hf", str(tmp_path), device="cpu")
    assert judge.backend == "hf"
    judge.client._generate = lambda prompts, sample: [json.dumps(llm_answer(p)) for p in prompts]
    [res] = judge.judge([TEXT], ["mw"])
    assert res["backend"] == "hf" and res["unsupported"] == ["comm"] and res["views"] == ["lateral"]
