"""Delivery over SMTP: straight to the recipient domain's MX, or through a smarthost.

Connections are kept per worker process and reused for the next envelopes and
the next tasks, as Postfix's connection cache does: keyed by the server's
address and port and what the session was opened with (HELO name, TLS policy,
login), not by the MX host's name, so domains whose MX hosts share an address
share its sessions (Postfix looks its cache up by server IP address too). The
TLS is opportunistic and does not authenticate the peer, so the address is all
the identity a session has. A session idle for ``IDLE_SECONDS`` is closed
rather than reused (servers wait 5 minutes, RFC 5321 4.5.3.2.7); one taken
from the pool is checked with RSET first, and one that fails is discarded for
a fresh one. STARTTLS is used whenever the server offers it (falling back to
plain text if the handshake fails); every reply code and text is kept per
recipient.
"""

import re
import smtplib
import ssl
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from core.metrics import SMTP_DURATION
from core.providers import Provider, cached_provider, provider_for_domain, remember_provider
from delivery.mx import DNSError, resolve_addresses, resolve_mx
from delivery.transports.base import (
    Envelope,
    Result,
    Transport,
    permanent_failure,
    result_for_reply,
    temporary_failure,
)

IDLE_SECONDS = 20  # a pooled connection unused for longer is closed rather than reused
IDLE_PER_KEY = 2  # idle sessions kept per server (a worker process delivers one domain at a time)


def _opportunistic_tls_context() -> ssl.SSLContext:
    # Like Postfix's "may" level: encrypt when offered, do not authenticate the peer.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class ConnectionFailed(Exception):
    pass


@dataclass
class Connection:
    smtp: smtplib.SMTP
    host: str
    address: str
    tls: bool
    last_used: float
    transactions: int = 0  # SMTP transactions sent on it (a provider's profile bounds them)

    def usable(self) -> bool:
        return time.monotonic() - self.last_used < IDLE_SECONDS

    def alive(self) -> bool:
        """RSET answered: the server still holds the session (it may have closed it while idle)."""
        try:
            return self.smtp.rset()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def close(self) -> None:
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()


def open_connection(
    host: str,
    address: str,
    port: int,
    *,
    helo: str,
    timeout: float,
    starttls: str = "opportunistic",
    username: str = "",
    password: str = "",
    implicit_tls: bool = False,
) -> Connection:
    """An SMTP connection after EHLO (and STARTTLS/AUTH when configured). Raises ConnectionFailed."""
    use_tls = starttls != "never"
    for attempt_tls in (use_tls, False) if starttls == "opportunistic" else (use_tls,):
        smtp = (
            smtplib.SMTP_SSL(timeout=timeout, context=_opportunistic_tls_context())
            if implicit_tls
            else (smtplib.SMTP(timeout=timeout, local_hostname=helo))
        )
        try:
            code, banner = smtp.connect(address, port)
            smtp._host = host  # connected by address; SNI and TLS want the MX name (smtplib keeps it here)
            if code != 220:
                smtp.close()
                raise ConnectionFailed(f"{host}[{address}] greeted with {code} {banner.decode(errors='replace')}")
            smtp.ehlo(helo)
            tls = implicit_tls
            if attempt_tls and not implicit_tls and smtp.has_extn("starttls"):
                smtp.starttls(context=_opportunistic_tls_context())
                smtp.ehlo(helo)
                tls = True
            elif starttls == "required" and not tls:
                smtp.close()
                raise ConnectionFailed(f"{host}[{address}] does not offer STARTTLS, which is required")
            if username:
                smtp.login(username, password)
            return Connection(smtp=smtp, host=host, address=address, tls=tls, last_used=time.monotonic())
        except ssl.SSLError as exc:
            smtp.close()
            if starttls != "opportunistic" or not attempt_tls:
                raise ConnectionFailed(f"TLS with {host}[{address}] failed: {exc}") from exc
            continue  # opportunistic: try again in plain text
        except smtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise ConnectionFailed(f"{host} refused our credentials: {exc.smtp_code} {exc.smtp_error!r}") from exc
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            smtp.close()
            raise ConnectionFailed(f"cannot talk to {host}[{address}]:{port}: {exc}") from exc
    raise ConnectionFailed(f"cannot talk to {host}[{address}]:{port}")


