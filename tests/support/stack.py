"""The production web stack in subprocesses, for end-to-end tests of what only it serves (push).

``WebStack(folder)`` migrates a throwaway database (a SQLite file in ``folder``; on a PostgreSQL
test run, a database of its own on the same server, so that the pool of connections the ASGI
processes use there is what serves the stream), starts gunicorn with
uvicorn's worker on the ASGI app (``deploy/gunicorn.conf.py``, as ``make run`` and
production do) on a free port, and an *agent*: a Django process on the same database that
creates users and delivers mail through the real services when asked (one JSON line in, one
out). The test's own database (pytest-django's) is not involved: the stack has its own.

    python -m tests.support.stack      # the agent (started by WebStack)
"""

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import psycopg
from django.conf import settings

from tests.support.smtp_server import free_port

READY_LINE = "Application startup complete"


class WebStack:
    def __init__(self, folder: Path, *, workers: int = 1, settings_env: dict | None = None):
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ALLOW_ASYNC_UNSAFE", "CELERY_BROKER_URL")}
        self.database = _throwaway_database(folder)
        env.update(
            DATABASE_URL=self.database.url,
            VAR_DIR=str(folder / "var"),
            MAILSTORE_DIR=str(folder / "mailstore"),
            METRICS_DIR=str(folder / "metrics"),
            PROMETHEUS_MULTIPROC_DIR=str(folder / "metrics"),
            DJANGO_SETTINGS_MODULE="webmail.settings",
            DEBUG="true",
            LOG_LEVEL="WARNING",
        )
        env.update(settings_env or {})  # a test's own settings for the processes
        self.env = env
        self.log: list[str] = []
        python, cwd = sys.executable, str(settings.BASE_DIR)
        subprocess.run([python, "manage.py", "migrate", "--noinput"], env=env, cwd=cwd, check=True, capture_output=True)  # noqa: S603
        self.server = subprocess.Popen(  # noqa: S603
            [python, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "webmail.asgi:application",
             "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers)],
            env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.agent = subprocess.Popen(  # noqa: S603
            [python, "-m", "tests.support.stack"],
            env=env, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        """Reads gunicorn's log until its worker serves (no polling of the port), then drains it aside."""
        for line in self.server.stderr:
            self.log.append(line)
            if READY_LINE in line:
                break
        else:
            raise RuntimeError("gunicorn exited:\n" + "".join(self.log))
        threading.Thread(target=lambda: self.log.extend(self.server.stderr), daemon=True).start()

    def ask(self, **command) -> dict:
        self.agent.stdin.write(json.dumps(command) + "\n")
        self.agent.stdin.flush()
        answer = json.loads(self.agent.stdout.readline() or '{"error": "the agent exited"}')
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def create_user(self, address: str, display_name: str = "") -> None:
        self.ask(op="user", address=address, display_name=display_name)

    def session(self, address: str) -> str:
        """A session cookie value signed in as ``address``."""
        return self.ask(op="session", address=address)["session"]

    def deliver(self, address: str, subject: str, sender: str = "Sam Sender <sam@remote.example>") -> int:
        """Delivers a message into the inbox of ``address``; returns its change id (the stream's event id)."""
        return self.ask(op="deliver", address=address, subject=subject, sender=sender)["change"]

    def stop(self) -> None:
        self.agent.stdin.close()
        self.server.terminate()
        for process in (self.agent, self.server):
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.database.drop()


class _Database:
    def __init__(self, url: str, admin: dict | None = None, name: str = ""):
        self.url, self.admin, self.name = url, admin, name

    def drop(self) -> None:
        if self.admin is not None:
            with psycopg.connect(**self.admin, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def _throwaway_database(folder: Path) -> _Database:
    """The stack's database, of the test run's kind: production runs the ASGI processes on PostgreSQL."""
    default = settings.DATABASES["default"]
    if default["ENGINE"] != "django.db.backends.postgresql":
        return _Database(f"sqlite:///{folder / 'stack.sqlite3'}")
    host, port = default.get("HOST") or "127.0.0.1", default.get("PORT") or 5432
    user, password = default.get("USER") or "postgres", default.get("PASSWORD") or ""
    admin = {"host": host, "port": port, "user": user, "password": password, "dbname": "postgres"}
    name = f"stack_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(**admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    credentials = f"{user}:{password}" if password else user
    return _Database(f"postgres://{credentials}@{host}:{port}/{name}", admin, name)


def _serve_agent() -> None:
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from accounts.models import User
    from mailboxes.models import MailboxChange
    from tests.factories import UserFactory, deliver, raw_email

    for line in sys.stdin:
        command = json.loads(line)
        try:
            if command["op"] == "user":
                UserFactory(address=command["address"], display_name=command["display_name"])
                answer = {}
            elif command["op"] == "session":
                user = User.objects.get(email=command["address"])
                session = SessionStore()
                session[SESSION_KEY] = str(user.pk)
                session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
                session[HASH_SESSION_KEY] = user.get_session_auth_hash()
                session.save()
                answer = {"session": session.session_key}
            elif command["op"] == "deliver":
                user = User.objects.get(email=command["address"])
                raw = raw_email(subject=command["subject"], sender=command["sender"], to=command["address"])
                (item,) = deliver(raw, user)
                answer = {"change": MailboxChange.objects.get(item_id=item.pk, kind=MailboxChange.Kind.NEW).pk}
            else:
                answer = {"error": f"unknown op {command['op']!r}"}
        except Exception as exc:  # the test reads it and fails with it
            answer = {"error": repr(exc)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve_agent()
