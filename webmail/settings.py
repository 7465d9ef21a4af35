"""Settings for the mail platform.

Everything is read from environment variables (see README.md). With nothing
set the project runs on embedded defaults: SQLite and blob files under
``var/``, the database search backend, and a file-based Celery broker.
"""

import ipaddress
import os
import secrets
import warnings
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from observability.logs import logging_config
from webmail.cache import cache_from_url
from webmail.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", True)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off; "
            "the generated development key is never used in production."
        )
    # Generated once per checkout so sessions survive restarts in development.
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "anymail",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "webmail.apps.WebmailConfig",
    "accounts",
    "mailboxes",
    "mailboxes.search.apps.SearchConfig",
    "delivery",
    "inbound",
    "campaigns",
    "reputation",
    "observability",
    "rules",
]

MIDDLEWARE = [
    # Static files under gunicorn/uvicorn (no runserver): answered before anything else, and not
    # counted as requests by the metrics (a proxy or CDN in front would serve them just the same).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # First of the rest, so that its timing covers every other middleware.
    "observability.middleware.RequestMetricsMiddleware",
    "observability.logs.RequestIdMiddleware",  # first: every line of the request carries its id
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserSessionMiddleware",  # the sessions list's "last seen" (docs/ACCOUNT-SECURITY.md)
    "accounts.middleware.UserTimeZoneMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "webmail.csp.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "webmail.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "mailboxes.context_processors.webmail",
                "campaigns.context_processors.marketing",
            ],
        },
    },
]

WSGI_APPLICATION = "webmail.wsgi.application"
ASGI_APPLICATION = "webmail.asgi.application"

# --- Database ---------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'webmail.sqlite3'}"),
        # Persistent connections: the MX and the workers otherwise reconnect for every SMTP
        # command and every task (a new PostgreSQL backend each time); checked before reuse.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# A pool of PostgreSQL connections per process, for the web under ASGI (webmail/asgi.py turns it on):
# Django runs each request in a thread of its own there, so a persistent connection is never
# reused, and without a pool every request opens a new PostgreSQL backend. A pooled connection
# goes back to the pool when the request ends (Django requires CONN_MAX_AGE=0 with a pool).
# WSGI workers and Celery's prefork children run one thread per process and keep their one
# persistent connection: a pool would add nothing there, and its threads do not survive a fork.
DATABASE_POOL = env_bool("DATABASE_POOL", False)
if DATABASE_POOL and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        # Per process. A request waits at most DATABASE_POOL_TIMEOUT seconds for a free connection.
        "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2),
        "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10),
        "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0),
        # A connection is replaced after this long, so PostgreSQL's backends do not grow for ever.
        "max_lifetime": env_float("DATABASE_POOL_MAX_LIFETIME", 30 * 60.0),
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the single writer; IMMEDIATE transactions
    # take the write lock up front instead of failing on lock upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

# Counters every process must share (sign-in and API limits): a table in the database
# unless CACHE_URL names Redis, a folder or process memory (see webmail/cache.py).
CACHES = {"default": cache_from_url(env_str("CACHE_URL", "") or "")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Storage ----------------------------------------------------------------
# "mailstore" holds raw messages and attachment payloads, content-addressed.

S3_BUCKET = env_str("S3_BUCKET")
if S3_BUCKET:
    _mailstore = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET,
            "endpoint_url": env_str("S3_ENDPOINT_URL"),
            "region_name": env_str("S3_REGION"),
            "access_key": env_str("AWS_ACCESS_KEY_ID"),
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY"),
            "location": env_str("S3_PREFIX", "mailstore"),
            "default_acl": None,
            "file_overwrite": True,
        },
    }
else:
    _mailstore = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # Content addressing makes an overwrite a rewrite of identical bytes.
        "OPTIONS": {
            "location": str(Path(env_str("MAILSTORE_DIR", str(VAR_DIR / "mailstore")))),
            "allow_overwrite": True,
        },
    }

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "media")},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "mailstore": _mailstore,
}

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves what `collectstatic` put in STATIC_ROOT (production: compressed, cacheable)
# and, so that `make run` works on a fresh clone without it, the app and project folders too.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", True)
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns at every start when it is missing
# Under ASGI Django reads WhiteNoise's file responses in a thread, and says so once per process; harmless here.
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous iterators")

