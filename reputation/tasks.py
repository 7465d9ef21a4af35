"""Reputation tasks: thin wrappers over the services."""

from celery import shared_task

from reputation.services.compromise import evaluate_recent_accounts
from reputation.services.figures import prune_counts


@shared_task(name="reputation.prune_counts", ignore_result=True)
def prune_reputation_counts() -> int:
    """Delete the counter buckets no window reads any more (scheduled hourly, see CELERY_BEAT_SCHEDULE)."""
    return prune_counts()


@shared_task(name="reputation.evaluate_compromised_accounts")
def evaluate_compromised_accounts() -> int:
    """Suspend the accounts that look hijacked now; returns how many were."""
    return len(evaluate_recent_accounts())
