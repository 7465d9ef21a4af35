"""The embedded Celery setup runs real tasks through a broker that needs no server."""

import threading

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun

from mailboxes.blobstore import mailstore, store_blob
from mailboxes.models import Blob
from mailboxes.tasks import sweep_orphan_blobs
from tests.support.broker import forget_broker_connections
from webmail.celery import app


@pytest.fixture
def file_broker(tmp_path):
    queue, processed, control = tmp_path / "queue", tmp_path / "processed", tmp_path / "control"
    for folder in (queue, processed, control):
        folder.mkdir()
    keys = ("broker_url", "broker_transport", "broker_transport_options", "task_always_eager")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(
        broker_url="filesystem://",
        broker_transport="webmail.broker:Transport",
        broker_transport_options={
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "processed_folder": str(processed),
            "control_folder": str(control),
        },
        task_always_eager=False,
    )
    forget_broker_connections()
    yield queue
    app.conf.update(saved)
    forget_broker_connections()


@pytest.mark.django_db(transaction=True)
def test_worker_on_the_embedded_file_broker_sweeps_orphan_blobs(file_broker):
    orphan = store_blob(b"nobody references these bytes")
    assert mailstore().exists(orphan.storage_key)

    # Waits for the task to end rather than polling the table: on SQLite's shared in-memory test
    # database a read in this thread locks the table against the worker's delete.
    swept = threading.Event()

    def on_postrun(sender=None, **kwargs):
        if sender is not None and sender.name == sweep_orphan_blobs.name:
            swept.set()

    task_postrun.connect(on_postrun, weak=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            sweep_orphan_blobs.delay()
            assert swept.wait(timeout=120), "the worker did not run the task"  # a bound, not a timing
    finally:
        task_postrun.disconnect(on_postrun)

    assert not Blob.objects.filter(pk=orphan.pk).exists()
    assert not mailstore().exists(orphan.storage_key)


def test_the_embedded_broker_is_our_file_transport():
    from django.conf import settings

    if settings.CELERY_BROKER_URL != "filesystem://":
        pytest.skip("CELERY_BROKER_URL names a broker server")
    assert settings.CELERY_BROKER_TRANSPORT == app.conf.broker_transport == "webmail.broker:Transport"


def test_the_file_broker_never_shows_a_reader_a_message_still_being_written(file_broker):
    """kombu's own writer creates the file before writing it; a reader in between lost the task."""
    from queue import Empty

    from webmail.broker import Channel

    being_written = file_broker / ".1_0.celery.msg.tmp"  # how ours looks until it is renamed into place
    being_written.write_bytes(b"")
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, Channel)
        channel._put("celery", {"body": "whole"})

        assert channel._get("celery") == {"body": "whole"}
        with pytest.raises(Empty):  # the empty file being written is not taken
            channel._get("celery")
    assert [path.name for path in file_broker.iterdir()] == [being_written.name]
