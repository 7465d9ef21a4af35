from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.utils import timezone


@pytest.fixture
def clock(monkeypatch):
    """The time ``timezone.now()`` gives the code under test; a test sets ``clock.now`` and moves it by hand."""
    clock = SimpleNamespace(now=datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC))
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock
