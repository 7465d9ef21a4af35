"""The reputation app's admin."""

from reputation import abuse_admin  # noqa: F401  (registers the abuse checks' models)
