"""Personas and helpers of the contacts tests (a module, not a conftest: other parts of issue 13 test here too).

A test module takes the fixtures with ``alice, bob, mallory, workspace = support.alice, …``.
Alice is a marketer of ``shop.test``, Bob an end user of the same domain (no marketing area),
Mallory a marketer of another workspace, ``evil.test``.
"""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Domain
from campaigns.services.imports import get_contact_import, start_contact_import, upload_contact_import
from tests.factories import UserFactory


@pytest.fixture
def alice(db, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    return UserFactory(address="alice@shop.test", display_name="Alice Liddell", marketer=True)


@pytest.fixture
def bob(alice):
    return UserFactory(address="bob@shop.test", display_name="Bob Builder")


@pytest.fixture
def mallory(db):
    return UserFactory(address="mallory@evil.test", display_name="Mallory", marketer=True)


@pytest.fixture
def workspace(alice):
    return Domain.objects.get(name="shop.test")


def csv_upload(content: bytes | str, name: str = "contacts.csv", encoding: str = "utf-8") -> SimpleUploadedFile:
    data = content.encode(encoding) if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, content_type="text/csv")


def run_import(
    django_capture_on_commit_callbacks,
    *,
    workspace,
    user,
    content,
    contact_list=None,
    consent_given=False,
    consent_source="",
    columns=None,
):
    """Upload, keep the guessed mapping (or ``columns``), start; the task runs at commit, as in production."""
    upload = upload_contact_import(workspace=workspace, user=user, file=csv_upload(content))
    with django_capture_on_commit_callbacks(execute=True):
        start_contact_import(
            workspace=workspace,
            import_id=upload.pk,
            columns=columns or upload.mapping["columns"],
            contact_list_id=contact_list.pk if contact_list else None,
            consent_given=consent_given,
            consent_source=consent_source,
        )
    return get_contact_import(workspace=workspace, import_id=upload.pk)


def read_csv_bytes(data: bytes) -> list[list[str]]:
    import csv

    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
