"""A fake of the X trends API: a real HTTP server on loopback, scripted per WOEID."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

V2_PATH = re.compile(r"^/2/trends/by/woeid/(?P<woeid>-?\d+)$")
V1_PATH = "/1.1/trends/place.json"
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}


@dataclass
class Reply:
    """One scripted answer: status, body bytes, extra headers and a delay."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    @classmethod
    def json(cls, document: Any, status: int = 200, **kwargs: Any) -> Reply:
        body = json.dumps(document, ensure_ascii=False).encode()
        return cls(status=status, body=body, **kwargs)

    @classmethod
    def trends(cls, *names: str, volumes: dict[str, int] | None = None) -> Reply:
        """A v2 success body listing names in rank order."""
        volumes = volumes or {}
        items = [
            {
                "trend_name": name,
                **({"tweet_count": volumes[name]} if name in volumes else {}),
            }
            for name in names
        ]
        return cls.json({"data": items})


@dataclass(frozen=True)
class RecordedRequest:
    """What the fake received: path, query parameters and headers."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]

    @property
    def woeid(self) -> int | None:
        match = V2_PATH.match(self.path)
        if match:
            return int(match["woeid"])
        ids = self.query.get("id")
        return int(ids[0]) if ids else None


class FakeXApi:
    """Answers trends requests from per-WOEID scripts; records every request.

    A WOEID's queued replies are used once each, in order; when its queue is empty
    the WOEID's standing reply answers; with neither, the fake answers 404.
    """

    def __init__(self, token: str, rate_limit: int = 75) -> None:
        self.token = token
        self.rate_limit = rate_limit
        self.requests: list[RecordedRequest] = []
        self._standing: dict[int, Reply] = {}
        self._queued: dict[int, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def always(self, woeid: int, reply: Reply) -> None:
        """Answer every request for woeid with reply, once its queue is empty."""
        self._standing[woeid] = reply

    def then(self, woeid: int, *replies: Reply) -> None:
        """Queue replies for woeid, each used for one request."""
        with self._lock:
            self._queued[woeid].extend(replies)

    def requests_for(self, woeid: int) -> list[RecordedRequest]:
        return [request for request in self.requests if request.woeid == woeid]

    @contextmanager
    def running(self) -> Iterator[FakeXApi]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()

    def _answer(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            remaining = max(self.rate_limit - len(self.requests), 0)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            reply = Reply.json(UNAUTHORIZED, status=401)
        elif request.woeid is None:
            reply = Reply.json({"title": "Not Found", "status": 404}, status=404)
        else:
            reply = self._scripted(request.woeid)
        reply.headers = {
            "content-type": "application/json;charset=utf-8",
            "x-rate-limit-limit": str(self.rate_limit),
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(time.time()) + 900),
            **reply.headers,
        }
        return reply

    def _scripted(self, woeid: int) -> Reply:
        with self._lock:
            if self._queued[woeid]:
                return self._queued[woeid].popleft()
        if woeid in self._standing:
            return self._standing[woeid]
        return Reply.json(
            {"title": "Not Found", "detail": f"No trends for {woeid}", "status": 404},
            status=404,
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                request = RecordedRequest(
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                )
                reply = fake._answer(request)
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                """Keep the test output quiet."""

        return Handler
