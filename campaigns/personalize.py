"""Each campaign recipient's message, made when the engine sends it (``delivery.personalization.PerRecipient``).

Nothing rendered is stored: a person's message is the campaign's pinned
version rendered with their snapshot (``CampaignRecipient.variables``, the
contact's attributes when sending started, plus ``email``, ``name`` and
``locale``), and its bytes depend on nothing else: the Message-ID, the MIME
boundary and the Date (the person's ``released_at``) are derived from the
person, so rendering them again (``person_message``) gives the bytes that
were sent (before the engine's DKIM signature).

The unsubscribe link. Every message carries List-Unsubscribe with one-click
POST (RFC 8058) for its person. In the body: a version that declares a
variable ``unsubscribe_url`` gets the person's link in it and places it
itself (the preflight checks the rendered sample shows it); a version that
does not gets a short footer with the link appended to both parts. So no
campaign message is ever without a visible unsubscribe link, and a designer
who wants it elsewhere declares the variable.

Complaints: ``X-Campaign-ID`` and ``Feedback-ID`` (``campaign:workspace:
campaign:From domain``, the form feedback loops report) name the campaign.
"""

import html as html_lib
import logging
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from django.utils import translation
from django.utils.translation import gettext as _

from accounts.addresses import split_address
from campaigns.mime import mime_bytes
from campaigns.models import Campaign, CampaignRecipient
from campaigns.rendering import Rendered, RenderError, render_version
from campaigns.tracking import instrument
from campaigns.unsubscribe import list_unsubscribe_headers, make_token, unsubscribe_url
from core.lookups import any_of
from delivery import personalization
from mailboxes.compose import Composition

logger = logging.getLogger(__name__)

UNSUBSCRIBE_VARIABLE = "unsubscribe_url"


def declares_unsubscribe(version) -> bool:
    return any(spec.get("name") == UNSUBSCRIBE_VARIABLE for spec in version.variables or ())


def snapshot_values(*, address: str, name: str, locale: str, attributes: dict) -> dict:
    """What a person's render reads: their attributes, then the contact's own fields (which win)."""
    return {**(attributes or {}), "email": address, "name": name, "locale": locale}


def render_person(
    version, *, domain, address: str, name: str, locale: str, attributes: dict, token: str | None = None
) -> Rendered:
    """The version rendered for one person, with their unsubscribe link (in the body, or as a footer).

    ``token``: their unsubscribe token (``make_token`` for the workspace and address), when made already.
    """
    link = unsubscribe_url(token or make_token(domain_id=domain.pk, address=address))
    values = snapshot_values(address=address, name=name, locale=locale, attributes=attributes)
    if declares_unsubscribe(version):
        return render_version(version, {**values, UNSUBSCRIBE_VARIABLE: link})
    rendered = render_version(version, values)
    words, label = _footer_words(locale)
    html_footer = (
        f'<p style="font-size:12px;color:#666666">{html_lib.escape(words)} '
        f'<a href="{html_lib.escape(link)}">{html_lib.escape(label)}</a></p>\n'
    )
    return Rendered(
        subject=rendered.subject,
        html=_before_body_end(rendered.html, html_footer),
        text=f"{rendered.text}\n--\n{words} {link}\n",
        values=rendered.values,
    )


@lru_cache(maxsize=32)
def _footer_words(locale: str) -> tuple[str, str]:
    """The unsubscribe footer's sentence and link label, in the person's language."""
    with translation.override(locale or None):
        return _("You receive this because you subscribed. Unsubscribe:"), _("Unsubscribe")


def _before_body_end(html: str, footer: str) -> str:
    end = html.lower().rfind("</body>")
    return html[:end] + footer + html[end:] if end >= 0 else html + footer


class Person(NamedTuple):
    """What a person's message is made from: a ``CampaignRecipient``'s fields (one of those does as well)."""

    pk: int
    address: str
    name: str
    locale: str
    variables: dict
    tracked: bool
    released_at: datetime | None


def person_message(campaign: Campaign, version, person: Person | CampaignRecipient, *, now=None) -> bytes:
    """One person's message, unsigned: the same bytes every time for a released person (``now`` for a sample)."""
    from_domain = split_address(campaign.from_address)[1].lower()
    # A released person's link records the campaign's unsubscribed event; the sample's names nobody.
    token = make_token(
        domain_id=campaign.domain_id, address=person.address,
        recipient_id=person.pk if person.released_at is not None else None,
    )  # fmt: skip
    rendered = render_person(
        version, domain=campaign.domain, address=person.address, name=person.name, locale=person.locale,
        attributes=person.variables, token=token,
    )  # fmt: skip
    html = rendered.html
    if person.tracked:  # the campaign tracks and the person consented: open pixel, click redirects
        html = instrument(html, campaign_recipient=person, opens=campaign.track_opens, clicks=campaign.track_clicks)
    headers = list_unsubscribe_headers(domain=campaign.domain, address=person.address, token=token)
    composition = Composition(
        from_name=campaign.from_name,
        from_address=campaign.from_address,
        to=[(person.name, person.address)],
        subject=rendered.subject,
        text=rendered.text,
        html=html,
        message_id=f"campaign.{campaign.pk}.{person.pk}@{from_domain}",
        headers=[
            *headers.items(),
            ("Feedback-ID", f"{campaign.pk}:{campaign.domain_id}:campaign:{from_domain}"),
            ("X-Campaign-ID", str(campaign.pk)),
        ],
    )
    return mime_bytes(composition, now=now or person.released_at, boundary=f"=_c{campaign.pk}.{person.pk or 0}")


_HOLDS = {Campaign.Status.PAUSED: personalization.PAUSED, Campaign.Status.CANCELLED: personalization.CANCELLED}


class CampaignRenderer:
    """What the delivery engine asks of campaign messages (registered in ``CampaignsConfig.ready``).

    A claim's people are read in one query, as plain rows; each campaign (with
    its workspace and pinned version, which never change once it started) is
    read once per process.
    """

    def __init__(self):
        self._campaigns: dict[tuple, Campaign] = {}

    def held(self, campaign_ids: set[int]) -> dict[int, str]:
        held = Campaign.objects.filter(any_of("pk", campaign_ids), status__in=list(_HOLDS))
        return {pk: _HOLDS[status] for pk, status in held.values_list("pk", "status")}

    def render(self, recipients) -> dict[int, bytes]:
        rows = CampaignRecipient.objects.filter(any_of("recipient_id", [r.pk for r in recipients])).values_list(
            "recipient_id", "campaign_id", "campaign__started_at", *Person._fields
        )
        by_recipient = {}
        for recipient_id, campaign_id, started_at, *fields in rows:
            campaign, person = self._campaign(campaign_id, started_at), Person(*fields)
            try:
                by_recipient[recipient_id] = person_message(campaign, campaign.version, person)
            except RenderError as exc:  # left out: the engine holds it for an admin and sends the others
                logger.warning("campaign %s: no message for %s: %s", campaign_id, person.address, exc.message)
        return by_recipient

    def top_up(self) -> int:
        from campaigns.services.fanout import release_due  # the fan-out imports this module

        return release_due()

    def _campaign(self, campaign_id: int, started_at) -> Campaign:
        # The start is in the key because a test database hands ids out again.
        key = (campaign_id, started_at)
        campaign = self._campaigns.get(key)
        if campaign is None:
            if len(self._campaigns) > 256:
                self._campaigns.clear()
            campaign = Campaign.objects.select_related("domain", "version").get(pk=campaign_id)
            self._campaigns[key] = campaign
        return campaign
