"""The openai generator against a loopback chat-completions server (no network).

The server runs in a thread and answers each request by a scripted behaviour:
a valid completion, 429 / 500, a slow reply past the client timeout, a body that is
not JSON, or a completion whose content is not the JSON object asked for; a redirect
to another server, a reply too large, one that trickles in byte by byte.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from rg4cli.dataset.rewrite_loop import DROP_FAILED, Example, RewriteLoop, RewriteTask
from rg4cli.dataset.rewriters import OpenAIRewriter
from rg4cli.errors import Rg4Error

from .rewrite_server import KEY


def _task(k=0, findings="Unchanged moderate cardiomegaly.", impression="No acute process."):
    ex = Example(f"s{k}_sn", "sn", findings, impression, view="PA")
    return RewriteTask(
        ex, findings, impression, ["pc"], [{"category": "pc", "sentence": findings, "phrase": "unchanged"}], [], 1
    )


def _client(url, monkeypatch, **kw):
    monkeypatch.setenv("RG4_TEST_KEY", KEY)
    opts = dict(api_key_env="RG4_TEST_KEY", workers=4, timeout=2.0, max_retries=3, backoff=0.01, max_backoff=0.05)
    opts.update(kw)
    return OpenAIRewriter(url, "test-model", **opts)


def test_ok_request_shape_and_key_header(server_factory, monkeypatch):
    srv = server_factory()
    rw = _client(srv.url, monkeypatch)
    [reply] = rw.rewrite([_task()])
    assert reply.error is None
    assert reply.findings == "moderate cardiomegaly."
    assert reply.impression == "No acute process."
    req = srv.requests[0]
    assert req["model"] == "test-model"
    assert [m["role"] for m in req["messages"]] == ["system", "user"]
    assert "prior comparison (PC)" in req["messages"][1]["content"]
    assert "no lateral image" in req["messages"][1]["content"]
    assert srv.headers[0]["Authorization"] == "Bearer " + KEY
    assert KEY not in repr(rw) and KEY not in json.dumps(dict(rw.stats))


def test_429_and_500_are_retried_with_backoff(server_factory, monkeypatch):
    srv = server_factory(script=["429", "500", "500"])
    rw = _client(srv.url, monkeypatch, workers=1)
    [reply] = rw.rewrite([_task()])
    assert reply.error is None and reply.findings == "moderate cardiomegaly."
    assert rw.stats["http_429"] == 1 and rw.stats["http_5xx"] == 2 and rw.stats["retries"] == 3
    assert len(srv.requests) == 4


def test_slow_reply_times_out_and_is_retried(server_factory, monkeypatch):
    srv = server_factory(script=["slow"], slow_s=10.0)  # far from the 1 s time-out: holds on a busy machine
    rw = _client(srv.url, monkeypatch, timeout=1.0, workers=1)
    t0 = time.monotonic()
    [reply] = rw.rewrite([_task()])
    assert reply.error is None and reply.findings == "moderate cardiomegaly."
    assert rw.stats["timeouts"] == 1
    assert time.monotonic() - t0 < 8  # gave up on the slow reply instead of waiting the 10 s for it


def test_malformed_replies_are_counted_and_retried(server_factory, monkeypatch):
    srv = server_factory(script=["badjson", "badcontent"])
    rw = _client(srv.url, monkeypatch, workers=1)
    [reply] = rw.rewrite([_task()])
    assert reply.error is None and reply.findings == "moderate cardiomegaly."
    assert rw.stats["malformed"] == 2 and rw.stats["replies_ok"] == 1


def test_persistent_failure_gives_up_and_the_loop_drops_the_example(server_factory, monkeypatch):
    srv = server_factory(default="500")
    rw = _client(srv.url, monkeypatch, max_retries=2, workers=2)

    class Judge:  # flags "unchanged" as prior comparison
        def judge(self, texts, settings):
            return [{"hallucination": {"pc": "nchanged" in t}} for t in texts]

    loop = RewriteLoop(Judge(), rw, None, rounds=3)
    exs = [_task(0).example, Example("s1_sn", "sn", "Normal heart.", None, view="PA")]
    out = loop.run(exs)
    assert out[0].dropped == DROP_FAILED and "HTTP 500" in out[0].error
    assert out[1].dropped is None and out[1].rounds == 0  # clean: never sent
    assert len(srv.requests) == 3 and rw.stats["failed"] == 1


def test_bounded_concurrency_and_order(server_factory, monkeypatch):
    srv = server_factory(default="busy")
    rw = _client(srv.url, monkeypatch, workers=3)
    tasks = [_task(k, findings=f"Unchanged finding number {k}.") for k in range(9)]
    replies = rw.rewrite(tasks)
    assert [r.findings for r in replies] == [f"finding number {k}." for k in range(9)]
    assert 1 < srv.max_in_flight <= 3


def test_auth_error_stops_the_run_without_showing_the_key(server_factory, monkeypatch):
    srv = server_factory(default="401")
    rw = _client(srv.url, monkeypatch)
    with pytest.raises(Rg4Error) as info:
        rw.rewrite([_task()])
    assert "401" in str(info.value) and "RG4_TEST_KEY" in str(info.value) and KEY not in str(info.value)


def test_dynamic_prompt_carries_earlier_attempts_and_judge_findings(server_factory, monkeypatch):
    # The server's first answer keeps the flagged word; the judge flags it again; the
    # second prompt must show attempt 1 and what the judge found in it.
    srv = server_factory()
    rw = _client(srv.url, monkeypatch, workers=1)

    class Judge:
        def judge(self, texts, settings):
            return [
                {
                    "hallucination": {
                        "pc": "nchanged" in t or "stable" in t.lower(),
                        "sentences": [{"text": "Stable effusion.", "categories": ["pc"], "phrases": ["stable"]}]
                        if "stable" in t.lower()
                        else [],
                    }
                }
                for t in texts
            ]

    calls = []
    real = rw.complete

    def first_keeps_stable(messages):
        calls.append(messages)
        if len(calls) == 1:
            return "Stable effusion.", None, None
        return real(messages)

    rw.complete = first_keeps_stable
    loop = RewriteLoop(Judge(), rw, None, rounds=3)
    ex = Example("s9_sn", "sn", "Unchanged stable effusion.", None, view="AP")
    [out] = loop.run([ex])
    assert len(calls) == 2
    second = calls[1][1]["content"]
    assert "Attempt 1:" in second and '"Stable effusion."' in second
    assert 'phrase: "stable"' in second and "Judge on the original:" in second
    assert "anteroposterior (AP)" in second
    assert out.rounds == 2 and out.verdicts[0]["pc"] and out.verdicts[1]["pc"]


@pytest.mark.parametrize("code", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_so_the_key_stays_with_the_endpoint(server_factory, monkeypatch, code):
    other = server_factory()  # another host:port; it must never see the request or the key
    srv = server_factory(default="redirect", redirect_to=other.url + "/chat/completions", redirect_code=code)
    rw = _client(srv.url, monkeypatch)
    with pytest.raises(Rg4Error) as info:
        rw.rewrite([_task(k) for k in range(3)])
    message = str(info.value)
    assert f"HTTP {code}" in message and "redirect" in message and other.url in message
    assert KEY not in message and "token=abc" not in message
    assert other.requests == [] and other.headers == []


def test_oversized_replies_are_not_read_and_are_retried(server_factory, monkeypatch):
    srv = server_factory(script=["huge", "bigbody"])
    rw = _client(srv.url, monkeypatch, workers=1, max_reply_bytes=16384)
    t0 = time.monotonic()
    [reply] = rw.rewrite([_task()])
    assert reply.error is None and reply.findings == "moderate cardiomegaly."
    assert rw.stats["oversized"] == 2 and len(srv.requests) == 3
    assert time.monotonic() - t0 < 10


def test_a_reply_that_trickles_in_times_out(server_factory, monkeypatch):
    srv = server_factory(script=["drip"])
    rw = _client(srv.url, monkeypatch, workers=1, timeout=1.0)
    t0 = time.monotonic()
    [reply] = rw.rewrite([_task()])
    assert reply.error is None and rw.stats["timeouts"] == 1
    assert time.monotonic() - t0 < 6  # not the 10 s the drip would take


def test_an_endpoint_that_keeps_failing_stops_the_run_with_the_count(server_factory, monkeypatch):
    srv = server_factory(default="500")
    rw = _client(srv.url, monkeypatch, workers=2, max_retries=1, max_consecutive_failures=3)
    with pytest.raises(Rg4Error) as info:
        rw.rewrite([_task(k) for k in range(20)])
    message = str(info.value)
    assert "keeps failing" in message and "HTTP 500" in message and "could not be done" in message
    assert rw.stats["failed"] >= 3 and len(srv.requests) < 2 * 20  # stopped early, not every example tried
    assert KEY not in message


def test_garbage_instead_of_http_is_retried_then_given_up(monkeypatch):
    # A raw TCP server: not HTTP at all, then a cut-short HTTP body.
    replies = [
        b"\x00\x01 garbage, no status line\r\n\r\n",
        b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"choices": ',
    ]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve():
        for k in range(4):
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(replies[k % 2])

    threading.Thread(target=serve, daemon=True).start()
    rw = _client(f"http://127.0.0.1:{listener.getsockname()[1]}/v1", monkeypatch, workers=1, max_retries=3)
    [reply] = rw.rewrite([_task()])
    listener.close()
    assert reply.error and "gave up after 4 tries" in reply.error
    assert rw.stats["failed"] == 1 and rw.stats["malformed"] + rw.stats["connection_errors"] == 4
