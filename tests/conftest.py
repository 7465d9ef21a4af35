import pytest

from tests.factories import LabelFactory, UserFactory


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
