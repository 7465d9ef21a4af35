"""A real SMTP server on loopback (aiosmtpd) that can misbehave on purpose.

What it does for a recipient is chosen by the recipient's local part, or by a
script set for that address:

- ``ok…``            accept;
- ``temp…``          451 4.2.0 at RCPT (try again later);
- ``unknown…``       550 5.1.1 at RCPT (no such user: a hard bounce);
- ``full…``          552 5.2.2 at RCPT (mailbox full);
- ``stall…``         accept RCPT, then sleep in DATA past any client timeout;
- ``drop…``          accept RCPT, then drop the connection during DATA;
- ``script(address, ["451 4.4.1 busy", "250 OK"])`` answers RCPT from the
  list in order, then accepts;
- ``answer_all("421 4.7.28 …")`` answers every RCPT so (a provider throttling
  us), until ``answer_all(None)``.

``FaultySMTPServer(host="127.0.0.2", port=…)`` listens on another loopback
address, so two "providers" can share the delivery port. ``rcpts`` lists every
RCPT address asked, ``connections`` counts EHLOs (twice per connection with
STARTTLS: count connections on a ``tls=False`` server).

With ``pipelining`` on, the server offers PIPELINING (RFC 2920; aiosmtpd
reads commands in order however they arrive, it just does not advertise it)
and counts the MAIL commands that came in one write with what follows them.
"""

import asyncio
import datetime
import logging
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.controller import Controller

logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    helo: str


@dataclass
class FaultyHandler:
    messages: list[Received] = field(default_factory=list)
    scripts: dict[str, list[str]] = field(default_factory=dict)
    connections: int = 0
    stall_seconds: float = 30.0
    pipelining: bool = False
    pipelined_mail_commands: int = 0
    rcpt_reply: str | None = None
    rcpts: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802 - aiosmtpd API
        # MAIL's reply not sent yet, and RCPT already read from the socket: the client pipelined.
        if b"RCPT TO" in bytes(getattr(server._reader, "_buffer", b"")).upper():
            with self.lock:
                self.pipelined_mail_commands += 1
        envelope.mail_from, envelope.mail_options = address, list(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd API
        local = address.split("@", 1)[0].lower()
        with self.lock:
            self.rcpts.append(address)
            script = self.scripts.get(address.lower())
            scripted = script.pop(0) if script else None
            answer = self.rcpt_reply
        if scripted and not scripted.startswith("250"):
            return scripted
        if answer and not scripted:
            return answer
        if local.startswith("temp"):
            return "451 4.2.0 Mailbox temporarily unavailable, try later"
        if local.startswith("unknown"):
            return "550 5.1.1 The email account that you tried to reach does not exist"
        if local.startswith("full"):
            return "552 5.2.2 Mailbox full"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        locals_ = [r.split("@", 1)[0].lower() for r in envelope.rcpt_tos]
        if any(x.startswith("stall") for x in locals_):
            await asyncio.sleep(self.stall_seconds)
        if any(x.startswith("drop") for x in locals_):
            server.transport.close()
            return "421 4.4.2 Connection dropped"
        with self.lock:
            self.messages.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    content=envelope.original_content or envelope.content,
                    tls=session.ssl is not None,
                    helo=session.host_name or "",
                )
            )
        return "250 2.0.0 OK queued"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 - aiosmtpd API
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, responses[-1][:3] + "-PIPELINING")
        return responses

    def script(self, address: str, replies: list[str]) -> None:
        with self.lock:
            self.scripts[address.lower()] = list(replies)

    def answer_all(self, reply: str | None) -> None:
        with self.lock:
            self.rcpt_reply = reply


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_self_signed_certificate(folder: Path, hostname: str = "localhost") -> tuple[str, str]:
    """A throwaway certificate and key as PEM files in ``folder``; returns their paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(folder / "cert.pem"), str(folder / "key.pem")


def self_signed_context(hostname: str = "localhost") -> ssl.SSLContext:
    """A server TLS context with a throwaway certificate, so STARTTLS really happens."""
    cert, key = write_self_signed_certificate(Path(tempfile.mkdtemp()), hostname)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class FaultySMTPServer:
    def __init__(self, *, tls: bool = True, pipelining: bool = False, host: str = "127.0.0.1", port: int | None = None):
        self.handler = FaultyHandler(pipelining=pipelining)
        self.host = host
        self.port = port or free_port()
        kwargs = {"tls_context": self_signed_context(), "require_starttls": False} if tls else {}
        self.controller = Controller(self.handler, hostname=host, port=self.port, **kwargs)

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def start(self) -> "FaultySMTPServer":
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
