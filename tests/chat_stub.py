"""A loopback OpenAI-compatible chat-completions server for tests (no network, free port).

Each request consumes one scripted behaviour (then `default`); a subclass answers it in
`respond(handler, what, body)`, usually through `send`. The server records every request
body and its headers and the most requests it had in flight at once.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ChatServer:
    def __init__(self, script=(), default="ok"):
        self.script = list(script)
        self.default = default
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests.append(body)
                    outer.headers.append(dict(self.headers))
                    what = outer.script.pop(0) if outer.script else outer.default
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                self.in_flight = True
                try:
                    outer.respond(self, what, body)
                finally:
                    outer.release(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def respond(self, handler: BaseHTTPRequestHandler, what: str, body: dict) -> None:
        raise NotImplementedError

    def release(self, handler: BaseHTTPRequestHandler) -> None:
        """The request leaves the in-flight count: when its answer starts, before the client can
        read it (a client that retries at once must not meet its own finished request here)."""
        with self.lock:
            if getattr(handler, "in_flight", False):
                handler.in_flight = False
                self.in_flight -= 1

    def send(self, handler: BaseHTTPRequestHandler, code: int, payload, headers=()) -> None:
        self.release(handler)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            handler.send_header(k, v)
        handler.end_headers()
        try:
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def completion(content: str | None) -> dict:
        return {
            "id": "x",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        }

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
