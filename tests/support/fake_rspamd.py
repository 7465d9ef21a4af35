"""A small rspamd normal worker on loopback speaking its HTTP protocol.

``POST /checkv2`` takes the raw message as the body and the envelope as
headers (``IP``, ``Helo``, ``From``, one ``Rcpt`` per recipient …) and answers
JSON shaped like rspamd's: ``score``, ``required_score``, ``action`` and
``symbols`` (``{"NAME": {"name", "score", "description", "options"}}``).
``GET /ping`` answers ``pong``. Its "rules" are byte strings with a symbol and
a score; ``fail_with`` makes it answer an HTTP error instead.
"""

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class RspamdState:
    rules: dict[bytes, tuple[str, float]] = field(
        default_factory=lambda: {
            b"viagra": ("FAKE_PHARMA", 7.5),
            b"you have won": ("FAKE_LOTTERY", 6.0),
            b"http://192.0.2.": ("HTTP_TO_IP", 2.0),
        }
    )
    required_score: float = 15.0
    add_header_score: float = 6.0
    fail_with: int | None = None
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet in tests
        pass

    def do_GET(self):  # noqa: N802 - http.server API
        if self.path.rstrip("/").endswith("/ping"):
            self._send(200, b"pong\r\n", "text/plain")
        else:
            self._send(404, b'{"error": "not found"}')

    def do_POST(self):  # noqa: N802 - http.server API
        state: RspamdState = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with state.lock:
            state.requests.append(
                {
                    "path": self.path,
                    "headers": {name.lower(): self.headers.get_all(name) for name in set(self.headers.keys())},
                    "body": body,
                }
            )
        if not self.path.rstrip("/").endswith("/checkv2"):
            self._send(404, b'{"error": "not found"}')
            return
        if state.fail_with:
            self._send(state.fail_with, json.dumps({"error": "fake failure"}).encode())
            return
        self._send(200, json.dumps(self._check(state, body)).encode())

    def _check(self, state: RspamdState, body: bytes) -> dict:
        symbols = {}
        lowered = body.lower()
        for needle, (name, score) in state.rules.items():
            if needle.lower() in lowered:
                symbols[name] = {"name": name, "score": score, "metric_score": score, "description": "fake rule"}
        if b"\nmessage-id:" not in b"\n" + lowered.split(b"\r\n\r\n", 1)[0].replace(b"\r\n", b"\n"):
            symbols["MISSING_MID"] = {"name": "MISSING_MID", "score": 2.5, "options": ["no Message-ID"]}
        symbols["MIME_GOOD"] = {"name": "MIME_GOOD", "score": -0.1, "description": "Known content-type"}
        symbols["ARC_NA"] = {"name": "ARC_NA", "score": 0.0, "description": "ARC signature absent"}
        score = round(sum(s["score"] for s in symbols.values()), 2)
        if score >= state.required_score:
            action = "reject"
        elif score >= state.add_header_score:
            action = "add header"
        else:
            action = "no action"
        return {
            "is_skipped": False,
            "score": score,
            "required_score": state.required_score,
            "action": action,
            "symbols": symbols,
            "messages": {},
            "message-id": "fake",
        }

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FakeRspamd:
    def __init__(self, state: RspamdState | None = None):
        self.state = state or RspamdState()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeRspamd":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