# --- Internationalisation ---------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- Celery -----------------------------------------------------------------
# Without CELERY_BROKER_URL the broker is kombu's file transport under var/,
# so a worker runs beside the web server with no broker server installed.

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT = "webmail.broker:Transport"  # kombu's, without its lost-message race
    _celery_dir = VAR_DIR / "celery"
    for _sub in ("queue", "processed", "control"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        "control_folder": str(_celery_dir / "control"),
        # The default 1 s poll hands a prefork worker about one task a second (bench/inbound.py).
        "polling_interval": 0.05,
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# Tasks are published after the data is committed (outbox), so a broker that is down must cost
# a request well under a second, not Celery's 4 s connect timeout and three retries: what was not
# published, the reconcilers publish later. One immediate retry still gets past a pooled
# connection the broker closed meanwhile.
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 0.25)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 15 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Separate queues so that bulk mail never starves transactional mail (run a
# worker per queue in production: celery -A webmail worker -Q transactional).
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "delivery.*": {"queue": "transactional"},
    "inbound.*": {"queue": "inbound"},
    "search.*": {"queue": "indexing"},
    # Opens and clicks are written by their own workers, never behind a campaign's sending.
    "campaigns.record_tracking_hit": {"queue": "tracking"},
    "campaigns.*": {"queue": "bulk"},
}
CELERY_BEAT_SCHEDULE = {
    # Often enough that a dead worker's claim (outbound) or jobs (inbound) are back in the queue
    # within a minute: the lease (45 s) after its last heartbeat, plus at most this.
    "reconcile-outbox": {"task": "delivery.reconcile_outbox", "schedule": 10},
    "reconcile-inbound": {"task": "inbound.reconcile_inbound", "schedule": 10},
    # "Delayed Mail (still being retried)" notices, once per message (docs/BOUNCE-NOTICES.md).
    "notify-delivery-delays": {"task": "delivery.notify_delays", "schedule": 5 * 60},
    "sweep-orphan-blobs": {"task": "mailboxes.sweep_orphan_blobs", "schedule": 6 * 60 * 60},
    "send-due-messages": {"task": "mailboxes.send_due_messages", "schedule": 15},
    "wake-snoozed": {"task": "mailboxes.wake_snoozed", "schedule": 60},
    "purge-undoable-actions": {"task": "mailboxes.purge_undoable_actions", "schedule": 10 * 60},
    "search-index-changes": {"task": "search.index_changes", "schedule": 5},
    "search-purge-orphans": {"task": "search.purge_orphans", "schedule": 24 * 60 * 60},
    # A contact import started while the broker was down waits no longer than this.
    "redispatch-contact-imports": {"task": "campaigns.redispatch_queued_imports", "schedule": 60},
    # Campaigns whose time came start, and sending ones release their next recipients (on the bulk queue).
    "campaigns-start-and-release": {"task": "campaigns.start_and_release", "schedule": 5},
    # Yesterday's DMARC aggregate reports (if DMARC_SEND_AGGREGATE_REPORTS): sent once, the other runs find them sent.
    "dmarc-aggregate-reports": {"task": "inbound.send_dmarc_aggregate_reports", "schedule": 60 * 60},
    # Accounts whose unknown-user bounces came back after their submissions were counted (docs/ABUSE.md).
    "reputation-compromised-accounts": {"task": "reputation.evaluate_compromised_accounts", "schedule": 5 * 60},
    # Reputation counter buckets older than any window reads (docs/REPUTATION.md).
    "reputation-prune-counts": {"task": "reputation.prune_counts", "schedule": 60 * 60},
}

# --- Webmail ----------------------------------------------------------------

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "mailboxes:inbox"
LOGOUT_REDIRECT_URL = "accounts:login"
# Seconds a sent message waits (as a draft) so that "Undo" can take it back.
WEBMAIL_UNDO_SECONDS = env_int("WEBMAIL_UNDO_SECONDS", 10)
# Seconds an archive, trash, spam, move, label, flag or snooze can still be undone (the toast shows
# WEBMAIL_UNDO_TOAST_SECONDS of them; ``z`` and the no-JavaScript "Undo" button have the rest).
WEBMAIL_ACTION_UNDO_SECONDS = env_int("WEBMAIL_ACTION_UNDO_SECONDS", 30)
WEBMAIL_UNDO_TOAST_SECONDS = env_int("WEBMAIL_UNDO_TOAST_SECONDS", 8)
# Most items one "Empty Trash" / "Empty Spam" request deletes (in transactions of 500); the page offers the rest.
WEBMAIL_EMPTY_FOLDER_LIMIT = env_int("WEBMAIL_EMPTY_FOLDER_LIMIT", 5000)
# How long a signed attachment link stays valid.
WEBMAIL_ATTACHMENT_LINK_SECONDS = env_int("WEBMAIL_ATTACHMENT_LINK_SECONDS", 60 * 60)
# Failed sign-ins allowed in SIGNIN_THROTTLE_WINDOW seconds (see accounts/signin.py): for one
# address from one client (or one known device), from one client whatever the address, and for
# one address from everywhere (far higher: a botnet's guesses, which must not lock the owner out).
SIGNIN_MAX_FAILURES = env_int("SIGNIN_MAX_FAILURES", 5)
SIGNIN_CLIENT_MAX_FAILURES = env_int("SIGNIN_CLIENT_MAX_FAILURES", 20)
SIGNIN_ADDRESS_MAX_FAILURES = env_int("SIGNIN_ADDRESS_MAX_FAILURES", 100)
SIGNIN_THROTTLE_WINDOW = env_int("SIGNIN_THROTTLE_WINDOW", 15 * 60)
# A browser that signed in to an address is remembered this long (a signed cookie) and keeps
# its own count of failures, so failures from elsewhere never lock the owner out of it.
SIGNIN_KNOWN_DEVICE_DAYS = env_int("SIGNIN_KNOWN_DEVICE_DAYS", 365)
WEBMAIL_PAGE_SIZE = env_int("WEBMAIL_PAGE_SIZE", 50)
# Pages whose third-party scripts set inline styles (the API docs); they still get no inline script.
CSP_INLINE_STYLE_PATHS = ["/api/docs", "/api/redoc"]

# --- Push (docs/PUSH.md) ---------------------------------------------------------
# New mail reaches open pages over server-sent events (/mail/events/, ASGI only). Each web
# process reads the change feed for all its streams this often; a stream sends a comment
# every HEARTBEAT seconds (proxies close idle connections) and ends after about STREAM
# seconds, when the browser reconnects (to any worker) and carries on from its last event.
PUSH_WATCH_SECONDS = env_float("PUSH_WATCH_SECONDS", 0.3)
PUSH_HEARTBEAT_SECONDS = env_float("PUSH_HEARTBEAT_SECONDS", 20)
PUSH_STREAM_SECONDS = env_float("PUSH_STREAM_SECONDS", 300)

# --- Search -----------------------------------------------------------------

