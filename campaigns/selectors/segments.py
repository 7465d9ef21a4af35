"""Reads of a workspace's segments: another workspace's ids are ``NotFound``."""

from django.db.models import Case, QuerySet, When
from django.utils.translation import gettext as _

from campaigns import segments
from campaigns.models import Contact, Segment
from webmail.errors import NotFound

SAMPLE_SIZE = 10


def segments_of(*, workspace) -> QuerySet[Segment]:
    return Segment.objects.filter(domain=workspace).order_by("name", "pk")


def segment_of(*, workspace, segment_id) -> Segment:
    segment = segments_of(workspace=workspace).filter(pk=segment_id).first()
    if segment is None:
        raise NotFound(_("No such segment."))
    return segment


def unsaved_segment(*, workspace, definition, segment_id=None) -> Segment:
    """A segment to count an edited definition by (as ``segment_id``, so excluding itself is caught)."""
    segment = Segment(domain=workspace, name="", definition=definition)
    if segment_id is not None:
        segment.pk = segment_of(workspace=workspace, segment_id=segment_id).pk
    return segment


def sample_of(segment: Segment, *, now=None, size: int = SAMPLE_SIZE) -> list[Contact]:
    """A few contacts the segment holds, by address, each with ``unsendable`` set when a campaign would skip them."""
    skipped = Case(When(segments.unsendable(segment.domain_id, now=now), then=True), default=False)
    return list(segments.audience(segment, now=now).annotate(unsendable=skipped).order_by("address")[:size])


def attribute_names(*, workspace, limit: int = 200) -> list[str]:
    """The attribute names the workspace's contacts use, for the rule builder's suggestions."""
    names: set[str] = set()
    for attributes in (
        Contact.objects.filter(domain=workspace).exclude(attributes={}).values_list("attributes", flat=True)[:2000]
    ):
        names.update(attributes)
        if len(names) >= limit:
            break
    return sorted(names)[:limit]
