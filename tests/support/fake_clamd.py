"""A small clamd on loopback speaking the real protocol (``man clamd``: PING, VERSION, INSTREAM).

Commands come prefixed ``z`` (NUL-terminated) or ``n`` (newline-terminated)
and are answered the same way. INSTREAM reads ``<4-byte big-endian length><data>``
chunks until a zero length, then answers ``stream: OK`` or
``stream: <name> FOUND`` (looking in the decoded MIME parts too); a stream longer than ``max_stream`` gets
``INSTREAM size limit exceeded. ERROR`` and the connection is closed, as clamd
does. Its "signatures" are byte strings (EICAR by default).
"""

import email
import email.policy
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field

from inbound.filters.virus import EICAR


@dataclass
class ClamdState:
    signatures: dict[bytes, str] = field(default_factory=lambda: {EICAR: "Eicar-Signature"})
    max_stream: int = 25 * 1024 * 1024
    streams: list[bytes] = field(default_factory=list)
    chunk_sizes: list[list[int]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        state: ClamdState = self.server.state
        sock: socket.socket = self.request
        sock.settimeout(10)
        try:
            prefix = _read_exact(sock, 1)
            terminator = {b"z": b"\x00", b"n": b"\n"}.get(prefix)
            if terminator is None:
                sock.sendall(b"UNKNOWN COMMAND\n")
                return
            command = _read_until(sock, terminator).decode("ascii", "replace")
            with state.lock:
                state.commands.append(command)
            if command == "PING":
                reply = "PONG"
            elif command == "VERSION":
                reply = "ClamAV 1.0.0-fake/1/Thu Jan  1 00:00:00 1970"
            elif command == "INSTREAM":
                reply = self._instream(sock, state)
            else:
                reply = "UNKNOWN COMMAND"
            sock.sendall(reply.encode() + terminator)
        except (OSError, EOFError):
            pass

    def _instream(self, sock, state: ClamdState) -> str:
        data = bytearray()
        sizes = []
        while True:
            (length,) = struct.unpack("!I", _read_exact(sock, 4))
            if length == 0:
                break
            if len(data) + length > state.max_stream:
                return "INSTREAM size limit exceeded. ERROR"
            sizes.append(length)
            data += _read_exact(sock, length)
        with state.lock:
            state.streams.append(bytes(data))
            state.chunk_sizes.append(sizes)
        for content in [bytes(data), *_mime_parts(bytes(data))]:
            for signature, name in state.signatures.items():
                if signature in content:
                    return f"stream: {name} FOUND"
        return "stream: OK"


def _mime_parts(data: bytes) -> list[bytes]:
    """The decoded parts of a mail message, as clamd's mail scanner sees them."""
    try:
        message = email.message_from_bytes(data, policy=email.policy.compat32)
        return [part.get_payload(decode=True) or b"" for part in message.walk() if not part.is_multipart()]
    except Exception:
        return []


def _read_exact(sock, size: int) -> bytes:
    buffer = bytearray()
    while len(buffer) < size:
        chunk = sock.recv(size - len(buffer))
        if not chunk:
            raise EOFError
        buffer += chunk
    return bytes(buffer)


def _read_until(sock, terminator: bytes, limit: int = 1024) -> bytes:
    buffer = bytearray()
    while len(buffer) < limit:
        byte = sock.recv(1)
        if not byte:
            raise EOFError
        if byte == terminator:
            return bytes(buffer)
        buffer += byte
    raise EOFError


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeClamd:
    def __init__(self, state: ClamdState | None = None):
        self.state = state or ClamdState()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> "FakeClamd":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
