"""Reputation tasks: thin wrappers over the services."""

from celery import shared_task

from reputation.services.compromise import evaluate_recent_accounts


@shared_task(name="reputation.evaluate_compromised_accounts")
def evaluate_compromised_accounts() -> int:
    """Suspend the accounts that look hijacked now; returns how many were."""
    return len(evaluate_recent_accounts())