# Shaped like CACHES: the database backend (PostgreSQL tsvector or SQLite FTS5,
# by connection vendor) unless ELASTICSEARCH_URL names a cluster.
ELASTICSEARCH_URL = env_str("ELASTICSEARCH_URL", "")
SEARCH_BACKENDS = {
    "default": (
        {
            "BACKEND": "mailboxes.search.backends.elasticsearch.ElasticsearchBackend",
            "URL": ELASTICSEARCH_URL,
            "INDEX": env_str("SEARCH_ELASTICSEARCH_INDEX", "webmail-mail"),
        }
        if ELASTICSEARCH_URL
        else {"BACKEND": "mailboxes.search.backends.database.DatabaseBackend"}
    )
}
SEARCH_INDEX_BATCH_SIZE = env_int("SEARCH_INDEX_BATCH_SIZE", 500)
SEARCH_INDEX_MAX_BATCHES_PER_TASK = env_int("SEARCH_INDEX_MAX_BATCHES_PER_TASK", 20)
# Parts of the change feed (by user id) that as many indexing workers can follow at once.
SEARCH_INDEX_PARTITIONS = env_int("SEARCH_INDEX_PARTITIONS", 1)
# How long the indexer waits for a change id it passed to appear (a transaction that commits after a
# later one): longer than the longest transaction that records changes; after it, the id is given up.
SEARCH_FEED_GAP_SECONDS = env_float("SEARCH_FEED_GAP_SECONDS", 120.0)

# --- Mail -------------------------------------------------------------------

WEBMAIL_BASE_URL = env_str("WEBMAIL_BASE_URL", "http://127.0.0.1:8000")
# Largest message a user may send or receive, headers and encoded parts included.
MAIL_MAX_MESSAGE_BYTES = env_int("MAIL_MAX_MESSAGE_BYTES", 25 * 1024 * 1024)
MAIL_MAX_RECIPIENTS = env_int("MAIL_MAX_RECIPIENTS", 500)
# An open (a click) this soon after the mail was delivered was a machine's: a privacy proxy
# fetching images as mail arrives, a security scanner following links (campaigns.services.tracking).
TRACKING_MACHINE_OPEN_SECONDS = env_int("TRACKING_MACHINE_OPEN_SECONDS", 30)
TRACKING_MACHINE_CLICK_SECONDS = env_int("TRACKING_MACHINE_CLICK_SECONDS", 15)
# Transactional and marketing templates (campaigns.rendering): the limits of one render.
TEMPLATE_RENDER_SECONDS = env_float("TEMPLATE_RENDER_SECONDS", 2.0)
TEMPLATE_RENDER_MAX_BYTES = env_int("TEMPLATE_RENDER_MAX_BYTES", 1024 * 1024)
# A message without In-Reply-To/References joins a same-subject conversation
# only if that conversation was active within this many days.
THREAD_SUBJECT_WINDOW_DAYS = env_int("THREAD_SUBJECT_WINDOW_DAYS", 14)


# The name this system announces in HELO/EHLO, signs its bounce notices with (MAILER-DAEMON@…)
# and the host MX records point to. Default: the machine's own name when it is a full domain
# name (as Postfix's myhostname), else that name in ".localdomain" (never "localhost").
def _default_mail_hostname() -> str:
    import socket

    name = socket.gethostname().strip().rstrip(".").lower()  # the kernel's name: no network lookup
    if name.startswith("localhost") or not name:
        name = "mail"
    return name if "." in name else f"{name}.localdomain"


MAIL_HOSTNAME = env_str("MAIL_HOSTNAME", "") or _default_mail_hostname()
# A sender whose mail is still deferred this long after sending gets one "delayed" notice.
DELIVERY_DELAY_NOTICE_SECONDS = env_int("DELIVERY_DELAY_NOTICE_SECONDS", 60 * 60)

# How mail leaves: direct to MX (default), a smarthost relay, or an ESP via Anymail.
#   MAIL_TRANSPORT=relay + RELAY_HOST, RELAY_PORT, RELAY_USERNAME, RELAY_PASSWORD, RELAY_STARTTLS
#   MAIL_TRANSPORT=anymail + ANYMAIL_BACKEND (e.g. anymail.backends.postmark.EmailBackend)
_transport = env_str("MAIL_TRANSPORT", "mx")
if _transport == "mx":
    MAIL_TRANSPORT = {"BACKEND": "delivery.transports.smtp.MXTransport"}
elif _transport == "relay":
    MAIL_TRANSPORT = {
        "BACKEND": "delivery.transports.smtp.RelayTransport",
        "OPTIONS": {
            "HOST": env_str("RELAY_HOST", "localhost"),
            "PORT": env_int("RELAY_PORT", 587),
            "USERNAME": env_str("RELAY_USERNAME", ""),
            "PASSWORD": env_str("RELAY_PASSWORD", ""),
            "STARTTLS": env_str("RELAY_STARTTLS", "opportunistic"),
            "IMPLICIT_TLS": env_bool("RELAY_IMPLICIT_TLS", False),
        },
    }
elif _transport == "anymail":
    MAIL_TRANSPORT = {
        "BACKEND": "delivery.transports.esp.AnymailTransport",
        "OPTIONS": {"EMAIL_BACKEND": env_str("ANYMAIL_BACKEND", "anymail.backends.test.EmailBackend")},
    }
else:
    raise ImproperlyConfigured(f"MAIL_TRANSPORT must be mx, relay or anymail, got {_transport!r}")
