"""A loopback chat-completions server for the openai rewriter (no network): each request is
answered by a scripted behaviour (see `Server`)."""

from __future__ import annotations

import json
import socket
import time

from ..chat_stub import ChatServer

KEY = "sk-test-secret-123"


def _fix(text):
    if text is None:
        return None
    for word in ("Unchanged ", "unchanged ", "Stable ", "stable "):
        text = text.replace(word, "")
    return text.replace(" is unchanged", " is present")


class Server(ChatServer):
    """Chat-completions stub. `script` is a list of behaviours consumed one per request
    (then `default`): ok, 429, 500, slow, badjson, badcontent, 401, redirect, huge, bigbody, drip, busy."""

    def __init__(self, script=(), default="ok", slow_s=1.0, redirect_to=None, redirect_code=302):
        self.redirect_to = redirect_to
        self.redirect_code = redirect_code
        self.slow_s = slow_s
        super().__init__(script, default)

    def respond(self, h, what, body):
        def send(code, payload, headers=()):
            self.send(h, code, payload, headers)

        if what == "429":
            return send(429, {"error": "rate limited"}, [("Retry-After", "0")])
        if what == "500":
            return send(500, {"error": "boom"})
        if what == "401":
            return send(401, {"error": "bad key"})
        if what == "badjson":
            return send(200, b"{not json")
        if what == "redirect":
            return send(self.redirect_code, {"moved": True}, [("Location", self.redirect_to + "?token=abc")])
        if what == "huge":  # declares 50 MB
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(50 << 20))
            h.end_headers()
            try:
                h.wfile.write(b"{" * 1000)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None
        if what == "bigbody":  # no length, more bytes than the client takes
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.end_headers()
            try:
                for _ in range(64):
                    h.wfile.write(b" " * 65536)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None
        if what == "drip":  # a byte every 0.25 s: each read is quick, the reply never completes in time
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", "1000")
            h.end_headers()
            try:
                for _ in range(40):
                    h.wfile.write(b" ")
                    h.wfile.flush()
                    time.sleep(0.25)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None
        user = body["messages"][-1]["content"]
        # the current text is the last JSON object line of the prompt
        current = [json.loads(line) for line in user.splitlines() if line.startswith("{")][-1]
        fixed = {"findings": _fix(current["findings"]), "impression": _fix(current["impression"])}
        content = "Here you go:\n```json\n" + json.dumps(fixed) + "\n```" if what != "badcontent" else "I cannot."
        if what == "slow":
            time.sleep(self.slow_s)
        if what == "busy":
            time.sleep(0.15)
        send(200, self.completion(content))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
