import gc

import pytest
from django.utils import translation

from core.dns import flush_dns_cache
from core.providers import clear_cache as clear_provider_cache
from delivery.mx import clear_cache as clear_dns_cache
from delivery.transports import reset_transport
from inbound.auth import clear_caches as clear_auth_caches
from tests.factories import LabelFactory, UserFactory
from tests.support.dns_server import LoopbackDNS
from tests.support.smtp_server import FaultySMTPServer, free_port
from webmail.celery import app as celery_app

# browser, page, phone_page, any_page: headless Chromium at desktop and phone widths.
pytest_plugins = ["tests.support.browser"]


@pytest.fixture(autouse=True)
def _isolated_mailstore(settings, tmp_path):
    """Each test writes blobs to its own folder, never into var/."""
    settings.STORAGES = {
        **settings.STORAGES,
        "mailstore": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "mailstore"), "allow_overwrite": True},
        },
    }


@pytest.fixture(autouse=True)
def _tasks_run_inline():
    """A dispatched task runs at once, in the test's process (after commit, as in production)."""
    celery_app.conf.task_always_eager = True
    yield
    reset_transport()
    clear_dns_cache()


@pytest.fixture(scope="session")
def dns_server():
    """A real DNS server on loopback; every test resolves through it and never the internet."""
    server = LoopbackDNS().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _loopback_network(settings, dns_server):
    dns_server.resolver.clear()
    flush_dns_cache()  # the resolver caches answers; each test starts from its own records
    clear_auth_caches()  # and SPF and DMARC keep what they computed from them
    clear_provider_cache()  # and the destination providers recognised by MX
    settings.DNS_NAMESERVERS = [dns_server.nameserver]
    settings.SMTP_DELIVERY_PORT = free_port()  # nothing listens there unless a test starts a server
    settings.SMTP_TIMEOUT = 5


@pytest.fixture
def smtp_server(settings):
    """A misbehaving-on-demand SMTP server (see tests/support/smtp_server.py) on the delivery port."""
    server = FaultySMTPServer().start()
    settings.SMTP_DELIVERY_PORT = server.port
    yield server
    reset_transport()
    server.stop()


@pytest.fixture
def remote_domain(dns_server, smtp_server):
    """``remote.example``, whose MX is the loopback SMTP server."""
    dns_server.resolver.add("remote.example. 300 IN MX 10 mx.remote.example.")
    dns_server.resolver.add("mx.remote.example. 300 IN A 127.0.0.1")
    return "remote.example"


@pytest.fixture(autouse=True)
def _guardrails_forget_clean_subjects():
    """The guardrails remember, per process, the subjects found clean this hour; each test judges its own."""
    from reputation.services.guardrails import forget_clean

    forget_clean()


@pytest.fixture(autouse=True)
def _domains_need_no_verification(settings):
    """Test domains are made by factories, unverified: only tests/accounts/test_domain_checks.py (which turns
    it on) is about ownership verification; every other test sends as an installation that predates it."""
    settings.DOMAIN_VERIFICATION_REQUIRED = False


@pytest.fixture(autouse=True)
def _default_language():
    """A request's language (LocaleMiddleware activates it for the thread) does not follow into the next test."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 at full strength costs ~0.3 s per persona; the tests are not about hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def alice(db):
    """Owns the mailbox under test."""
    return UserFactory(address="alice@example.test", display_name="Alice Liddell")


@pytest.fixture
def bob(db):
    """Another ordinary user."""
    return UserFactory(address="bob@example.test", display_name="Bob Builder")


@pytest.fixture
def carol(db):
    return UserFactory(address="carol@example.test", display_name="Carol Danvers")


@pytest.fixture
def mallory(db):
    """Hostile: tries other users' ids everywhere."""
    return UserFactory(address="mallory@example.test", display_name="Mallory")


@pytest.fixture
def label_factory():
    return LabelFactory


@pytest.fixture
def mx_server(settings):
    """The real MX (inbound.smtpd) on a loopback port, in its own event loop thread."""
    import asyncio
    import threading

    from inbound.smtpd import serve

    settings.SMTPD_PORT = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder = {}

    def run():
        asyncio.set_event_loop(loop)
        holder["server"] = loop.run_until_complete(serve("127.0.0.1", settings.SMTPD_PORT))
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    yield ("127.0.0.1", settings.SMTPD_PORT)
    loop.call_soon_threadsafe(holder["server"].close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    # The handler's database calls ran in the loop's executor threads: end them, and with
    # them their connections, or PostgreSQL refuses to drop the test database at the end.
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    gc.collect()
