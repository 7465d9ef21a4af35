"""What the receiving side counts (docs/METRICS-RECEIVING.md); the metrics themselves are in ``core.metrics``.

Label values are bounded here: a result outside the known vocabulary is counted as ``other``,
never as the text that came with it (it may come from DNS or a message).
"""

from django.db import transaction

from core.metrics import AUTH_RESULTS, INBOUND_MESSAGES, SPAM_VERDICTS, VIRUS_VERDICTS

AUTH_VOCABULARY = frozenset({"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"})
SPAM_FILTERS = frozenset({"builtin", "rspamd"})


def _bounded(value: str, vocabulary: frozenset) -> str:
    return value if value in vocabulary else "other"


def dkim_summary(dkim_results) -> str:
    """One DKIM result per message: pass if any signature passed, else the first signature's, none without one."""
    if any(result.result == "pass" for result in dkim_results):
        return "pass"
    return dkim_results[0].result if dkim_results else "none"


def count_authentication(results) -> None:
    """One SPF (MAIL FROM's), DKIM, DMARC and ARC result per message evaluated."""
    for method, result in (
        ("spf", results.spf.result),
        ("dkim", dkim_summary(results.dkim)),
        ("dmarc", results.dmarc.result),
        ("arc", results.arc.result),
    ):
        AUTH_RESULTS.labels(method, _bounded(result, AUTH_VOCABULARY)).inc()


def spam_verdict_label(verdict) -> str:
    """ham or spam; error when the filter could not score and found nothing (rspamd away), so it is not ham."""
    if verdict.is_spam:
        return "spam"
    return "error" if verdict.error else "ham"


def count_spam_verdict(verdict) -> None:
    SPAM_VERDICTS.labels(_bounded(verdict.filter, SPAM_FILTERS), spam_verdict_label(verdict)).inc()


def virus_verdict_label(verdict) -> str:
    """infected (quarantined), error (not fully scanned: retried), else clean (risky attachments are not viruses)."""
    if verdict.infected:
        return "infected"
    return "error" if verdict.error else "clean"


def count_virus_verdict(verdict) -> None:
    VIRUS_VERDICTS.labels(virus_verdict_label(verdict)).inc()


def count_placement_on_commit(placement: str, amount: int = 1) -> None:
    """Count once the outcome is committed: a rolled-back placement (or savepoint) counts nothing."""
    if amount:
        label = str(placement)  # a plain value, not the choices member
        transaction.on_commit(lambda: INBOUND_MESSAGES.labels(label).inc(amount))
