"""Signals of the reputation app."""

from django.dispatch import Signal

# Sent once the counters of some subjects moved and that moving is committed
# (``transaction.on_commit`` of the transaction that recorded the events):
# ``subjects`` is a set of ``(kind, key)`` (``models.Subject`` kinds), ``now`` the
# time of the latest counted outcome. The guardrails evaluate just those subjects.
figures_changed = Signal()
