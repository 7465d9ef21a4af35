"""Saving a workspace's segments: every definition is checked (``campaigns.segments.validate_definition``) first.

A segment that a campaign still needs (scheduled, sending or paused: its
audience is read when sending starts, or it may resume) or that another
segment excludes cannot be deleted; other campaigns (drafts, finished ones:
their audience is frozen) let it go and keep no segment.
"""

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns import segments
from campaigns.models import Campaign, Segment
from campaigns.selectors.segments import segment_of
from campaigns.services.contacts import clean_name
from webmail.errors import Conflict, UserError

ACTIVE_STATUSES = (Campaign.Status.SCHEDULED, Campaign.Status.SENDING, Campaign.Status.PAUSED)


class SegmentInUse(Conflict):
    code = "segment_in_use"


def _clean_name(name: str) -> str:
    value = clean_name(name, field="name")
    if not value:
        raise UserError(_("Give the segment a name."), field="name")
    return value[: Segment._meta.get_field("name").max_length]


def checked_definition(*, workspace, definition, segment: Segment | None = None) -> dict:
    """``definition`` as stored (ids as numbers, ``match`` spelled out); else ``InvalidSegment``, every problem."""
    errors = segments.validate_definition(workspace, definition, segment=segment)
    if errors:
        raise segments.InvalidSegment(errors)
    return {
        "lists": segments.ids_of(definition.get("lists")),
        "match": definition.get("match") or "all",
        "rules": [
            {"field": r["field"], "op": r["op"], **({} if r["op"] in segments.NO_VALUE_OPS else {"value": r["value"]})}
            for r in definition.get("rules") or []
        ],
        "exclude_lists": segments.ids_of(definition.get("exclude_lists")),
        "exclude_segments": segments.ids_of(definition.get("exclude_segments")),
    }


def create_segment(*, workspace, name: str, definition: dict, created_by) -> Segment:
    name = _clean_name(name)
    definition = checked_definition(workspace=workspace, definition=definition)
    return _saved(Segment(domain=workspace, name=name, definition=definition, created_by=created_by))


def update_segment(*, workspace, segment_id, name: str, definition: dict) -> Segment:
    segment = segment_of(workspace=workspace, segment_id=segment_id)
    segment.name = _clean_name(name)
    segment.definition = checked_definition(workspace=workspace, definition=definition, segment=segment)
    segment.updated_at = timezone.now()
    return _saved(segment, update_fields=["name", "definition", "updated_at"])


def _saved(segment: Segment, **save_options) -> Segment:
    try:
        with transaction.atomic():
            segment.save(**save_options)
    except IntegrityError:  # the (domain, name) constraint
        raise Conflict(_("A segment with this name exists already."), field="name") from None
    return segment


def delete_segment(*, workspace, segment_id) -> None:
    with transaction.atomic():
        segment = segment_of(workspace=workspace, segment_id=segment_id)
        active = Campaign.objects.filter(segment=segment, status__in=ACTIVE_STATUSES).order_by("name").first()
        if active is not None:
            raise SegmentInUse(
                _("The campaign “%(name)s” is %(status)s to this segment: cancel it or pick another segment first.")
                % {"name": active.name, "status": active.get_status_display().lower()}
            )
        excluding = next(
            (
                other
                for other in Segment.objects.filter(domain=workspace).exclude(pk=segment.pk)
                if segment.pk in segments.ids_of(other.definition.get("exclude_segments"))
            ),
            None,
        )
        if excluding is not None:
            raise SegmentInUse(
                _("The segment “%(name)s” excludes this one: change it first.") % {"name": excluding.name}
            )
        Campaign.objects.filter(segment=segment).update(segment=None)
        segment.delete()
