"""Chat clients for an LLM: any OpenAI-compatible endpoint, or a local transformers causal LM.

The transport the rewriters (rg4cli.dataset.rewriters) and the LLM judge (rg4cli.judges.llm)
share: bounded concurrency, retries with back-off, malformed replies asked again, the
API key only ever in the Authorization header of requests to `--base-url`'s host
(redirects are never followed), replies capped in size and time. What a reply means is
the caller's `parse`.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rg4cli.errors import InputError, Rg4Error

# =====================================================================================
# openai-compatible chat completions
# =====================================================================================
MAX_REPLY_BYTES = 8 << 20  # a chat completion for one report is a few KB; more is a broken server
_READ_CHUNK = 1 << 16


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Answer a 3xx with the 3xx itself: following it would send the Authorization header on."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102 - urllib's hook
        return None


def _without_query(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class _Retryable(Exception):
    def __init__(self, kind: str, detail: str, retry_after: float | None = None):
        super().__init__(detail)
        self.kind = kind
        self.retry_after = retry_after


class OpenAIClient:
    """Chat completions through POST {base_url}/chat/completions, `workers` requests at a time.

    The API key is read from the environment variable `api_key_env` (may be unset for
    local servers) and is only ever put in the Authorization header. 429, 5xx,
    timeouts and connection errors are retried with exponential backoff (honouring
    Retry-After, capped); a reply that is not the JSON object asked for is counted as
    malformed and asked again, as is a reply over `max_reply_bytes` (not read further)
    or one that does not arrive whole within `timeout`. After `max_retries` retries the
    task fails (RewriteReply.error) and the loop drops that example. 401/403/404 and
    redirects stop the run: they are configuration errors that no retry fixes (a
    redirect is never followed, so the key goes to `base_url`'s host only). So does an
    endpoint on which `max_consecutive_failures` examples in a row failed (default: twice
    the workers, at least 8), saying how many examples could not be rewritten.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        workers: int = 4,
        timeout: float = 120.0,
        max_retries: int = 5,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        seed: int | None = 0,
        extra_body: dict | None = None,
        system_prompt: str | None = None,
        max_reply_bytes: int = MAX_REPLY_BYTES,
        max_consecutive_failures: int | None = None,
    ):
        if not base_url:
            raise InputError(
                "--base-url is required for openai (the chat-completions endpoint, e.g. http://localhost:8000/v1)"
            )
        if not model:
            raise InputError("--model-name is required for openai (the model name the server serves)")
        if not re.match(r"^https?://", base_url):
            raise InputError(f"--base-url must start with http:// or https://, got {base_url!r}")
        self.url = base_url.rstrip("/") + (
            "" if base_url.rstrip("/").endswith("/chat/completions") else "/chat/completions"
        )
        self.model = model
        self.api_key_env = api_key_env
        self._key = os.environ.get(api_key_env) or None
        self.workers = max(1, int(workers))
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.seed = seed
        self.extra_body = extra_body or {}
        self.system_prompt = system_prompt
        self.stats: Counter = Counter()
        self._lock = threading.Lock()
        self._fatal: Rg4Error | None = None
        self._rng = random.Random(seed)
        self.max_reply_bytes = max(1, int(max_reply_bytes))
        self.max_consecutive_failures = (
            max(8, 2 * self.workers) if max_consecutive_failures is None else max(1, int(max_consecutive_failures))
        )
        self._failures_in_a_row = 0
        self._opener = urllib.request.build_opener(_NoRedirect)

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(url={self.url!r}, model={self.model!r}, key_env={self.api_key_env!r})"

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.stats[key] += n

    def _read_reply(self, resp, started: float) -> bytes:
        """The body, at most max_reply_bytes, all of it within `timeout` seconds of the request."""
        declared = resp.headers.get("Content-Length") if resp.headers else None
        if declared and declared.strip().isdigit() and int(declared) > self.max_reply_bytes:
            raise _Retryable(
                "oversized", f"reply of {int(declared)} bytes is over the {self.max_reply_bytes}-byte limit"
            )
        chunks, size = [], 0
        while True:
            chunk = resp.read1(_READ_CHUNK)  # returns what one receive gave: a slow drip cannot hold it
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_reply_bytes:
                raise _Retryable("oversized", f"reply over the {self.max_reply_bytes}-byte limit")
            if time.monotonic() - started > self.timeout:
                raise _Retryable("timeouts", f"reply not complete after {self.timeout:g}s")
            chunks.append(chunk)

    def _post(self, messages: list[dict]) -> str:
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            **self.extra_body,
        }
        if self.seed is not None:
            body["seed"] = self.seed
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = "Bearer " + self._key
        req = urllib.request.Request(self.url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST")
        self._count("requests")
        started = time.monotonic()
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = self._read_reply(resp, started)
        except urllib.error.HTTPError as exc:
            code = exc.code
            location = exc.headers.get("Location") if exc.headers else None
            exc.close()  # the body is only informative, and could be any size
            if 300 <= code < 400:
                where = f" to {_without_query(urllib.parse.urljoin(self.url, location))}" if location else ""
                raise Rg4Error(
                    f"{self.url}: HTTP {code}: the server redirects{where}; rg4 does not follow "
                    "redirects (the API key would go along): give the final URL as --base-url"
                ) from None
            if code == 429 or 500 <= code < 600:
                retry_after = None
                ra = exc.headers.get("Retry-After") if exc.headers else None
                if ra:
                    try:
                        retry_after = float(ra)
                    except ValueError:
                        retry_after = None
                raise _Retryable("http_429" if code == 429 else "http_5xx", f"HTTP {code}", retry_after) from None
            if code in (401, 403):
                raise Rg4Error(
                    f"{self.url}: HTTP {code}: the server refused the credentials "
                    f"(key from ${self.api_key_env}{'' if self._key else ', which is not set'})"
                ) from None
            if code == 404:
                raise Rg4Error(
                    f"{self.url}: HTTP 404: no chat-completions endpoint here (--base-url usually ends in /v1)"
                ) from None
            raise _Retryable("http_other", f"HTTP {code}") from None
        except TimeoutError as exc:
            raise _Retryable("timeouts", f"timed out after {self.timeout:g}s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (socket.timeout, TimeoutError)):
                raise _Retryable("timeouts", f"timed out after {self.timeout:g}s") from None
            raise _Retryable("connection_errors", f"connection failed: {exc.reason}") from None
        except (ConnectionError, OSError) as exc:  # reset mid-read, remote closed, ...
            raise _Retryable("connection_errors", f"connection failed: {exc}") from None
        except http.client.HTTPException as exc:  # garbage instead of HTTP, a cut-short body, ...
            raise _Retryable("malformed", f"not an HTTP reply ({exc.__class__.__name__})") from None
        try:
            data = json.loads(raw.decode("utf-8"))
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError):
            raise _Retryable("malformed", "the server's reply is not a chat completion") from None
        if not isinstance(content, str):
            raise _Retryable("malformed", "the completion has no text content")
        return content

    def _sleep_before(self, attempt: int, retry_after: float | None) -> None:
        delay = min(self.max_backoff, self.backoff * (2**attempt))
        if retry_after is not None:
            delay = min(self.max_backoff, max(delay, retry_after))
        with self._lock:
            jitter = self._rng.uniform(0, delay * 0.25)
        time.sleep(delay + jitter)

    def ask(self, messages: list[dict], parse: Callable[[str], Any]) -> tuple[Any, str | None]:
        """(parse(reply), None) for one prompt, with retries, or (None, error) once it gives up.

        `parse` raises ValueError on a reply that is not what was asked for (counted as
        malformed and asked again)."""
        last = ""
        for attempt in range(self.max_retries + 1):
            if self._fatal is not None:
                return None, "stopped"
            try:
                parsed = parse(self._post(messages))
                self._count("replies_ok")
                with self._lock:
                    self._failures_in_a_row = 0
                return parsed, None
            except _Retryable as exc:
                self._count(exc.kind)
                last = str(exc)
                retry_after = exc.retry_after
            except ValueError as exc:  # the model did not answer as asked
                self._count("malformed")
                last = f"malformed reply: {exc}"
                retry_after = None
            if attempt < self.max_retries:
                self._count("retries")
                self._sleep_before(attempt, retry_after)
        self._count("failed")
        with self._lock:
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= self.max_consecutive_failures and self._fatal is None:
                self._fatal = Rg4Error(
                    f"{self.url}: the endpoint keeps failing ({self._failures_in_a_row} requests in a row given up "
                    f"after {self.max_retries + 1} tries each; last: {last}): stopped; {self.stats['failed']} "
                    "example(s) could not be done; the records written so far are kept (--resume continues)"
                )
        return None, f"gave up after {self.max_retries + 1} tries: {last}"

    def run_concurrently(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """fn over items, `workers` at a time, in item order; a stop (auth, redirect, an endpoint
        that keeps failing) is raised once the batch has returned."""

        def guarded(item):
            try:
                return fn(item)
            except Rg4Error as exc:
                with self._lock:
                    self._fatal = self._fatal or exc
                return None

        if self.workers == 1 or len(items) <= 1:
            out = [guarded(x) for x in items]
        else:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
                out = list(pool.map(guarded, items))  # map keeps item order
        if self._fatal is not None:
            raise self._fatal
        return out


# =====================================================================================
# local transformers causal LM
# =====================================================================================
class HFClient:
    """Chat replies from a local causal LM loaded by `from_pretrained(path)` (greedy decoding).

    The tokenizer's chat template formats the messages when it has one; otherwise a
    plain "System: ... User: ... Assistant:" transcript. Replies are parsed like the
    openai generator's; a malformed reply is retried (sampling, so the retry differs)
    up to `max_retries` times, then the example fails.
    """

    name = "hf"

    def __init__(
        self,
        model_path: str,
        *,
        device: str = "auto",
        max_new_tokens: int = 512,
        max_retries: int = 1,
        batch_size: int = 4,
        seed: int = 0,
        trust_remote_code: bool = False,
        system_prompt: str | None = None,
    ):
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:  # pragma: no cover - torch/transformers are dependencies
            raise Rg4Error(f"--generator hf needs torch and transformers: {exc}") from None
        if not model_path:
            raise InputError("--model is required for --generator hf (a local model directory)")
        self.torch = torch
        from rg4cli.devices import resolve_device

        device = str(resolve_device(device))  # the one --device resolution (auto -> cuda, mps or cpu)
        self.device = device
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
            self.model = AutoModelForCausalLM.from_pretrained(
                model_path, dtype=dtype, trust_remote_code=trust_remote_code
            ).to(device)  # type: ignore[arg-type]  # transformers' decorated .to() hides its signature
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot load a causal LM from {model_path}: {exc}") from None
        self.model.eval()
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.tokenizer.padding_side = "left"
        self.max_new_tokens = max_new_tokens
        self.system_prompt = system_prompt
        self.max_retries = max_retries
        self.batch_size = max(1, batch_size)
        self.seed = seed
        self.stats: Counter = Counter()

    def _prompt(self, messages: list[dict]) -> str:
        if getattr(self.tokenizer, "chat_template", None):
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        return "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages) + "Assistant:"

    def _generate(self, prompts: list[str], sample: bool) -> list[str]:
        torch = self.torch
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "do_sample": sample,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if sample:
            kwargs.update(temperature=0.7, top_p=0.95)
        with torch.no_grad():
            out = self.model.generate(**enc, **kwargs)
        new = out[:, enc["input_ids"].shape[1] :]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)

    def ask_batch(
        self, conversations: Sequence[list[dict]], parse: Callable[[str], Any] | Sequence[Callable[[str], Any]]
    ) -> list[tuple[Any, str | None]]:
        """(parse(reply), None) per conversation, or (None, error) once it gives up: greedy
        first, then sampled retries of the replies `parse` rejected (ValueError). `parse`
        may be one parser per conversation."""
        parsers = list(parse) if isinstance(parse, (list, tuple)) else [parse] * len(conversations)
        results: list[tuple[Any, str | None]] = [(None, "no reply")] * len(conversations)
        prompts = [self._prompt(messages) for messages in conversations]
        todo = list(range(len(conversations)))
        self.torch.manual_seed(self.seed)
        for attempt in range(self.max_retries + 1):
            still = []
            for b in range(0, len(todo), self.batch_size):
                idx = todo[b : b + self.batch_size]
                texts = self._generate([prompts[k] for k in idx], sample=attempt > 0)
                self.stats["requests"] += len(idx)
                for k, text in zip(idx, texts):
                    try:
                        results[k] = (parsers[k](text), None)
                        self.stats["replies_ok"] += 1
                    except ValueError as exc:
                        self.stats["malformed"] += 1
                        results[k] = (None, f"malformed reply: {exc}")
                        still.append(k)
            todo = still
            if not todo:
                break
            self.stats["retries"] += len(todo)
        self.stats["failed"] += len(todo)
        return results
