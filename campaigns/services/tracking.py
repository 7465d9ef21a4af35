"""Recording what the tracking endpoints saw: opened and clicked events, with machines told apart from people.

A hit is recorded as a ``DeliveryEvent`` (``opened`` or ``clicked``, transport
"tracking") on the campaign recipient's outbox row, through
``record_delivery_event`` so that the campaign's counters (``events_recorded``)
see it. Its metadata says whether a machine made it and whether it is the
recipient's first human open (resp. click): ``unique``, decided by a
conditional UPDATE of ``first_opened_at`` (``first_clicked_at``), so two hits
at once give one unique. A person's hit also moves the contact's
``last_opened_at`` / ``last_clicked_at`` forward (segments read them).

Machines: mail privacy proxies fetch every image when the mail arrives (Apple
Mail Privacy Protection, Gmail's and Yahoo's image proxies), and security
scanners follow every link before the person sees it. Their hits are kept,
flagged ``machine``, and never count as unique. The signals are in
``MACHINE_RULES``, a table of (kind, name, test).
"""

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.dateparse import parse_datetime

from campaigns.models import CampaignRecipient, Contact
from delivery.services.events import record_delivery_event
from mailboxes.models import Recipient
from webmail.celery import BROKER_ERRORS

logger = logging.getLogger(__name__)

OPEN, CLICK = "open", "click"
TRANSPORT = "tracking"
_EVENT_TYPE = {OPEN: "opened", CLICK: "clicked"}
_DELIVERED = (Recipient.Status.SENT, Recipient.Status.DELIVERED)
_USER_AGENT_LIMIT = 500


@dataclass(frozen=True)
class Hit:
    """One request to a tracking endpoint, as the view saw it (JSON-safe: a task carries it)."""

    kind: str  # OPEN or CLICK
    campaign_recipient_id: int
    at: str  # ISO 8601, when the request came
    user_agent: str = ""
    ip: str | None = None
    method: str = "GET"
    url: str = ""  # clicks: where the link led
    link: int | None = None  # clicks: the link's position in the message

    def seconds_after(self, instant: datetime | None) -> float | None:
        return None if instant is None else (parse_datetime(self.at) - instant).total_seconds()


def _ua_has(*needles: str) -> Callable[[Hit, datetime | None], bool]:
    lowered = tuple(needle.lower() for needle in needles)
    return lambda hit, delivered_at: any(needle in hit.user_agent.lower() for needle in lowered)


def _within(setting: str) -> Callable[[Hit, datetime | None], bool]:
    def test(hit: Hit, delivered_at: datetime | None) -> bool:
        seconds = hit.seconds_after(delivered_at)
        return seconds is not None and seconds < getattr(settings, setting)

    return test


# (kind, name, test(hit, delivered_at)): the first rule that holds flags the hit as a machine's.
MACHINE_RULES: tuple[tuple[str, str, Callable[[Hit, datetime | None], bool]], ...] = (
    (OPEN, "no user agent", lambda hit, _: not hit.user_agent.strip()),
    (CLICK, "no user agent", lambda hit, _: not hit.user_agent.strip()),
    # Apple's Mail Privacy Protection proxy fetches with a bare "Mozilla/5.0" and nothing after it.
    (OPEN, "Apple Mail Privacy Protection", lambda hit, _: hit.user_agent.strip() == "Mozilla/5.0"),
    (OPEN, "Gmail image proxy", _ua_has("GoogleImageProxy")),
    (OPEN, "Yahoo image proxy", _ua_has("YahooMailProxy")),
    (OPEN, "Outlook prefetch", _ua_has("OutlookImageProxy", "BingPreview")),
    # Before a person could have read it: fetched as the mail arrived.
    (OPEN, "opened at delivery", _within("TRACKING_MACHINE_OPEN_SECONDS")),
    # Scanners check a link with HEAD (a browser never does), or follow it as the mail arrives.
    (CLICK, "HEAD request", lambda hit, _: hit.method.upper() == "HEAD"),
    (CLICK, "clicked at delivery", _within("TRACKING_MACHINE_CLICK_SECONDS")),
    (CLICK, "link scanner", _ua_has(
        "bot", "spider", "crawl", "scanner", "BingPreview", "python-requests", "curl/", "wget/",
        "Go-http-client", "HeadlessChrome", "Barracuda", "Mimecast", "Proofpoint", "Symantec",
    )),
)  # fmt: skip


def machine_rule(hit: Hit, *, delivered_at: datetime | None) -> str | None:
    """The name of the first rule that says a machine made ``hit``, or None for a person."""
    for kind, name, test in MACHINE_RULES:
        if kind == hit.kind and test(hit, delivered_at):
            return name
    return None


def record_hit(hit: Hit) -> bool:
    """Record ``hit`` as an opened or clicked event; False when there is nothing to record it on.

    A campaign recipient that is gone (its campaign was deleted) or was never
    released has no outbox row to hang the event on: the hit is dropped.
    """
    at = parse_datetime(hit.at)
    audience_member = CampaignRecipient.objects.select_related("recipient").filter(pk=hit.campaign_recipient_id).first()
    if audience_member is None or audience_member.recipient is None:
        return False
    outbox = audience_member.recipient
    delivered_at = outbox.last_attempt_at if outbox.status in _DELIVERED else None
    rule = machine_rule(hit, delivered_at=delivered_at)
    first_field, last_field = ("first_opened_at", "last_opened_at") if hit.kind == OPEN else (
        "first_clicked_at", "last_clicked_at"
    )  # fmt: skip
    with transaction.atomic():
        unique = rule is None and bool(
            CampaignRecipient.objects.filter(pk=audience_member.pk, **{first_field: None}).update(**{first_field: at})
        )
        if rule is None and audience_member.contact_id is not None:
            Contact.objects.filter(Q(**{f"{last_field}__isnull": True}) | Q(**{f"{last_field}__lt": at})).filter(
                pk=audience_member.contact_id
            ).update(**{last_field: at})
        metadata = {
            "machine": rule is not None,
            "unique": unique,
            "user_agent": hit.user_agent[:_USER_AGENT_LIMIT],
            "ip": hit.ip,
            **({"machine_rule": rule} if rule else {}),
            **({"url": hit.url, "link": hit.link} if hit.kind == CLICK else {}),
        }
        record_delivery_event(
            recipient=outbox, event_type=_EVENT_TYPE[hit.kind], transport=TRANSPORT, metadata=metadata,
            update_status=False, timestamp=at,
        )  # fmt: skip
    return True


def dispatch_hit(hit: Hit) -> None:
    """Have a worker record ``hit`` (the ``tracking`` queue); with the broker down, record it here and now.

    The tracking endpoints answer first and write later: publishing a task
    touches no database, and a worker does the writes.
    """
    from campaigns.tasks import record_tracking_hit  # tasks import services: import here, not at module level

    try:
        record_tracking_hit.delay(asdict(hit))
    except BROKER_ERRORS:
        logger.warning("broker unreachable: tracking hit recorded in the request", exc_info=True)
        record_hit(hit)
