"""Configuration from the environment: embedded defaults, strict parsing, production safety."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from webmail.env import env_bool, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parent.parent

PRINT_SETTINGS = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'name': str(s.DATABASES['default']['NAME']),"
    " 'key': s.SECRET_KEY, 'broker': s.CELERY_BROKER_URL,"
    " 'mailstore': s.STORAGES['mailstore']['BACKEND']}))"
)


def run_settings(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "DEBUG", "S3_BUCKET")}
    clean.update(DJANGO_SETTINGS_MODULE="webmail.settings", VAR_DIR=str(tmp_path / "var"), **env)
    return subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=clean, capture_output=True, text=True, check=False
    )


def test_embedded_defaults_need_no_server(tmp_path):
    result = run_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"engine": "django.db.backends.sqlite3"' in result.stdout
    assert str(tmp_path / "var" / "webmail.sqlite3") in result.stdout
    assert '"broker": "filesystem://"' in result.stdout
    assert "FileSystemStorage" in result.stdout


def test_development_secret_key_is_generated_once_and_private(tmp_path):
    first = run_settings(tmp_path)
    second = run_settings(tmp_path)
    key_file = tmp_path / "var" / "secret_key"
    assert key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert first.stdout == second.stdout
    assert key_file.read_text().strip() in first.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = run_settings(tmp_path, DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert not (tmp_path / "var" / "secret_key").exists()


def test_production_reads_the_secret_key_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("a-real-production-secret-key-of-sufficient-length\n")
    result = run_settings(tmp_path, DEBUG="false", SECRET_KEY_FILE=str(secret))
    assert result.returncode == 0, result.stderr
    assert "a-real-production-secret-key-of-sufficient-length" in result.stdout


def test_database_url_switches_to_postgresql(tmp_path):
    result = run_settings(tmp_path, DATABASE_URL="postgres://mail@db.internal:5432/mailstore")
    assert result.returncode == 0, result.stderr
    assert '"engine": "django.db.backends.postgresql"' in result.stdout
    assert '"name": "mailstore"' in result.stdout


def test_s3_bucket_switches_the_mail_store_to_s3(tmp_path):
    result = run_settings(tmp_path, S3_BUCKET="mail-blobs")
    assert result.returncode == 0, result.stderr
    assert "storages.backends.s3.S3Storage" in result.stdout


def test_malformed_boolean_names_the_variable(tmp_path):
    result = run_settings(tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_env_helpers_parse_strictly(monkeypatch, tmp_path):
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", " a, b ,,c ")
    assert env_bool("X_BOOL", False) is True
    assert env_int("X_INT", 0) == 12
    assert env_list("X_LIST") == ["a", "b", "c"]
    assert env_int("X_MISSING", 7) == 7
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env_int("X_INT", 0)


def test_env_str_reads_secrets_from_a_file(monkeypatch, tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "pw"))
    assert env_str("X_SECRET") == "s3cret"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="X_SECRET_FILE"):
        env_str("X_SECRET")


def test_deploy_checks_warn_about_embedded_services(settings):
    from django.core.checks import run_checks

    settings.CELERY_BROKER_URL = "filesystem://"
    ids = {message.id for message in run_checks(include_deployment_checks=True)}
    assert "webmail.W002" in ids
    assert ("webmail.W001" in ids) == (settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3")

    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
    assert "webmail.W002" not in {message.id for message in run_checks(include_deployment_checks=True)}


def test_bad_base_url_is_a_system_check_error(settings):
    from django.core.checks import run_checks

    settings.WEBMAIL_BASE_URL = "mail.example.com"
    assert "webmail.E001" in {message.id for message in run_checks()}


POOL_SCRIPT = """
import json, threading, os
import {module}
from django.conf import settings
from django.db import connection

def backend(found):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        found.append(cursor.fetchone()[0])
    connection.close()  # as at the end of a request

pids = []
for _ in range(3):  # each request in a thread of its own, as Django runs them under ASGI
    thread = threading.Thread(target=backend, args=(pids,))
    thread.start()
    thread.join()
database = settings.DATABASES["default"]
print(json.dumps({{"pool": database["OPTIONS"].get("pool"), "max_age": database["CONN_MAX_AGE"], "pids": pids}}))
"""


def run_entry_point(module, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    clean.update(DJANGO_SETTINGS_MODULE="webmail.settings", DATABASE_URL=os.environ["DATABASE_URL"], **env)
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", POOL_SCRIPT.format(module=module)],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


needs_postgres = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="the pool is PostgreSQL's"
)


@needs_postgres
def test_under_asgi_requests_share_a_pool_of_postgresql_connections():
    found = run_entry_point("webmail.asgi", DATABASE_POOL_MIN_SIZE="1", DATABASE_POOL_MAX_SIZE="1")
    assert found["max_age"] == 0
    assert found["pool"]["max_size"] == 1
    assert len(set(found["pids"])) == 1  # one backend for the three requests, not three


@needs_postgres
def test_the_pool_can_be_turned_off_and_wsgi_keeps_its_persistent_connection():
    off = run_entry_point("webmail.asgi", DATABASE_POOL="false")
    assert off["pool"] is None
    assert len(set(off["pids"])) == 3  # a new backend per request, as before the pool
    wsgi = run_entry_point("webmail.wsgi")
    assert wsgi["pool"] is None
    assert wsgi["max_age"] == 60