# "user:password" that the ESP's webhook calls must present (HTTP basic auth).
ANYMAIL = {"WEBHOOK_SECRET": env_str("ANYMAIL_WEBHOOK_SECRET", "")}
SMTP_DELIVERY_PORT = env_int("SMTP_DELIVERY_PORT", 25)
SMTP_TIMEOUT = env_int("SMTP_TIMEOUT", 60)
# The outbound queue (defaults after Postfix: retries from 300 s doubling to
# 4000 s, bounced after 5 days).
OUTBOUND_MAX_QUEUE_LIFETIME = env_int("OUTBOUND_MAX_QUEUE_LIFETIME", 5 * 24 * 3600)
OUTBOUND_RETRY_BASE_SECONDS = env_int("OUTBOUND_RETRY_BASE_SECONDS", 300)
OUTBOUND_RETRY_MAX_SECONDS = env_int("OUTBOUND_RETRY_MAX_SECONDS", 4000)
# Recipients a worker claims at once: the claim's, the record's and the status refresh's
# statements are shared by all of them (300 against 100: a fifth less CPU per message).
OUTBOUND_BATCH_SIZE = env_int("OUTBOUND_BATCH_SIZE", 300)
OUTBOUND_MAX_BATCHES_PER_TASK = env_int("OUTBOUND_MAX_BATCHES_PER_TASK", 50)
# A claim's lease: a heartbeat renews it every third of it while the worker lives (however
# long an SMTP step blocks), so it only needs to outlast a few missed beats; when a worker
# dies, its claim goes back to the queue this long after its last beat.
OUTBOUND_LEASE_SECONDS = env_int("OUTBOUND_LEASE_SECONDS", 45)
# SMTP transactions whose outcomes are recorded together. 1 (each recorded before the next is sent)
# bounds what a killed worker's claim sends twice to the transaction it was in; more records
# fewer, larger transactions (faster; docs/RELIABILITY.md) and may send up to that many twice.
OUTBOUND_RECORD_EVERY = env_int("OUTBOUND_RECORD_EVERY", 1)
# The same for the bulk queue (campaigns), which may trade a larger duplicate window for speed.
OUTBOUND_RECORD_EVERY_BULK = env_int("OUTBOUND_RECORD_EVERY_BULK", OUTBOUND_RECORD_EVERY)
# No domain of a claim is started after this long: the rest is given back to the queue
# for any worker, instead of waiting behind slow domains (several hosts × SMTP_TIMEOUT).
OUTBOUND_CLAIM_SECONDS = env_int("OUTBOUND_CLAIM_SECONDS", 450)
OUTBOUND_DOMAIN_CONCURRENCY = env_int("OUTBOUND_DOMAIN_CONCURRENCY", 10)
OUTBOUND_DOMAIN_RATE_PER_MINUTE = env_int("OUTBOUND_DOMAIN_RATE_PER_MINUTE", 3000)
OUTBOUND_SENDER_RATE_PER_MINUTE = env_int("OUTBOUND_SENDER_RATE_PER_MINUTE", 3000)
OUTBOUND_THROTTLE_DELAY_SECONDS = env_int("OUTBOUND_THROTTLE_DELAY_SECONDS", 30)
# "Host unknown" (NXDOMAIN) can be a DNS blip: a destination domain is retried for this
# long after its first such answer before its mail bounces (and its addresses are suppressed).
OUTBOUND_HOST_UNKNOWN_RETRY_SECONDS = env_int("OUTBOUND_HOST_UNKNOWN_RETRY_SECONDS", 4 * 3600)
# How long a hard bounce keeps an address on the (bulk) suppression list; 0: for ever.
# Complaints, unsubscribes and an admin's entries never expire.
SUPPRESSION_BOUNCE_DAYS = env_int("SUPPRESSION_BOUNCE_DAYS", 90)

# The MX (manage.py runsmtpd).
SMTPD_HOST = env_str("SMTPD_HOST", "127.0.0.1")
SMTPD_PORT = env_int("SMTPD_PORT", 2525)
# Several runsmtpd processes on one port (Linux SO_REUSEPORT: the kernel spreads the connections
# over them), for more cores than one Python process uses. Each keeps its own per-client limits.
SMTPD_REUSE_PORT = env_bool("SMTPD_REUSE_PORT", False)
SMTPD_TLS_CERT = env_str("SMTPD_TLS_CERT", "")  # PEM files; with both set, STARTTLS is offered
SMTPD_TLS_KEY = env_str("SMTPD_TLS_KEY", "")
SMTPD_MAX_RECIPIENTS = env_int("SMTPD_MAX_RECIPIENTS", 100)
SMTPD_TIMEOUT = env_int("SMTPD_TIMEOUT", 300)
SMTPD_CONNECTIONS_PER_MINUTE_PER_IP = env_int("SMTPD_CONNECTIONS_PER_MINUTE_PER_IP", 600)
SMTPD_MESSAGES_PER_MINUTE_PER_IP = env_int("SMTPD_MESSAGES_PER_MINUTE_PER_IP", 3000)
# A client's errors (unknown users, refused commands) until it delivers a message, as Postfix's
# smtpd_soft_error_limit / smtpd_hard_error_limit / smtpd_error_sleep_time: beyond the soft limit
# each error reply waits SLEEP seconds per error made; at the hard limit, 421 and disconnect.
SMTPD_SOFT_ERROR_LIMIT = env_int("SMTPD_SOFT_ERROR_LIMIT", 10)
SMTPD_HARD_ERROR_LIMIT = env_int("SMTPD_HARD_ERROR_LIMIT", 20)
SMTPD_ERROR_SLEEP_SECONDS = env_float("SMTPD_ERROR_SLEEP_SECONDS", 1.0)
# A message's header section: at most this many fields and bytes (552 5.3.4 at the end of DATA).
SMTPD_MAX_HEADER_FIELDS = env_int("SMTPD_MAX_HEADER_FIELDS", 1000)
SMTPD_MAX_HEADER_BYTES = env_int("SMTPD_MAX_HEADER_BYTES", 1024 * 1024)

# Inbound content filters. Virus scanning is built in, or ClamAV when CLAMD_URL
# is set (tcp://host:3310 or unix:///run/clamav/clamd.ctl); spam scoring is
# built-in rules plus Bayes, or rspamd when RSPAMD_URL is set (http://host:11333).
CLAMD_URL = env_str("CLAMD_URL", "")
if CLAMD_URL:
    INBOUND_VIRUS_SCANNER = {
        "BACKEND": "inbound.filters.virus.ClamdScanner",
        "OPTIONS": {"URL": CLAMD_URL, "TIMEOUT": env_int("CLAMD_TIMEOUT", 30)},
    }
