"""A campaign's life: draft → scheduled → sending ⇄ paused → sent, or cancelled; its check before scheduling.

Every transition locks the campaign's row and checks its status inside one
transaction, so two marketers (or a marketer and the pacer) clicking at once
get one transition and one clear error. What a transition does to the mail
already in the outbox is ``campaigns.services.fanout``'s: a pause stops the
pacer and parks what waits in the outbox (the engine parks anything it claims
later); a resume un-parks; a cancel rejects what waits in the outbox at once
(the engine rejects anything it claims later).

``send_at`` and ``finish_by`` are aware UTC instants; ``time_zone`` is the
marketer's, and ``local_to_utc`` turns what they typed into an instant.
"""

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Value
from django.db.models.functions import StrIndex, Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.addresses import parse_address_list, split_address
from accounts.domain_verification import unverified_problem
from accounts.models import Domain
from accounts.selectors import addresses_of
from campaigns import pacing, segments
from campaigns.models import Campaign, Segment, Template
from campaigns.personalize import declares_unsubscribe, render_person
from campaigns.rendering import RenderError, example_values
from campaigns.services import fanout
from campaigns.unsubscribe import make_token, unsubscribe_url
from campaigns.workspace import workspace_of
from delivery.services.submission import send_message
from mailboxes.models import Message
from reputation.services.content import campaign_sample_findings, record_campaign_findings
from webmail.errors import Conflict, NotFound, UserError

TEST_SUBJECT_PREFIX = "[Test] "
MAX_TEST_RECIPIENTS = 10
EDITABLE_FIELDS = frozenset(
    {"name", "template", "segment", "from_address", "from_name", "time_zone", "send_at", "finish_by",
     "max_per_hour", "track_opens", "track_clicks"}
)  # fmt: skip


class CampaignInvalid(UserError):
    """Every problem of a campaign, as ``{field: [messages]}`` (fields as the form and the API name them)."""

    code = "invalid"

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        field, messages = next(iter(errors.items()))
        super().__init__(messages[0], field=field)


class InvalidTransition(Conflict):
    """The campaign is not in a state the action applies to (e.g. pausing a draft)."""

    code = "invalid_transition"


class CampaignHeld(UserError):
    """The system paused the campaign (a guardrail, an admin's hold): a marketer cannot resume it."""

    code = "campaign_held"
    status = 403


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    finding: object = None  # the outbound content check's objection behind it, if any


