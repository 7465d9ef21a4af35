"""Structured logs that follow a message (docs/LOGS.md).

Context fields (``message_id``, ``recipient_id``, ``queue_id``, ``task_id``, ``request_id``) live
in a ``contextvars`` variable: the request middleware, Celery's task signals, the delivery engine
and the inbound pipeline set them with ``log_context(...)``; ``ContextFilter`` copies them onto
every record, so that a line logged anywhere below (a service, a library) carries them too.
``RedactingFilter`` scrubs secrets from whatever reaches a record. ``JsonFormatter`` writes one
JSON object per line (``LOG_FORMAT=json``); ``PlainFormatter`` the same, readable.
"""

import json
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import UTC, datetime

# The fields a line may carry, in the order they are shown.
CONTEXT_FIELDS = ("request_id", "task_id", "queue_id", "message_id", "recipient_id")

_context: ContextVar[Mapping[str, object]] = ContextVar("log_context", default={})  # noqa: B039 - never mutated


def current_context() -> dict[str, object]:
    """The context fields in force here (a copy)."""
    return dict(_context.get())


@contextmanager
def log_context(**fields) -> Iterator[None]:
    """Add context fields to every line logged inside the block (None values are left out).

    Nested blocks add to the outer one and restore it on exit; each thread and
    asyncio task has its own context, so concurrent work never mixes its fields.
    """
    unknown = set(fields) - set(CONTEXT_FIELDS)
    if unknown:
        raise ValueError(f"unknown log context fields: {sorted(unknown)}")
    token = _context.set({**_context.get(), **{name: value for name, value in fields.items() if value is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind_context(**fields):
    """Set context fields until ``unbind_context(token)`` (for code that cannot wrap a block: signals)."""
    return _context.set({**_context.get(), **{name: value for name, value in fields.items() if value is not None}})


def unbind_context(token) -> None:
    _context.reset(token)


class ContextFilter(logging.Filter):
    """Puts the context fields on the record: ``record.context`` (a dict) and ``record.context_text``."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = {**_context.get(), **getattr(record, "context", {})}
        record.context = context
        shown = " ".join(f"{name}={context[name]}" for name in CONTEXT_FIELDS if name in context)
        record.context_text = f" [{shown}]" if shown else ""
        return True


# --- redaction --------------------------------------------------------------------------------

REDACTED = "[REDACTED]"
_SECRET_WORDS = r"password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|authorization"  # noqa: S105 - names, not a secret
_SECRET_PATTERNS = [
    # A PEM private key (DKIM keys), whole.
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S), REDACTED),
    # An Authorization / Proxy-Authorization header or an HTTP credential scheme: the credentials after it.
    (
        re.compile(
            r"((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)(?:(?:basic|bearer|token|digest)\s+)?[^\s'\",;]+", re.I
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{8,}", re.I), rf"\1 {REDACTED}"),
    # key=value, key: value, "key": "value" for secret-sounding keys (password=…, api_key: …, "token": "…").
    (
        re.compile(rf"((?:[\w-]*(?:{_SECRET_WORDS})[\w-]*)['\"]?\s*[:=]\s*['\"]?)([^\s'\",;&}}]+)", re.I),
        rf"\1{REDACTED}",
    ),
    # Credentials in a URL (smtp://user:password@host, postgres://…).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@", re.I), rf"\1{REDACTED}@"),
]
_SECRET_KEY = re.compile(_SECRET_WORDS, re.I)


def redact(text: str) -> str:
    """``text`` with passwords, tokens, API keys, Authorization credentials and private keys replaced."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value):
    if isinstance(value, Mapping):
        return {k: REDACTED if _SECRET_KEY.search(str(k)) else _redact_value(v) for k, v in value.items()}
    if isinstance(value, bytes | bytearray):  # raw bytes (a message, a body) are never written out
        return f"<{len(value)} bytes>"
    return value


class RedactingFilter(logging.Filter):
    """Renders the record's message and exception text once, with secrets replaced.

    The message is fixed on the record (``msg`` the redacted text, no ``args``), so every
    handler and formatter after this filter sees the redacted text only.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "_redacted", False):
            if isinstance(record.args, Mapping):
                record.args = _redact_value(record.args)
            elif record.args:
                record.args = tuple(_redact_value(arg) for arg in record.args)
            record.msg, record.args = redact(record.getMessage()), None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
            record._redacted = True
        return True


# --- formatters -------------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, context fields, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = getattr(record, "context", None)
        if context is None:  # a handler without ContextFilter: read the context here
            context = _context.get()
        line.update({name: context[name] for name in CONTEXT_FIELDS if name in context})
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """``time LEVEL logger: message [request_id=… message_id=…]`` for reading in a terminal."""

    def __init__(self, fmt=None, *args, **kwargs):
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s: %(message)s%(context_text)s", *args, **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "context_text"):
            ContextFilter().filter(record)
        return super().format(record)


def logging_config(*, log_format: str, level: str) -> dict:
    """The ``LOGGING`` dict of settings: one console handler, both filters, the chosen format."""
    if log_format not in ("plain", "json"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "observability.logs.ContextFilter"},
            "redact": {"()": "observability.logs.RedactingFilter"},
        },
        "formatters": {
            "plain": {"()": "observability.logs.PlainFormatter"},
            "json": {"()": "observability.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["redact", "context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
    }


def install_on_handlers(logger: logging.Logger, *, log_format: str) -> None:
    """Our filters (and formatter) on handlers set up by someone else: Celery's worker hijacks the root logger."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
            handler.addFilter(ContextFilter())
        if log_format == "json":
            handler.setFormatter(JsonFormatter())


# --- request ids ------------------------------------------------------------------------------

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_from(value: str | None) -> str:
    """The client's (or the proxy's) request id when it is a sane token, else a new one."""
    if value and _VALID_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Every line logged while answering a request carries its ``request_id``, echoed in ``X-Request-ID``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id
        with log_context(request_id=request_id):
            response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        return response


# --- Celery -----------------------------------------------------------------------------------

_task_tokens: dict[str, object] = {}


def _task_started(task_id=None, task=None, **_) -> None:
    request_id = getattr(getattr(task, "request", None), "request_id", None)
    _task_tokens[task_id] = bind_context(task_id=task_id, request_id=request_id)


def _task_ended(task_id=None, **_) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        with suppress(ValueError):  # set in another context (not with Celery's pools): nothing to undo here
            unbind_context(token)


def _publishing(headers=None, **_) -> None:
    """A task queued while answering a request carries the request's id into the worker's lines."""
    request_id = _context.get().get("request_id")
    if request_id and headers is not None and "request_id" not in headers:
        headers["request_id"] = request_id


def _celery_logging_set_up(logger=None, **_) -> None:
    from django.conf import settings

    if logger is not None:
        install_on_handlers(logger, log_format=settings.LOG_FORMAT)


def connect_celery_signals() -> None:
    from celery import signals

    signals.task_prerun.connect(_task_started, dispatch_uid="observability.logs.task_started")
    signals.task_postrun.connect(_task_ended, dispatch_uid="observability.logs.task_ended")
    signals.before_task_publish.connect(_publishing, dispatch_uid="observability.logs.publishing")
    signals.after_setup_logger.connect(_celery_logging_set_up, dispatch_uid="observability.logs.setup")
    signals.after_setup_task_logger.connect(_celery_logging_set_up, dispatch_uid="observability.logs.task_setup")
