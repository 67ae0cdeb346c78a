"""A webhook receiver on loopback for the notification tests (integration and browser): a
threaded http.server on 127.0.0.1 at a random port that keeps every request, and the signature
check a real receiver does."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


class Receiver:
    """`/flaky/…` answers 500 to a delivery's first two attempts, then 200; `/down/…` always 500;
    anything else 200. Each test uses paths of its own."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._answer(self.path, headers)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, headers, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _answer(self, path: str, headers: dict[str, str]) -> int:
        if path.startswith("/down/"):
            return 500
        if path.startswith("/flaky/"):
            delivery = headers.get("x-appos-delivery")
            seen = [r for r in self.received(path) if r.headers.get("x-appos-delivery") == delivery]
            return 500 if len(seen) < 2 else 200
        return 200

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def received(self, path: str, **match: Any) -> list[Received]:
        with self._lock:
            found = [r for r in self.requests if r.path == path]
        return [r for r in found if all(r.json().get(k) == v for k, v in match.items())]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def verify_signature(request: Received, secret: str) -> None:
    """What a receiver does with the headers: recompute the HMAC-SHA256 over "<timestamp>.<body>"
    with the target's secret, and check the time."""
    timestamp = request.headers["x-appos-timestamp"]
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-appos-signature"], f"sha256={mac}")
    assert abs(time.time() - int(timestamp)) < 300