else:
    INBOUND_VIRUS_SCANNER = {"BACKEND": "inbound.filters.virus.BuiltinScanner"}
RSPAMD_URL = env_str("RSPAMD_URL", "")
if RSPAMD_URL:
    INBOUND_SPAM_FILTER = {
        "BACKEND": "inbound.filters.spam.RspamdFilter",
        "OPTIONS": {
            "URL": RSPAMD_URL,
            "PASSWORD": env_str("RSPAMD_PASSWORD", ""),
            "TIMEOUT": env_int("RSPAMD_TIMEOUT", 30),
        },
    }
else:
    INBOUND_SPAM_FILTER = {
        "BACKEND": "inbound.filters.spam.BuiltinSpamFilter",
        "OPTIONS": {"BAYES_MIN_MESSAGES": env_int("SPAM_BAYES_MIN_MESSAGES", 20)},
    }
INBOUND_SPAM_THRESHOLD = env_float("INBOUND_SPAM_THRESHOLD", 5.0)
# ARC sealers (RFC 8617) whose ARC-Authentication-Results are believed: when one of them (or a subdomain)
# saw an aligned DKIM/SPF pass or a DMARC pass, mail that fails DMARC since (a list tagged its subject, a
# forwarder changed the envelope) is not quarantined or rejected for it. Only operators whose verdicts you
# would take as your own belong here: big mailbox providers and list hosts that seal what they receive.
# See docs/DKIM-ARC.md. Comma list; empty trusts none.
ARC_TRUSTED_SEALERS = env_list(
    "ARC_TRUSTED_SEALERS",
    [
        "google.com",  # Gmail, Google Groups, Workspace
        "microsoft.com",  # Outlook.com and Microsoft 365 seal with d=microsoft.com
        "outlook.com",
        "yahoo.com",  # Yahoo and AOL mail
        "aol.com",
        "messagingengine.com",  # Fastmail
        "zohomail.com",  # Zoho Mail
        "groups.io",  # mailing-list host
    ],
)
# How long a worker's claim on inbound jobs lasts; a live worker renews it every third of that,
# so a dead worker's jobs are taken back (by the reconciler, every 10 s) within a minute. Long
# enough to ride out a 20 s database outage without handing live work to another worker.
INBOUND_LEASE_SECONDS = env_int("INBOUND_LEASE_SECONDS", 45)

# --- Network ----------------------------------------------------------------

# Resolvers for MX/SPF/DKIM/DMARC lookups ("host[:port]" list); empty: the system's.
DNS_NAMESERVERS = env_list("DNS_NAMESERVERS")
DNS_TIMEOUT = env_int("DNS_TIMEOUT", 5)

# --- DMARC (inbound/auth/dmarc.py, inbound/dmarc_reports/) -----------------------------------

# RFC 9091 PSD DMARC: without a record at the From or Organizational Domain, use a public suffix's psd=y record.
DMARC_PSD = env_bool("DMARC_PSD", False)
# draft-ietf-dmarc-dmarcbis tree walk instead of the Public Suffix List for policy and Organizational Domain.
DMARC_TREE_WALK = env_bool("DMARC_TREE_WALK", False)
# Envelope recipients whose mail carries aggregate reports about our domains (the rua= we publish):
# shell-style patterns, case-insensitive. The MX accepts them even where no mailbox has the address.
DMARC_REPORT_ADDRESSES = env_list("DMARC_REPORT_ADDRESSES", ["dmarc-reports@*"])
# Send aggregate reports about the mail we receive to the rua= of its From domains (inbound/dmarc_reports/sending.py).
DMARC_SEND_AGGREGATE_REPORTS = env_bool("DMARC_SEND_AGGREGATE_REPORTS", False)
DMARC_REPORT_FROM = env_str("DMARC_REPORT_FROM", "")  # empty: dmarc-noreply@MAIL_HOSTNAME

# --- REST API (webmail/api/) ---------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "webmail.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": [
        "webmail.api.throttling.UserThrottle",
        "webmail.api.throttling.TokenThrottle",
        "webmail.api.throttling.AnonThrottle",
    ],
    # Per user (whatever the credentials), per token, and per client address without credentials.
    "DEFAULT_THROTTLE_RATES": {
        "user": env_str("API_THROTTLE_USER", "1200/min"),
        "token": env_str("API_THROTTLE_TOKEN", "600/min"),
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
    },
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],  # uploads add multipart
    "EXCEPTION_HANDLER": "webmail.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Mail platform API",
    "DESCRIPTION": (
        "Send, read, search and organise mail. Authenticate with `Authorization: Bearer TOKEN` "
        "(a token from your settings page or `manage.py createapitoken ADDRESS`). "
        'Every error is `{"error": {"code", "message", "details": {field: [messages]}}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "webmail.api.schema.add_error_responses",
    ],
}
# How long the credential-less, single-use attachment links of the API work.
API_DOWNLOAD_LINK_SECONDS = env_int("API_DOWNLOAD_LINK_SECONDS", 300)
# Wrong bearer tokens one client may send in API_TOKEN_FAILURE_WINDOW seconds before it gets 429.
API_TOKEN_MAX_FAILURES = env_int("API_TOKEN_MAX_FAILURES", 20)
API_TOKEN_FAILURE_WINDOW = env_int("API_TOKEN_FAILURE_WINDOW", 15 * 60)

