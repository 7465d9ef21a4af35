"""Background jobs of accounts."""

from celery import shared_task


@shared_task(name="accounts.recheck_domains", ignore_result=True)
def recheck_domains() -> int:
    """Re-ask DNS about domains waiting for verification and about stale status lights."""
    from accounts.domain_checks import recheck_domains as recheck

    return recheck()