def send_envelope(connection: Connection, envelope: Envelope) -> Result:
    """One SMTP transaction (MAIL, RCPT, DATA) on an open connection.

    With a server that offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go
    in one write and their three replies are read after it: two round trips
    per transaction instead of four, as Postfix's client does.

    Raises ``smtplib.SMTPServerDisconnected`` or ``OSError`` when the
    connection breaks, so the caller can retry on a fresh one.
    """
    smtp = connection.smtp
    options = []
    if not envelope.raw.isascii() and smtp.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")
    if not (envelope.mail_from.isascii() and envelope.rcpt_to.isascii()):
        if not smtp.has_extn("smtputf8"):
            return permanent_failure(
                [envelope], "The receiving server does not support SMTPUTF8 addresses", enhanced_status="5.6.7"
            )[0]
        options.append("SMTPUTF8")
    try:
        if smtp.has_extn("pipelining"):
            code, reply = _pipelined_transaction(smtp, envelope, options)
        else:
            code, reply = _stepwise_transaction(smtp, envelope, options)
    finally:
        connection.last_used = time.monotonic()
    return result_for_reply(envelope.recipient_id, code, reply.decode(errors="replace"), remote_host=connection.host)


def _stepwise_transaction(smtp: smtplib.SMTP, envelope: Envelope, options: list[str]) -> tuple[int, bytes]:
    """MAIL, RCPT, DATA one reply at a time: the reply that decides the outcome."""
    code, reply = smtp.mail(envelope.mail_from, options)
    if code != 250:
        smtp.rset()
        return code, reply
    code, reply = smtp.rcpt(envelope.rcpt_to)
    if code not in (250, 251):
        smtp.rset()
        return code, reply
    try:
        return smtp.data(envelope.raw)
    except smtplib.SMTPDataError as exc:  # refused before the content was sent (the 354 step)
        smtp.rset()
        return exc.smtp_code, exc.smtp_error


def _pipelined_transaction(smtp: smtplib.SMTP, envelope: Envelope, options: list[str]) -> tuple[int, bytes]:
    """MAIL, RCPT and DATA in one write (RFC 2920), then the content if the server said 354."""
    option_text = "".join(f" {option}" for option in options)
    commands = (
        f"MAIL FROM:{_angle_addr(envelope.mail_from)}{option_text}\r\n"
        f"RCPT TO:{_angle_addr(envelope.rcpt_to)}\r\n"
        "DATA\r\n"
    )
    smtp.send(commands.encode("utf-8" if "SMTPUTF8" in options else "ascii"))
    mail = smtp.getreply()
    rcpt = smtp.getreply()
    data = smtp.getreply()
    refusal = next(
        (reply for reply, accepted in ((mail, (250,)), (rcpt, (250, 251))) if reply[0] not in accepted), None
    )
    if refusal is None and data[0] == 354:
        smtp.send(_dot_stuffed(envelope.raw))
        return smtp.getreply()
    if data[0] == 354:  # a server that wants content for a refused transaction: give it none
        smtp.send(b".\r\n")
        smtp.getreply()
    if mail[0] == 250:  # the server still holds the transaction's sender
        smtp.rset()
    return refusal or data