# --- Campaigns: contacts ------------------------------------------------------
# The largest CSV of contacts a marketer may upload (a million rows fit in about 50 MB).
CONTACT_IMPORT_MAX_BYTES = env_int("CONTACT_IMPORT_MAX_BYTES", 50 * 1024 * 1024)
# Contacts written per statement by an import (and per progress update).
CONTACT_IMPORT_BATCH_SIZE = env_int("CONTACT_IMPORT_BATCH_SIZE", 1000)
# A running import whose batches stopped renewing its lease this long ago lost its worker: it is run again.
CONTACT_IMPORT_LEASE_SECONDS = env_int("CONTACT_IMPORT_LEASE_SECONDS", 300)
# How long the link of a double opt-in confirmation mail works.
DOUBLE_OPT_IN_MAX_AGE_DAYS = env_int("DOUBLE_OPT_IN_MAX_AGE_DAYS", 7)

# --- Campaigns: sending -------------------------------------------------------
# Released campaign recipients still in the outbox, at most, per campaign: what a pause has to park and
# a cancel to reject. The bulk queue's workers top it up before each claim, so it needs a claim for each
# worker delivering plus one ready; ten claims leave room for nine workers.
CAMPAIGN_RELEASE_WINDOW = env_int("CAMPAIGN_RELEASE_WINDOW", 10 * OUTBOUND_BATCH_SIZE)
# Warm-up of a new sending domain: what its campaigns may send in 24 hours on day 1, 2, … after its
# first campaign started (comma list, e.g. 50,100,500,1000,5000,10000,50000); empty: no warm-up.
try:
    CAMPAIGN_WARMUP_DAILY_CAPS = [int(cap) for cap in env_list("CAMPAIGN_WARMUP_DAILY_CAPS")]
except ValueError as exc:
    raise ImproperlyConfigured("CAMPAIGN_WARMUP_DAILY_CAPS must be a comma list of whole numbers.") from exc
# Campaign recipients the sample check before scheduling renders the template for.
CAMPAIGN_PREFLIGHT_SAMPLE = env_int("CAMPAIGN_PREFLIGHT_SAMPLE", 20)

# --- Reputation and abuse (docs/REPUTATION.md) --------------------------------
# Guardrails, after Gmail's and Yahoo's 2024 sender rules (spam rate under 0.1 %, never 0.3 %):
# a sender, sending domain or campaign is warned past the WARN rates and paused past the PAUSE
# rates, once the window holds at least REPUTATION_MIN_VOLUME final outcomes.
REPUTATION_WARN_COMPLAINT_RATE = env_float("REPUTATION_WARN_COMPLAINT_RATE", 0.001)
REPUTATION_WARN_BOUNCE_RATE = env_float("REPUTATION_WARN_BOUNCE_RATE", 0.05)
REPUTATION_PAUSE_COMPLAINT_RATE = env_float("REPUTATION_PAUSE_COMPLAINT_RATE", 0.003)
REPUTATION_PAUSE_BOUNCE_RATE = env_float("REPUTATION_PAUSE_BOUNCE_RATE", 0.10)
REPUTATION_MIN_VOLUME = env_int("REPUTATION_MIN_VOLUME", 100)

# --- Reputation: guardrails (docs/GUARDRAILS.md) ------------------------------
# After an admin resumes a sender or domain a guardrail paused, it is warned, not paused again,
# for this long (the 24-hour window still holds the figures the admin saw). A resumed campaign
# is not paused again by a guardrail at all (its window is its whole life).
REPUTATION_RESUME_GRACE_HOURS = env_int("REPUTATION_RESUME_GRACE_HOURS", 24)

# --- Reputation: figures ------------------------------------------------------
# Counters are kept in 5-minute buckets (2 days), hourly buckets and daily buckets; the hourly
# ones must cover the 30-day window (and its first partial day), the daily ones the charts.
REPUTATION_HOURLY_KEPT_DAYS = max(32, env_int("REPUTATION_HOURLY_KEPT_DAYS", 35))
REPUTATION_DAILY_KEPT_DAYS = max(31, env_int("REPUTATION_DAILY_KEPT_DAYS", 400))

# --- Reputation: sender limits --------------------------------------------------
# Quotas on submissions (webmail and API; campaign fan-out is paced by delivery), per sending user
# and per sending domain (the From address's), over sliding windows (docs/SENDER-LIMITS.md).
# Above Google Workspace's published 2,000 messages and 10,000 recipients a day, so people and
# service accounts never meet them, yet a hijacked account cannot send more than an hour's worth.
# 0 lifts a limit; admins override them per user and per domain (Sender limits, in the admin).
SEND_LIMIT_PER_MINUTE = env_int("SEND_LIMIT_PER_MINUTE", 60)
SEND_LIMIT_PER_HOUR = env_int("SEND_LIMIT_PER_HOUR", 1000)
SEND_LIMIT_PER_DAY = env_int("SEND_LIMIT_PER_DAY", 10000)
SEND_LIMIT_RECIPIENTS_PER_MESSAGE = env_int("SEND_LIMIT_RECIPIENTS_PER_MESSAGE", MAIL_MAX_RECIPIENTS)  # the ceiling
SEND_LIMIT_RECIPIENTS_PER_DAY = env_int("SEND_LIMIT_RECIPIENTS_PER_DAY", 20000)
SEND_LIMIT_DOMAIN_PER_MINUTE = env_int("SEND_LIMIT_DOMAIN_PER_MINUTE", 600)
SEND_LIMIT_DOMAIN_PER_HOUR = env_int("SEND_LIMIT_DOMAIN_PER_HOUR", 10000)
SEND_LIMIT_DOMAIN_PER_DAY = env_int("SEND_LIMIT_DOMAIN_PER_DAY", 100000)
SEND_LIMIT_DOMAIN_RECIPIENTS_PER_MESSAGE = env_int("SEND_LIMIT_DOMAIN_RECIPIENTS_PER_MESSAGE", 0)
SEND_LIMIT_DOMAIN_RECIPIENTS_PER_DAY = env_int("SEND_LIMIT_DOMAIN_RECIPIENTS_PER_DAY", 200000)