def local_to_utc(naive_local: dt.datetime, time_zone: str) -> dt.datetime:
    """The instant a wall-clock time in ``time_zone`` names, in UTC.

    A time skipped by a DST change (02:30 on a spring-forward night) is refused
    with a clear error; a repeated one (an autumn night) means its first
    occurrence (``fold=0``), the earlier instant.
    """
    zone = _zone(time_zone)
    local = naive_local.replace(tzinfo=zone, fold=0)
    there_and_back = local.astimezone(dt.UTC).astimezone(zone)
    if there_and_back.replace(tzinfo=None) != naive_local.replace(fold=0):
        raise UserError(
            _("%(time)s does not exist in %(zone)s (the clocks change then): choose another time.")
            % {"time": naive_local.strftime("%Y-%m-%d %H:%M"), "zone": time_zone},
            field="send_at",
        )
    return local.astimezone(dt.UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CampaignInvalid({"time_zone": [_('"%(zone)s" is not a time zone.') % {"zone": name}]}) from exc


# --- drafts -------------------------------------------------------------------------------------


def create_campaign(
    *,
    user,
    name: str,
    template: Template | None = None,
    segment: Segment | None = None,
    from_address: str = "",
    from_name: str = "",
    time_zone: str = "UTC",
    send_at: dt.datetime | None = None,
    finish_by: dt.datetime | None = None,
    max_per_hour: int | None = None,
    track_opens: bool = False,
    track_clicks: bool = False,
) -> Campaign:
    """A new draft of the user's workspace; its template and segment must be the workspace's."""
    workspace = _workspace(user)
    fields = {
        "name": name, "template": template, "segment": segment, "from_address": from_address,
        "from_name": from_name, "time_zone": time_zone, "send_at": send_at, "finish_by": finish_by,
        "max_per_hour": max_per_hour, "track_opens": track_opens, "track_clicks": track_clicks,
    }  # fmt: skip
    _check_fields(workspace, fields)
    now = timezone.now()
    return Campaign.objects.create(
        domain=workspace, created_by=user, created_at=now, updated_at=now, **_cleaned(fields)
    )


def update_campaign(*, campaign: Campaign, user, **fields) -> Campaign:
    """Change a draft (a scheduled campaign is unscheduled first); only ``EDITABLE_FIELDS``."""
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise CampaignInvalid({name: [_("This field cannot be changed.")] for name in sorted(unknown)})
    workspace = _workspace(user)
    _check_fields(workspace, fields)
    with transaction.atomic():
        campaign = _locked(campaign, user)
        if campaign.status != Campaign.Status.DRAFT:
            raise InvalidTransition(_("Only a draft can be changed: unschedule it first."))
        for name, value in _cleaned(fields).items():
            setattr(campaign, name, value)
        campaign.updated_at = timezone.now()
        campaign.save(update_fields=[*fields, "updated_at"])
    return campaign


def delete_campaign(*, campaign: Campaign, user) -> None:
    with transaction.atomic():
        campaign = _locked(campaign, user)
        if campaign.status != Campaign.Status.DRAFT:
            raise InvalidTransition(_("Only a draft can be deleted; cancel a campaign that was scheduled."))
        campaign.delete()


def _check_fields(workspace: Domain, fields: dict) -> None:
    errors: dict[str, list[str]] = {}
    if "name" in fields and not (fields["name"] or "").strip():
        errors.setdefault("name", []).append(_("Give the campaign a name."))
    template = fields.get("template")
    if template is not None and template.domain_id != workspace.pk:
        errors.setdefault("template", []).append(_("There is no such template."))
    elif template is not None and template.stream != Template.Stream.MARKETING:
        errors.setdefault("template", []).append(_("A campaign sends a marketing template, not a transactional one."))
    segment = fields.get("segment")
    if segment is not None and segment.domain_id != workspace.pk:
        errors.setdefault("segment", []).append(_("There is no such segment."))
    if "time_zone" in fields:
        try:
            _zone(fields["time_zone"])
        except CampaignInvalid as exc:
            errors.update(exc.errors)
    for name in ("send_at", "finish_by"):
        value = fields.get(name)
        if value is not None and timezone.is_naive(value):
            errors.setdefault(name, []).append(_("A time with its time zone is needed."))
    if fields.get("max_per_hour") is not None and fields["max_per_hour"] < 1:
        errors.setdefault("max_per_hour", []).append(_("The maximum rate must be at least 1 an hour."))
    if errors:
        raise CampaignInvalid(errors)


def _cleaned(fields: dict) -> dict:
    cleaned = dict(fields)
    for name in ("name", "from_name"):
        if name in cleaned:
            cleaned[name] = (cleaned[name] or "").strip()
    if "from_address" in cleaned:
        cleaned["from_address"] = (cleaned["from_address"] or "").strip().lower()
    return cleaned


# --- the check before scheduling ----------------------------------------------------------------


def preflight(campaign: Campaign, *, now: dt.datetime | None = None) -> list[Problem]:
    """Every reason the campaign cannot be scheduled now, all at once (empty: it can)."""
    now = now or timezone.now()
    problems: list[Problem] = []
    version = _template_problems(campaign, problems)
    sample = _audience_problems(campaign, problems, now)
    if version is not None and sample:
        rendered = _render_problems(campaign, version, sample, problems)
        _content_problems(campaign, rendered, problems, now=now)
    _sender_problems(campaign, problems)
    _time_problems(campaign, problems, now)
    if sample:
        problems += [Problem("finish_by", message) for message in pace_plan(campaign, now=now).problems]
    return problems


def pace_plan(campaign: Campaign, *, now: dt.datetime | None = None) -> pacing.PacePlan | None:
    """How the campaign would be paced to its segment's sendable audience now (None without a segment)."""
    if campaign.segment_id is None:
        return None
    now = now or timezone.now()
    return pacing.plan(campaign, audience_by_domain=_audience_by_domain(campaign.segment, now), now=now)


def _template_problems(campaign: Campaign, problems: list[Problem]):
    template = campaign.template
    if template is None:
        problems.append(Problem("template", _("Choose a template.")))
        return None
    if template.active_version_id is None:
        problems.append(Problem("template", _("The template has no active version.")))
        return None
    return template.active_version


def _audience_problems(campaign: Campaign, problems: list[Problem], now) -> list:
    """The sample of real contacts the template is tried on (empty when there is nobody to send to)."""
    if campaign.segment_id is None:
        problems.append(Problem("segment", _("Choose a segment.")))
        return []
    sample = list(segments.sendable(campaign.segment, now=now).order_by("pk")[: settings.CAMPAIGN_PREFLIGHT_SAMPLE])
    if not sample:
        problems.append(Problem("segment", _("Nobody in the segment can be sent to (after suppressions).")))
    return sample


def _render_problems(campaign: Campaign, version, sample: list, problems: list[Problem]) -> list:
    """The sample's rendered messages; a problem for each that does not render or lacks its unsubscribe link."""
    renders = []
    for contact in sample:
        try:
            rendered = render_person(
                version, domain=campaign.domain, address=contact.address, name=contact.name,
                locale=contact.locale, attributes=contact.attributes,
            )  # fmt: skip
        except RenderError as exc:
            problems.append(
                Problem(
                    "template",
                    _("The template does not render for %(address)s: %(error)s")
                    % {"address": contact.address, "error": exc.message},
                )
            )
            continue
        renders.append(rendered)
        link = unsubscribe_url(make_token(domain_id=campaign.domain_id, address=contact.address))
        if declares_unsubscribe(version) and link not in rendered.html:
            problems.append(
                Problem(
                    "template",
                    _("The message for %(address)s shows no unsubscribe link: place {{ unsubscribe_url }} in it.")
                    % {"address": contact.address},
                )
            )
    return renders


def _content_problems(campaign: Campaign, rendered: list, problems: list[Problem], *, now) -> None:
    """The outbound content check on the rendered sample: the spam score and the links (docs/ABUSE.md)."""
    for finding in campaign_sample_findings(campaign=campaign, samples=rendered, now=now):
        problems.append(Problem("template", finding.message, finding=finding))


def _sender_problems(campaign: Campaign, problems: list[Problem]) -> None:
    address = campaign.from_address
    if not address:
        problems.append(Problem("from_address", _("Enter the From address.")))
        return
    sender = campaign.created_by
    if sender is None or address.lower() not in {a.lower() for a in addresses_of(sender)}:
        problems.append(
            Problem("from_address", _("%(address)s is not an address the campaign may send as.") % {"address": address})
        )
    domain = Domain.objects.filter(name=split_address(address)[1].lower(), is_active=True).first()
    if domain is None:
        # The VERP return path (bounces+…@the From domain) must come back to our MX.
        problems.append(
            Problem("from_address", _("Bounces to the From domain would not come back here: it is not hosted."))
        )
        return
    if (unverified := unverified_problem(domain)) is not None:
        problems.append(Problem("from_address", unverified))
    if not domain.dkim_private_key:
        problems.append(
            Problem(
                "from_address",
                _("%(domain)s has no DKIM key: make one (manage.py dkimkey) and publish it.") % {"domain": domain.name},
            )
        )


def _time_problems(campaign: Campaign, problems: list[Problem], now) -> None:
    if campaign.send_at is not None and campaign.send_at < now:
        problems.append(Problem("send_at", _("The send time is in the past.")))
    if campaign.finish_by is not None and campaign.finish_by <= max(campaign.send_at or now, now):
        problems.append(Problem("finish_by", _("The deadline must come after the send time.")))


def _audience_by_domain(segment: Segment, now) -> dict[str, int]:
    """Sendable contacts per destination domain, counted by the database (addresses are stored lower-case)."""
    domain = Substr("address", StrIndex("address", Value("@")) + 1)
    rows = segments.sendable(segment, now=now).annotate(at=domain).order_by().values("at").annotate(n=Count("pk"))
    return {row["at"]: row["n"] for row in rows}


# --- transitions --------------------------------------------------------------------------------


def schedule(*, campaign: Campaign, user, now: dt.datetime | None = None) -> Campaign:
    """draft → scheduled, when the preflight finds nothing (else ``CampaignInvalid`` with every problem)."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = _locked(campaign, user)
        _require(campaign, {Campaign.Status.DRAFT}, _("Only a draft can be scheduled."))
        problems = preflight(campaign, now=now)
        if not problems:
            return _move(campaign, Campaign.Status.SCHEDULED, now)
    # Outside the transaction the refusal rolls back: a refused spam campaign is evidence against its author.
    record_campaign_findings(campaign=campaign, findings=[p.finding for p in problems if p.finding], now=now)
    errors: dict[str, list[str]] = {}
    for problem in problems:
        errors.setdefault(problem.field, []).append(problem.message)
    raise CampaignInvalid(errors)


def unschedule(*, campaign: Campaign, user) -> Campaign:
    """scheduled → draft (to change it)."""
    with transaction.atomic():
        campaign = _locked(campaign, user)
        _require(campaign, {Campaign.Status.SCHEDULED}, _("Only a scheduled campaign can be unscheduled."))
        return _move(campaign, Campaign.Status.DRAFT, timezone.now())


def pause(*, campaign: Campaign, user, now: dt.datetime | None = None) -> Campaign:
    """sending → paused: the pacer releases nobody more, and what waits in the outbox is parked."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = _locked(campaign, user)
        _require(campaign, {Campaign.Status.SENDING}, _("Only a sending campaign can be paused."))
        campaign.paused_at = now
        campaign = _move(campaign, Campaign.Status.PAUSED, now, "paused_at")
        fanout.park(campaign=campaign, now=now)
    return campaign


def resume(*, campaign: Campaign, user, now: dt.datetime | None = None) -> Campaign:
    """paused → sending, exactly where it stopped: its parked outbox rows are due again.

    Not a campaign the system paused (``hold_reason``): an admin resumes that
    one by releasing its hold (``reputation.services.holds.release_hold``).
    """
    now = now or timezone.now()
    with transaction.atomic():
        campaign = _locked(campaign, user)
        _require(campaign, {Campaign.Status.PAUSED}, _("Only a paused campaign can be resumed."))
        if campaign.hold_reason:
            raise CampaignHeld(
                _("This campaign was paused automatically: %(why)s Only an administrator can resume it.")
                % {"why": campaign.hold_reason}
            )
        campaign.paused_at = None
        campaign = _move(campaign, Campaign.Status.SENDING, now, "paused_at")
        fanout.unpark(campaign=campaign, now=now)
    return campaign


def pause_for_hold(*, campaign_id: int, reason: str, now: dt.datetime | None = None) -> Campaign | None:
    """The system pauses a campaign (a reputation guardrail, an admin's hold), with the reason its marketer reads.

    No user: nobody's workspace is checked. A sending campaign is paused as a
    marketer's pause would (the pacer stops, the outbox rows are parked); one
    the marketer had paused already keeps its queue and now needs an admin
    too; a draft or scheduled one does not start while the reason is set. A
    finished or cancelled campaign is left as it is; None when there is no
    such campaign.
    """
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None:
            return None
        if campaign.status == Campaign.Status.SENDING:
            campaign.paused_at, campaign.hold_reason = now, reason
            campaign = _move(campaign, Campaign.Status.PAUSED, now, "paused_at", "hold_reason")
            fanout.park(campaign=campaign, now=now)
        elif campaign.status in (Campaign.Status.PAUSED, Campaign.Status.SCHEDULED, Campaign.Status.DRAFT):
            # Paused already, or not started: it keeps its status, and does not start while held.
            campaign.hold_reason, campaign.updated_at = reason, now
            campaign.save(update_fields=["hold_reason", "updated_at"])
    return campaign


def resume_after_hold(*, campaign_id: int, now: dt.datetime | None = None) -> Campaign | None:
    """An admin released the campaign's hold: a campaign the system paused sends again, where it stopped."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        if campaign is None or not campaign.hold_reason:
            return campaign
        campaign.hold_reason = ""
        if campaign.status != Campaign.Status.PAUSED:  # not started, or cancelled meanwhile: only the reason goes
            campaign.updated_at = now
            campaign.save(update_fields=["hold_reason", "updated_at"])
            return campaign
        campaign.paused_at = None
        campaign = _move(campaign, Campaign.Status.SENDING, now, "paused_at", "hold_reason")
        fanout.unpark(campaign=campaign, now=now)
    return campaign


def cancel(*, campaign: Campaign, user, now: dt.datetime | None = None) -> Campaign:
    """Draft, scheduled, sending or paused → cancelled: nothing more is sent (what is in flight finishes)."""
    now = now or timezone.now()
    cancellable = {Campaign.Status.DRAFT, Campaign.Status.SCHEDULED, Campaign.Status.SENDING, Campaign.Status.PAUSED}
    with transaction.atomic():
        campaign = _locked(campaign, user)
        _require(campaign, cancellable, _("This campaign has already finished."))
        campaign.cancelled_at = now
        campaign = _move(campaign, Campaign.Status.CANCELLED, now, "cancelled_at")
        fanout.reject_unsent(campaign=campaign, now=now)
    return campaign


def send_test(*, campaign: Campaign, user, to: list[str], now: dt.datetime | None = None) -> Message:
    """The campaign's message, "[Test] " in the subject, to up to ``MAX_TEST_RECIPIENTS`` addresses.

    Rendered for the first real contact of the segment (so the marketer sees
    real data), or with the template's example values when there is none. It
    goes through the normal submission service as one ordinary message and is
    not part of the campaign's results.
    """
    now = now or timezone.now()
    campaign = _fresh(campaign, user)
    if campaign.template is None or campaign.template.active_version_id is None:
        raise CampaignInvalid({"template": [_("Choose a template with an active version first.")]})
    if not to:
        raise CampaignInvalid({"to": [_("Add at least one recipient.")]})
    if len(to) > MAX_TEST_RECIPIENTS:
        raise CampaignInvalid({"to": [_("A test goes to at most %(n)d addresses.") % {"n": MAX_TEST_RECIPIENTS}]})
    tester = parse_address_list(to, field="to")[0][1]
    version = campaign.template.active_version
    contact = None
    if campaign.segment_id is not None:
        contact = segments.sendable(campaign.segment, now=now).order_by("pk").first()
    person = (
        {"address": contact.address, "name": contact.name, "locale": contact.locale, "attributes": contact.attributes}
        if contact is not None
        else {"address": tester, "name": "", "locale": "", "attributes": example_values(version.variables)}
    )
    # The test's unsubscribe link is the tester's own: clicking it must not unsubscribe the sample contact.
    token = make_token(domain_id=campaign.domain_id, address=tester)
    try:
        rendered = render_person(version, domain=campaign.domain, token=token, **person)
    except RenderError as exc:
        raise CampaignInvalid({"template": [exc.message]}) from exc
    return send_message(
        user=user, from_address=campaign.from_address or None, to=to,
        subject=TEST_SUBJECT_PREFIX + rendered.subject, text=rendered.text, html=rendered.html,
        stream=Message.Stream.TRANSACTIONAL, sent_copy=False,
    )  # fmt: skip


# --- the parts ----------------------------------------------------------------------------------


def _workspace(user) -> Domain:
    workspace = workspace_of(user)
    if workspace is None:
        raise NotFound(_("Your account has no workspace."))
    return workspace


def _locked(campaign: Campaign, user) -> Campaign:
    """The campaign's row, locked for the transaction, if it is the user's workspace's (else NotFound)."""
    workspace = _workspace(user)
    locked = Campaign.objects.select_for_update().filter(pk=campaign.pk, domain=workspace).first()
    if locked is None:
        raise NotFound(_("There is no such campaign."))
    return locked


def _fresh(campaign: Campaign, user) -> Campaign:
    """The campaign re-read (without a lock) if it is the user's workspace's."""
    found = (
        Campaign.objects.select_related("template__active_version", "segment", "domain")
        .filter(pk=campaign.pk, domain=_workspace(user))
        .first()
    )
    if found is None:
        raise NotFound(_("There is no such campaign."))
    return found


def _require(campaign: Campaign, statuses: set[str], message: str) -> None:
    if campaign.status not in statuses:
        raise InvalidTransition(message + " " + _("It is %(status)s.") % {"status": campaign.get_status_display()})


def _move(campaign: Campaign, status: str, now, *fields: str) -> Campaign:
    campaign.status, campaign.updated_at = status, now
    campaign.save(update_fields=["status", "updated_at", *fields])
    return campaign