def _angle_addr(address: str) -> str:
    """``<address>`` as smtplib.quoteaddr makes it, without its parser for the plain addresses we send."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return smtplib.quoteaddr(address)


_PLAIN_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[^\s<>()\[\]\\,;:\"@]+")


def _dot_stuffed(raw: bytes) -> bytes:
    """The DATA content as sent: leading dots doubled (RFC 5321 4.5.2), CRLF and the final dot."""
    stuffed = _LEADING_DOT.sub(b"..", raw)
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


_LEADING_DOT = re.compile(rb"(?m)^\.")


class _Pool:
    """Idle connections per server (see the module's docstring), reused across batches and tasks in one
    worker process."""

    def __init__(self):
        self._idle: dict[tuple, list[Connection]] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple) -> Connection | None:
        """The most recently used idle session that still answers, or None; the others found are closed."""
        while True:
            with self._lock:
                stack = self._idle.get(key)
                connection = stack.pop() if stack else None
            if connection is None:
                return None
            if connection.usable() and connection.alive():
                return connection
            connection.smtp.close()

    def give_back(self, key: tuple, connection: Connection) -> None:
        with self._lock:
            stack = self._idle.setdefault(key, [])
            stack.append(connection)
            surplus = stack[:-IDLE_PER_KEY]
            del stack[:-IDLE_PER_KEY]
            # Sessions left idle too long anywhere are closed now, not when their server is next wanted.
            for other, others in list(self._idle.items()):
                stale = [c for c in others if not c.usable()]
                if stale:
                    surplus += stale
                    others[:] = [c for c in others if c.usable()]
                if not others:
                    del self._idle[other]
        for connection in surplus:
            connection.close()

    def close_all(self) -> None:
        with self._lock:
            connections = [c for stack in self._idle.values() for c in stack]
            self._idle.clear()
        for connection in connections:
            connection.close()


class _SMTPTransport(Transport):
    def __init__(self, **options):
        super().__init__(**options)
        self.pool = _Pool()

    @property
    def timeout(self) -> float:
        return float(self.options.get("TIMEOUT", settings.SMTP_TIMEOUT))

    def _hops(self, domain: str) -> list[tuple[str, str, int]]:
        """``(host, address, port)`` to try in order. Raises DNSError."""
        raise NotImplementedError

    def _connect_kwargs(self) -> dict:
        return {"helo": settings.MAIL_HOSTNAME, "timeout": self.timeout}

    def _pool_key(self, address: str, port: int) -> tuple:
        """A session's identity: the server's address and port, and what the session was opened with."""
        opened_with = tuple(sorted((k, v) for k, v in self._connect_kwargs().items() if k != "password"))
        return (address, port, opened_with)

    def deliver(self, *, domain: str, envelopes: list[Envelope], on_result=None) -> list[Result]:
        results: dict[int, Result] = {}

        def report(result: Result) -> None:
            results[result.recipient_id] = result
            if on_result is not None:
                on_result(result)

        def report_all(failed: list[Result]) -> list[Result]:
            for result in failed:
                report(result)
            return failed

        try:
            hops = self._hops(domain)
        except DNSError as exc:
            failure = permanent_failure if exc.permanent else temporary_failure
            return report_all(failure(envelopes, str(exc), enhanced_status=exc.enhanced_status))
        if not hops:
            return report_all(
                temporary_failure(
                    envelopes, f"no address found for the mail hosts of {domain}", enhanced_status="4.4.4"
                )
            )
        pending = list(envelopes)
        errors: list[str] = []
        per_connection = self._messages_per_connection(domain, hops)
        # The metrics' label: what _hops learned of the MX (cached), never a lookup of its own.
        provider = str(cached_provider(domain) or Provider.OTHER)
        for host, address, port in hops:
            if not pending:
                break
            pending = self._deliver_on((host, address, port), pending, report, errors, per_connection, provider)
        if pending:
            reason = "; ".join(errors[-3:]) or f"no mail host of {domain} could be reached"
            report_all(temporary_failure(pending, reason, enhanced_status="4.4.1"))
        return [results[e.recipient_id] for e in envelopes]

    def _messages_per_connection(self, domain: str, hops: list[tuple[str, str, int]]) -> int:
        """SMTP transactions per connection before it is closed (0: no limit)."""
        return 0

    def _deliver_on(
        self,
        key: tuple,
        envelopes: list[Envelope],
        report,
        errors: list,
        per_connection: int = 0,
        provider: str = Provider.OTHER,
    ) -> list[Envelope]:
        """Deliver what this hop will take; return the envelopes left for the next hop.

        After ``per_connection`` transactions on a connection (its provider's
        profile), it is closed and the rest go over a fresh one.
        """
        host, address, port = key
        pool_key = self._pool_key(address, port)
        connection = self.pool.take(pool_key)
        reused = connection is not None
        if reused:
            connection.host = host  # the MX this delivery is for (the session may have served another name)
        breaks_left = 3  # a server that keeps dropping us gets the rest on a later attempt
        remaining = list(envelopes)
        while remaining:
            envelope = remaining[0]
            try:
                if connection is None:
                    connection = open_connection(host, address, port, **self._connect_kwargs())
                started = time.perf_counter()
                result = send_envelope(connection, envelope)
                # A transaction the server answered (one that broke has no reply time to speak of).
                SMTP_DURATION.labels(provider=provider).observe(time.perf_counter() - started)
            except ConnectionFailed as exc:
                errors.append(str(exc))
                return remaining
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException, OSError) as exc:
                connection.smtp.close()
                connection = None
                if reused:  # a pooled connection the server had closed meanwhile: just reconnect
                    reused = False
                    continue
                # Broke mid-transaction (dropped during DATA, stalled past the timeout):
                # this one is deferred, the rest go on over a fresh connection.
                remaining.pop(0)
                report(
                    temporary_failure(
                        [envelope],
                        f"connection to {host}[{address}] lost: {exc or exc.__class__.__name__}",
                        enhanced_status="4.4.2",
                        remote_host=host,
                    )[0]
                )
                breaks_left -= 1
                if not breaks_left:
                    errors.append(f"{host}[{address}] keeps dropping the connection")
                    return remaining
                continue
            remaining.pop(0)
            connection.transactions += 1
            if result.smtp_code == 421:  # the server is closing the channel
                connection.smtp.close()
                connection = None
            elif per_connection and connection.transactions >= per_connection:
                connection.close()  # QUIT: the provider wants no more on this one
                connection = None
            try:
                report(result)
            except BaseException:  # the engine stops here (the provider asked us to slow down): hang up politely
                if connection is not None:
                    connection.close()
                raise
        if connection is not None:
            self.pool.give_back(pool_key, connection)
        return []

    def close(self) -> None:
        self.pool.close_all()


class MXTransport(_SMTPTransport):
    """Direct delivery to the recipient domain's mail exchangers."""

    name = "smtp"

    def _hops(self, domain: str) -> list[tuple[str, str, int]]:
        port = int(self.options.get("PORT", settings.SMTP_DELIVERY_PORT))
        hops = []
        mx_hosts = resolve_mx(domain)
        for mx in mx_hosts:
            hops += [(mx.host, address, port) for address in resolve_addresses(mx.host)]
        # What the MX says of the provider, remembered for the engine's next claims (no lookup of their own).
        remember_provider(domain, provider_for_domain(domain, mx_hosts=[mx.host for mx in mx_hosts]))
        return hops

    def _messages_per_connection(self, domain: str, hops: list[tuple[str, str, int]]) -> int:
        from delivery.services.shaping import profile_for  # the services import the transports

        provider = provider_for_domain(domain, mx_hosts=[host for host, _, _ in hops])
        return profile_for(provider).messages_per_connection


class RelayTransport(_SMTPTransport):
    """Everything through one smarthost (``HOST``, ``PORT``, ``STARTTLS``, ``USERNAME``, ``PASSWORD``)."""

    name = "relay"

    def _hops(self, domain: str) -> list[tuple[str, str, int]]:
        host = self.options["HOST"]
        return [(host, host, int(self.options.get("PORT", 587)))]

    def _connect_kwargs(self) -> dict:
        return {
            **super()._connect_kwargs(),
            "starttls": self.options.get("STARTTLS", "required" if self.options.get("USERNAME") else "opportunistic"),
            "username": self.options.get("USERNAME", ""),
            "password": self.options.get("PASSWORD", ""),
            "implicit_tls": bool(self.options.get("IMPLICIT_TLS", False)),
        }
