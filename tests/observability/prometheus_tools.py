"""Finding Debian's Prometheus binaries for the tests (the ``prometheus`` package; CI installs it)."""

import os
import shutil
from pathlib import Path

import pytest

DEPLOY_DIR = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def prometheus_binary(name):
    """Path of ``promtool`` / ``prometheus``, or None. On CI (``CI`` set by .ci/run) a missing one fails the test."""
    path = shutil.which(name) or next((p for p in (f"/usr/bin/{name}",) if Path(p).exists()), None)
    if path is None and os.environ.get("CI"):
        pytest.fail(f"{name} is missing: CI installs Debian's prometheus package (.ci/run)")
    return path


def require(name):
    path = prometheus_binary(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install prometheus)")
    return path
