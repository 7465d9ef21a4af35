"""Counted figures for the reputation page's tests: counter rows as the counting service keeps them.

Every outcome is counted in its 5-minute, hour and day bucket (``reputation.buckets``),
so any window reads it back; ``count`` adds to those rows.
"""

from datetime import datetime

from django.contrib.auth.models import Permission
from django.db.models import F

from reputation.buckets import SPANS, floor
from reputation.models import ReputationCount
from tests.factories import UserFactory


def count(kind: str, key: str, *, at: datetime, **metrics: int) -> None:
    """Add ``metric=n`` outcomes of a subject at ``at`` (user and campaign keys are ids as str)."""
    for metric, n in metrics.items():
        for span in SPANS:
            row, created = ReputationCount.objects.get_or_create(
                kind=kind, key=key, metric=metric, span=span, bucket=floor(at, span), defaults={"count": n}
            )
            if not created:
                ReputationCount.objects.filter(pk=row.pk).update(count=F("count") + n)


def staff_viewer(address: str = "viewer@example.test"):
    """Staff allowed to look at the reputation page, not to resume anyone."""
    user = UserFactory(address=address, display_name="Viewer")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(Permission.objects.get(codename="view_reputationalert"))
    return user