# --- Reputation: compromised accounts and outbound content ------------------------
# (docs/ABUSE.md) One strong sign or two moderate ones suspend an account's sending. DETECTION off:
# submissions are still counted, nobody is suspended (load harnesses: one user, many new addresses).
REPUTATION_COMPROMISE_DETECTION = env_bool("REPUTATION_COMPROMISE_DETECTION", True)
# Volume: recipients in the last hour over max(FLOOR, FACTOR x its hourly average over BASELINE_DAYS)
# is moderate, over max(STRONG_FLOOR, STRONG_FACTOR x that average) strong.
REPUTATION_COMPROMISE_BASELINE_DAYS = env_int("REPUTATION_COMPROMISE_BASELINE_DAYS", 7)
REPUTATION_COMPROMISE_VOLUME_FLOOR = env_int("REPUTATION_COMPROMISE_VOLUME_FLOOR", 500)
REPUTATION_COMPROMISE_VOLUME_FACTOR = env_float("REPUTATION_COMPROMISE_VOLUME_FACTOR", 10.0)
REPUTATION_COMPROMISE_VOLUME_STRONG_FLOOR = env_int("REPUTATION_COMPROMISE_VOLUME_STRONG_FLOOR", 2000)
REPUTATION_COMPROMISE_VOLUME_STRONG_FACTOR = env_float("REPUTATION_COMPROMISE_VOLUME_STRONG_FACTOR", 50.0)
# Unknown-user bounces in the last hour (at least this many, and this share of what was sent): moderate.
REPUTATION_COMPROMISE_UNKNOWN_USERS = env_int("REPUTATION_COMPROMISE_UNKNOWN_USERS", 50)
REPUTATION_COMPROMISE_UNKNOWN_USER_RATE = env_float("REPUTATION_COMPROMISE_UNKNOWN_USER_RATE", 0.2)
# Distinct recipients never written to nor received from (in LOOKBACK_DAYS) in the last hour: moderate.
REPUTATION_COMPROMISE_NEW_RECIPIENTS = env_int("REPUTATION_COMPROMISE_NEW_RECIPIENTS", 300)
REPUTATION_COMPROMISE_NEW_RECIPIENT_LOOKBACK_DAYS = env_int("REPUTATION_COMPROMISE_NEW_RECIPIENT_LOOKBACK_DAYS", 365)
# A sign-in from a new network (/24, /48) in the last NEW_NETWORK_HOURS, then at least
# NEW_NETWORK_VOLUME recipients in the last hour: moderate.
REPUTATION_COMPROMISE_NEW_NETWORK_HOURS = env_int("REPUTATION_COMPROMISE_NEW_NETWORK_HOURS", 24)
REPUTATION_COMPROMISE_NEW_NETWORK_VOLUME = env_int("REPUTATION_COMPROMISE_NEW_NETWORK_VOLUME", 200)
# Outbound messages scored as spam or with a blocked link in the last hour: moderate.
REPUTATION_COMPROMISE_SPAM_MESSAGES = env_int("REPUTATION_COMPROMISE_SPAM_MESSAGES", 3)
# After an admin resumes a suspended account, the same counts do not suspend it again for this long.
REPUTATION_COMPROMISE_RESUMED_GRACE_HOURS = env_int("REPUTATION_COMPROMISE_RESUMED_GRACE_HOURS", 2)
# Outbound content: the score at which service, API and bulk mail is refused (0: the spam filter's own
# threshold, INBOUND_SPAM_THRESHOLD for the built-in one); whether a person's webmail mail is scored
# (as evidence only, never refused).
REPUTATION_CONTENT_SPAM_THRESHOLD = env_float("REPUTATION_CONTENT_SPAM_THRESHOLD", 0.0)
REPUTATION_CONTENT_SCAN_PERSONAL = env_bool("REPUTATION_CONTENT_SCAN_PERSONAL", True)

# --- Reputation: provider shaping -------------------------------------------------
# Per-provider profiles and retry rules are in the admin (docs/PROVIDER-SHAPING.md). After a pause
# that a throttling reply set ends, a provider quiet this long starts again from the first (shortest) step.
PROVIDER_BACKOFF_MEMORY_SECONDS = env_int("PROVIDER_BACKOFF_MEMORY_SECONDS", 3600)

# --- Reputation: domain verification ----------------------------------------------
# A hosted domain sends to remote recipients only once its ownership token has been found in DNS
# (docs/DOMAINS.md); mail between hosted users never needs it. Domains that existed before this
# setting are grandfathered (verified by the migration).
DOMAIN_VERIFICATION_REQUIRED = env_bool("DOMAIN_VERIFICATION_REQUIRED", True)
# The addresses our outbound mail leaves from, for the SPF status light; empty: MAIL_HOSTNAME's A/AAAA.
OUTBOUND_IPS = env_list("OUTBOUND_IPS")
# How long a DKIM public key replaced by a rotation stays to be published: mail signed with it just
# before the rotation may wait in a remote relay's queue (typically as long as ours) and be verified
# on its way on, so the queue lifetime plus two days of margin (DNS TTLs, slow forwarders).
DKIM_RETIRED_KEY_PUBLISH_SECONDS = env_int(
    "DKIM_RETIRED_KEY_PUBLISH_SECONDS", OUTBOUND_MAX_QUEUE_LIFETIME + 2 * 24 * 3600
)
# The scheduler re-checks an unverified domain's DNS this often (its published token then verifies it
# without anyone pressing "Check now"), and every domain's status lights once they are this old.
DOMAIN_PENDING_CHECK_SECONDS = env_int("DOMAIN_PENDING_CHECK_SECONDS", 10 * 60)
DOMAIN_STATUS_MAX_AGE_SECONDS = env_int("DOMAIN_STATUS_MAX_AGE_SECONDS", 24 * 3600)
CELERY_BEAT_SCHEDULE["recheck-domains"] = {"task": "accounts.recheck_domains", "schedule": DOMAIN_PENDING_CHECK_SECONDS}

