"""A loopback OpenAI-compatible chat-completions server, for tests, benchmarks and offline demos.

`OpenAICompatibleServer` answers ``POST /v1/chat/completions`` on 127.0.0.1 with a pluggable responder,
an optional fixed latency, and scripted `Fault`s (HTTP errors with ``Retry-After``, slow answers,
malformed bodies, replaced message content) so every failure path is exercised through the real
`openai` client. It counts and keeps every request it receives.

`DemoResponder` makes plausible, distinct synthetic texts for generation requests and labels texts by
the emotion names they contain for annotation requests, so the whole pipeline runs offline::

    python -m goemobalance.llm.testing --port 8011 --latency 0.05
    goemobalance generate --deficits deficits.json --out out/ --base-url http://127.0.0.1:8011/v1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from typing_extensions import Self

from goemobalance.labels import GOEMOTIONS, LabelSpace

Responder = Callable[[dict[str, Any]], str]

_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in ("a", "e", "i", "o", "u", "ai", "ou")]


@dataclass
class Fault:
    """A scripted misbehaviour for the next `times` requests that `match` (all requests when None).

    `status` answers with that HTTP status (and `headers`, e.g. ``{"Retry-After": "1"}``); `delay` waits
    before answering (to trigger client timeouts); `body` sends this raw text as the response body
    (malformed JSON, or the error body of a `status`); `content` replaces the assistant message's text.
    ``times=-1`` means forever.
    """

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: str | None = None
    content: str | None = None
    match: Callable[[dict[str, Any]], bool] | None = None
    times: int = 1


class DemoResponder:
    """Deterministic stand-in for an LLM: synthetic texts for generation, name-spotting for annotation."""

    def __init__(self, space: LabelSpace = GOEMOTIONS, confidence: float = 0.9):
        self.space = space
        self.confidence = confidence
        self._name_pattern = re.compile(
            r"\b(" + "|".join(map(re.escape, space.names)) + r")\b", re.IGNORECASE
        )

    def __call__(self, request: dict[str, Any]) -> str:
        if _task_of(request) == "annotate":
            return self.annotate(_last_user_text(request))
        return self.generate(request)

    def generate(self, request: dict[str, Any]) -> str:
        prompt = _last_user_text(request)
        count = _first_int(prompt, (r"Number of texts:\s*(\d+)", r"[Ww]rite (\d+)"), default=1)
        emotions = _emotions_line(prompt) or self._name_pattern.findall(prompt)[:2] or ["neutral"]
        rng = random.Random(hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest())
        items = [{"text": _synthetic_text(rng, emotions)} for _ in range(count)]
        return json.dumps({"items": items})

    def annotate(self, text: str) -> str:
        body = text.split("Text:", 1)[-1]
        found = sorted({m.lower() for m in self._name_pattern.findall(body)}) or ["neutral"]
        return json.dumps({"labels": [{"name": n, "confidence": self.confidence} for n in found]})


class OpenAICompatibleServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 speaking the chat-completions API; use as a context manager.

    Tests read back every request (``requests``, ``request_times``, ``authorizations``); a long-running
    server (``keep_requests=False``, as ``python -m goemobalance.llm.testing`` runs) only counts them, so
    its heap and garbage-collection pauses do not grow with the requests it has served.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: float = 0.0,
        port: int = 0,
        model: str = "loopback-model",
        keep_requests: bool = True,
    ):
        self.responder = responder or DemoResponder()
        self.latency = latency
        self.model = model
        self.keep_requests = keep_requests
        self.served = 0
        self.requests: list[dict[str, Any]] = []
        self.request_times: list[float] = []
        self.authorizations: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._httpd = _LoopbackHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def request_count(self) -> int:
        """Requests received since the start or the last `clear` (kept or not)."""
        with self._lock:
            return self.served

    def add_fault(self, fault: Fault) -> None:
        """Script a misbehaviour; faults apply in the order they were added."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Forget recorded requests and pending faults."""
        with self._lock:
            self.requests.clear()
            self.request_times.clear()
            self.authorizations.clear()
            self.served = 0
            self.max_in_flight = 0
            self._faults.clear()

    def start(self) -> OpenAICompatibleServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="openai-loopback",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, request: dict[str, Any], authorization: str) -> Fault | None:
        """Keep the request and pick the fault (if any) that applies to it."""
        with self._lock:
            self.served += 1
            if self.keep_requests:
                self.requests.append(request)
                self.request_times.append(time.monotonic())
                self.authorizations.append(authorization)
            for fault in self._faults:
                if fault.times != 0 and (fault.match is None or fault.match(request)):
                    fault.times -= 1 if fault.times > 0 else 0
                    return fault
        return None

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _completion(self, request: dict[str, Any], content: str) -> dict[str, Any]:
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
        completion_tokens = len(content.split())
        return {
            "id": "chatcmpl-" + hashlib.sha1(content.encode()).hexdigest()[:16],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", self.model),
            "choices": [
                {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


class _LoopbackHTTPServer(ThreadingHTTPServer):
    """One thread per connection, a listen backlog deep enough for many concurrent clients."""

    daemon_threads = True
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients closing connections (timeouts, shutdown) are normal here; stay quiet about them."""


def _handler_for(server: OpenAICompatibleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in separate writes; with Nagle on, the body waits for the client's
        # delayed ACK of the headers (~40 ms on Linux), which would dwarf the scripted latency.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                return
            try:
                request = json.loads(raw)
            except json.JSONDecodeError:
                self._send(400, {"error": {"message": "request body is not JSON", "type": "invalid_request"}})
                return
            fault = server._record(request, self.headers.get("Authorization", ""))
            server._enter()
            try:
                time.sleep(server.latency + (fault.delay if fault else 0.0))
            finally:
                server._leave()
            if fault and fault.status:
                message = {"error": {"message": f"scripted HTTP {fault.status}", "type": "scripted"}}
                body = fault.body.encode() if fault.body is not None else json.dumps(message).encode()
                self._send_raw(fault.status, body, fault.headers)
            elif fault and fault.body is not None:
                self._send_raw(200, fault.body.encode(), fault.headers)
            else:
                content = fault.content if fault and fault.content is not None else server.responder(request)
                self._send(200, server._completion(request, content))

        def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send_raw(status, json.dumps(payload).encode(), headers)

        def _send_raw(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    return Handler


def _task_of(request: dict[str, Any]) -> str:
    schema_name = ((request.get("response_format") or {}).get("json_schema") or {}).get("name", "")
    if schema_name:
        return "annotate" if "label" in schema_name else "generate"
    system = " ".join(
        str(m.get("content", "")) for m in request.get("messages", []) if m.get("role") == "system"
    )
    return "annotate" if "annotat" in system.lower() else "generate"


def _last_user_text(request: dict[str, Any]) -> str:
    users = [m for m in request.get("messages", []) if m.get("role") == "user"]
    return str(users[-1].get("content", "")) if users else ""


def _first_int(text: str, patterns: tuple[str, ...], default: int) -> int:
    for pattern in patterns:
        match = re.search(pattern, text)
        if match:
            return max(1, min(int(match.group(1)), 50))
    return default


def _emotions_line(prompt: str) -> list[str]:
    match = re.search(r"^Emotions?:\s*(.+)$", prompt, re.MULTILINE)
    return [e.strip() for e in match.group(1).split(",") if e.strip()] if match else []


def _synthetic_text(rng: random.Random, emotions: list[str]) -> str:
    words = [
        "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(8, 16))
    ]
    for emotion in emotions:
        words.insert(rng.randint(0, len(words)), emotion)
    return " ".join(words).capitalize() + rng.choice([".", "!", "?", "..."])


def main(argv: list[str] | None = None) -> None:
    """Serve the demo responder until interrupted (prints the base URL first)."""
    parser = argparse.ArgumentParser(description="Loopback OpenAI-compatible server with a demo responder.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args(argv)
    server = OpenAICompatibleServer(latency=args.latency, port=args.port, keep_requests=False)
    print(server.base_url, flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()


if __name__ == "__main__":
    main()
