"""Every Prometheus metric the platform exports, defined once (docs/OBSERVABILITY.md).

Instrumented code imports the metric from here and counts (``ATTEMPTS.labels(...).inc()``);
``observability`` serves them on ``/metrics``. The process-level metrics below work in
prometheus-client's multi-process mode (``PROMETHEUS_MULTIPROC_DIR`` set before this module
is imported: web workers, MX and Celery workers each write their own files, one scrape adds
them up). Figures whose truth is the database (queue depth, dead letters, indexing lag) are
not defined here: ``observability.collectors`` reads them at scrape time.

Conventions: units in the names (``_seconds``, ``_bytes``), ``_total`` for counters, bounded
label values only (never an address, a message id or a domain: a destination is its
``core.providers.Provider``, a view is its URL name).
"""

from prometheus_client import Counter, Histogram

# Latency buckets in seconds: sub-millisecond to a minute (web views, tasks, SMTP, pipeline).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Slower steps (a message's way from 250 to visible; an SMTP transaction with a slow server).
SLOW_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)

# --- web -------------------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "webmail_http_requests_total", "HTTP requests answered, by view (URL name), method and status class.",
    ["view", "method", "status"],
)  # fmt: skip
HTTP_REQUEST_DURATION = Histogram(
    "webmail_http_request_duration_seconds", "Time to answer an HTTP request, by view and method.",
    ["view", "method"], buckets=LATENCY_BUCKETS,
)  # fmt: skip

# --- sending ---------------------------------------------------------------------------------------
SEND_REQUESTS = Counter(
    "webmail_send_requests_total",
    "Submissions accepted or refused, by channel (webmail, api, template, batch, campaign) and result "
    "(accepted, refused).",
    ["channel", "result"],
)
DELIVERY_ATTEMPTS = Counter(
    "webmail_delivery_attempts_total",
    "Delivery attempts by outcome (sent, deferred, bounced, failed) and destination provider "
    "(gmail, microsoft, yahoo, apple, other, local).",
    ["outcome", "provider"],
)
SMTP_DURATION = Histogram(
    "webmail_smtp_transaction_duration_seconds", "One outbound SMTP transaction (MAIL FROM to the reply to DATA).",
    ["provider"], buckets=SLOW_BUCKETS,
)  # fmt: skip
DELIVERY_EVENTS = Counter(
    "webmail_delivery_events_total",
    "Delivery events recorded, by type (delivered, bounced_hard, bounced_soft, expired, deferred, complained, "
    "opened, clicked, unsubscribed, rejected, failed): rates such as bounces per delivery are ratios of these.",
    ["event"],
)

# --- receiving -------------------------------------------------------------------------------------
MX_CONNECTIONS = Counter("webmail_mx_connections_total", "SMTP connections the MX accepted.")
MX_REPLIES = Counter(
    "webmail_mx_replies_total", "Replies the MX gave to RCPT and DATA, by SMTP code (e.g. 250, 450, 550).",
    ["command", "code"],
)  # fmt: skip
INBOUND_MESSAGES = Counter(
    "webmail_inbound_messages_total", "Messages through the inbound pipeline, by placement (inbox, spam, rejected…).",
    ["placement"],
)  # fmt: skip
INBOUND_PIPELINE_DURATION = Histogram(
    "webmail_inbound_pipeline_duration_seconds", "From the MX's 250 to the message visible in the mailbox.",
    buckets=SLOW_BUCKETS,
)  # fmt: skip
INBOX_WRITE_DURATION = Histogram(
    "webmail_inbox_write_duration_seconds", "Writing one message's placement into a mailbox (the transaction).",
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
AUTH_RESULTS = Counter(
    "webmail_auth_results_total", "Sender authentication results of received mail, by method (spf, dkim, dmarc, "
    "arc) and result (pass, fail, softfail, neutral, none, temperror, permerror).",
    ["method", "result"],
)  # fmt: skip
SPAM_VERDICTS = Counter(
    "webmail_spam_verdicts_total", "Spam filter verdicts on received mail (ham, spam), by filter.",
    ["filter", "verdict"],
)  # fmt: skip
VIRUS_VERDICTS = Counter(
    "webmail_virus_verdicts_total", "Virus scans of received mail: clean, infected, or error (the scan failed).",
    ["verdict"],
)  # fmt: skip

# --- background work -------------------------------------------------------------------------------
TASKS = Counter(
    "webmail_celery_tasks_total", "Celery tasks finished, by queue, task name and state (succeeded, failed, retried).",
    ["queue", "task", "state"],
)  # fmt: skip
TASK_DURATION = Histogram(
    "webmail_celery_task_duration_seconds", "Celery task run time, by queue and task name.",
    ["queue", "task"], buckets=SLOW_BUCKETS,
)  # fmt: skip
SEARCH_INDEXED = Counter("webmail_search_documents_indexed_total", "Mailbox changes applied to the search index.")