# --- Reputation: mailbox simulator --------------------------------------------------
# Mail to success@, bounce@, complaint@, ooto@ and suppressed@ this domain (a +tag allowed:
# bounce+42@) gets that outcome from an in-process simulator, never leaving the machine
# (docs/SIMULATOR.md). RFC 2606 reserves .invalid; empty turns the simulator off.
MAILBOX_SIMULATOR_DOMAIN = env_str("MAILBOX_SIMULATOR_DOMAIN", "simulator.invalid")

# --- Observability: metrics (docs/OBSERVABILITY.md) ------------------------------
# /metrics answers a request carrying "Authorization: Bearer <METRICS_TOKEN>" (empty: no token
# works) or coming from one of these networks (REMOTE_ADDR: behind a proxy, keep /metrics off it).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"])
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc}") from exc
# Every process (web workers, MX, Celery workers) writes its counters into files here and one
# scrape adds them up (prometheus-client's multi-process mode). prometheus_client reads the
# variable when it is first imported, which is after settings in every entry point (manage.py,
# wsgi/asgi, celery -A webmail): so it is exported here. Empty: one process, no files.
# Wipe it when a deployment starts (manage.py metrics_reset; rundev does).
METRICS_DIR = env_str("METRICS_DIR", os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(VAR_DIR / "metrics"))
if METRICS_DIR:
    Path(METRICS_DIR).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_DIR
else:
    os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)

# --- Observability: health ---------------------------------------------------------

# /readyz and manage.py doctor (docs/HEALTH.md). Each readiness check gets this long before it counts as failed.
HEALTH_CHECK_TIMEOUT_SECONDS = env_float("HEALTH_CHECK_TIMEOUT_SECONDS", 2.0)
# The storages (keys of STORAGES) /readyz writes a probe file to.
HEALTH_STORAGES = env_list("HEALTH_STORAGES", ["mailstore"])
# doctor: warn when the database server's clock and this machine's differ by more than this.
DOCTOR_CLOCK_SKEW_WARN_SECONDS = env_float("DOCTOR_CLOCK_SKEW_WARN_SECONDS", 5.0)
# doctor: warn when more outgoing recipients than this are due, or the oldest due one waits longer than this.
DOCTOR_BACKLOG_DUE_WARN = env_int("DOCTOR_BACKLOG_DUE_WARN", 1000)
DOCTOR_BACKLOG_OLDEST_WARN_SECONDS = env_int("DOCTOR_BACKLOG_OLDEST_WARN_SECONDS", 900)
# doctor: whose MX it connects to on port 25 to see whether outbound SMTP is blocked (MAIL_TRANSPORT=mx).
DOCTOR_OUTBOUND_PROBE_DOMAIN = env_str("DOCTOR_OUTBOUND_PROBE_DOMAIN", "gmail.com")

# --- Observability: logs -------------------------------------------------------------
# One line per log record: "plain" (readable, with the context fields in brackets) or "json"
# (one object per line, for a log shipper). docs/LOGS.md. LOGGING itself is built below.
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")

# --- Observability: dashboards and alerts ----------------------------------------------

# --- Security in production ---------------------------------------------------

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Context fields (request, task, message, recipient) and redaction of secrets on every line: docs/LOGS.md.
LOGGING = logging_config(log_format=LOG_FORMAT, level=env_str("LOG_LEVEL", "INFO"))

# --- Sign-in and security (docs/ACCOUNT-SECURITY.md) -------------------------------------
# Who a locked-out user should contact (e.g. postmaster@example.org); shown on the sign-in page when set.
ADMIN_CONTACT = env_str("ADMIN_CONTACT", "")
# The From of account mail (recovery address checks, password reset links); empty: no-reply@MAIL_HOSTNAME.
ACCOUNT_MAIL_FROM = env_str("ACCOUNT_MAIL_FROM", "")
# How long a password reset link works (Django's setting), and a recovery address's verification link.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 60 * 60)
RECOVERY_ADDRESS_LINK_SECONDS = env_int("RECOVERY_ADDRESS_LINK_SECONDS", 24 * 60 * 60)
# "Forgot password?" requests per address and per client in PASSWORD_RESET_THROTTLE_WINDOW seconds.
PASSWORD_RESET_MAX_PER_ADDRESS = env_int("PASSWORD_RESET_MAX_PER_ADDRESS", 3)
PASSWORD_RESET_MAX_PER_CLIENT = env_int("PASSWORD_RESET_MAX_PER_CLIENT", 10)
PASSWORD_RESET_THROTTLE_WINDOW = env_int("PASSWORD_RESET_THROTTLE_WINDOW", 60 * 60)
# The name authenticator apps show beside the address (empty: MAIL_HOSTNAME).
TWO_FACTOR_ISSUER = env_str("TWO_FACTOR_ISSUER", "")
# Between a correct password and its code: how long the half-done sign-in is kept.
TWO_FACTOR_PENDING_SECONDS = env_int("TWO_FACTOR_PENDING_SECONDS", 5 * 60)
# The sessions list's "last seen" is written at most this often per session.
SESSION_TOUCH_SECONDS = env_int("SESSION_TOUCH_SECONDS", 5 * 60)

# Schedule send and mailbox import (part: schedule send, import, export).
SCHEDULE_SEND_MAX_DAYS = env_int("SCHEDULE_SEND_MAX_DAYS", 365)  # how far ahead a message may be scheduled
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 2 * 1024 * 1024 * 1024)  # one uploaded mbox or archive
# A mailbox import whose task was lost (broker down) or whose worker died is queued again.
CELERY_BEAT_SCHEDULE["redispatch-import-jobs"] = {"task": "mailboxes.redispatch_import_jobs", "schedule": 60}
