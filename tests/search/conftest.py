import os
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest
from django.utils import timezone

from mailboxes.models import Folder, MailboxItem
from mailboxes.search.backends import reset_search_backends
from mailboxes.search.indexing import index_changes, index_items
from mailboxes.services import place_message, store_message

BACKENDS = {
    "database": {"BACKEND": "mailboxes.search.backends.database.DatabaseBackend"},
    "elasticsearch": {
        "BACKEND": "mailboxes.search.backends.elasticsearch.ElasticsearchBackend",
        "URL": os.environ.get("ELASTICSEARCH_URL", ""),
        "INDEX": "webmail-test-mail",
        "REFRESH": True,  # a search right after indexing sees the documents
    },
}


@pytest.fixture(params=list(BACKENDS))
def backend_name(request, settings):
    """Each contract test runs on the database backend, and on Elasticsearch when ELASTICSEARCH_URL is set."""
    if request.param == "elasticsearch" and not os.environ.get("ELASTICSEARCH_URL"):
        pytest.skip("ELASTICSEARCH_URL is not set")
    settings.SEARCH_BACKENDS = {"default": BACKENDS[request.param]}
    reset_search_backends()
    if request.param == "elasticsearch":
        from mailboxes.search.backends import get_search_backend

        get_search_backend().clear()
    yield request.param
    reset_search_backends()


@pytest.fixture(autouse=True)
def _fresh_backends():
    reset_search_backends()
    yield
    reset_search_backends()


def build_raw(
    *,
    subject="Hello",
    body="Hello there.",
    html=None,
    sender="Sender <sender@remote.example>",
    to="alice@example.test",
    cc=None,
    attachments=(),
    date=None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or timezone.now())
    msg["Message-ID"] = make_msgid(domain="remote.example")
    if html is not None and not body:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(msg)


@pytest.fixture
def mail(alice):
    """``mail(subject=..., body=..., users=[alice], folder=..., received_at=...)`` delivers and returns the items.

    Nothing is searchable until ``mail.index()`` runs the indexer, as in production.
    """

    def make(*, users=None, folder=Folder.INBOX, received_at=None, **fields):
        users = users or [alice]
        fields.setdefault("to", ", ".join(user.username for user in users))
        message, _ = store_message(raw=build_raw(**fields))
        items = [place_message(user=user, message=message, folder=folder, received_at=received_at) for user in users]
        return items[0] if len(items) == 1 else items

    def index():
        """Follows the change feed, then refreshes every item (folder/label/flag state lives in ES's index)."""
        index_changes()
        index_items(list(MailboxItem.objects.values_list("pk", flat=True)))

    make.index = index
    return make
