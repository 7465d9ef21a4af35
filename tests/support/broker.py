"""A Celery broker that is down: a loopback port where nothing listens."""

from contextlib import contextmanager

from tests.support.smtp_server import free_port
from webmail.celery import app


@contextmanager
def unreachable_broker():
    """Tasks are published for real (not run inline) to a broker that refuses the connection."""
    keys = ("broker_url", "broker_transport", "task_always_eager")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(
        broker_url=f"amqp://guest@127.0.0.1:{free_port()}//", broker_transport=None, task_always_eager=False
    )
    forget_broker_connections()
    try:
        yield
    finally:
        app.conf.update(saved)
        forget_broker_connections()


def forget_broker_connections():
    """The app's pools still point at the previous broker: let it pick the current one.

    Only the references are dropped. The pools are kombu's, shared per broker
    address: closing one breaks the next test on that broker ("Acquire on
    closed pool"). And not ``app.close()``: that also unregisters the app, and
    the shared tasks of modules imported afterwards are unknown to it
    (NotRegistered).
    """
    app._pool = None
    app.amqp._producer_pool = None
