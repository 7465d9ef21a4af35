"""The segments API: a workspace's saved audiences and their counts, for its marketers."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import segments
from campaigns.api import serializers as s
from campaigns.selectors import segments as selectors
from campaigns.services import segments as services
from campaigns.workspace import is_marketer, workspace_of
from webmail.api.serializers import ErrorSerializer
from webmail.api.views import _valid

_ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}
_DEFINITION_HELP = (
    "A definition: `lists` (subscribed members of any; none: every contact), `rules` combined by `match` "
    "(`all` or `any`), then `exclude_lists` and `exclude_segments` taken out. Rule fields and their ops: "
    "`address`, `name`, `locale`: `equals`, `not_equals`, `contains`, `in`, `is_set`, `not_set`; "
    "`consent`: `equals`, `not_equals`, `in`; `created_at`: `before`, `after` (ISO date); "
    "`attributes.<key>`: the string ops, `gt`, `gte`, `lt`, `lte` (numbers), `before`, `after` (ISO dates); "
    "`engagement`: `opened_within`, `clicked_within`, `engaged_within` (days), `never_engaged`. "
    "A 400 lists every problem at once, as `definition.rules.<index>.<part>`."
)
_EXAMPLE = OpenApiExample(
    "Pro customers who opened lately",
    request_only=True,
    value={
        "name": "Engaged pros",
        "definition": {
            "lists": [1],
            "match": "all",
            "rules": [
                {"field": "attributes.plan", "op": "equals", "value": "pro"},
                {"field": "engagement", "op": "opened_within", "value": 30},
            ],
            "exclude_segments": [2],
        },
    },
)


class MarketerAPIView(APIView):
    """For marketers (and admins) with a workspace: ``self.workspace`` scopes every read and write."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles first
        if not is_marketer(request.user):
            raise PermissionDenied("Segments are for marketers.")
        self.workspace = workspace_of(request.user)
        if self.workspace is None:
            raise PermissionDenied("Your account has no hosted domain to work in.")


def _invalid(exc: segments.InvalidSegment) -> ValidationError:
    return ValidationError(segments.as_input_fields(exc.errors))


def _counted(segment) -> dict:
    try:
        counted = segments.counts(segment)
    except segments.InvalidSegment as exc:
        raise _invalid(exc) from exc
    return {"audience": counted.audience, "suppressed": counted.suppressed, "sendable": counted.sendable}


class SegmentListView(MarketerAPIView):
    @extend_schema(
        operation_id="segments_list",
        summary="Your workspace's segments",
        responses={200: s.SegmentSerializer(many=True), **_ERRORS},
        tags=["segments"],
    )
    def get(self, request):
        return Response(s.SegmentSerializer(selectors.segments_of(workspace=self.workspace), many=True).data)

    @extend_schema(
        operation_id="segments_create",
        summary="Save a segment",
        description=_DEFINITION_HELP + " Another workspace's list or segment id is an unknown id.",
        request=s.SegmentSerializer,
        responses={201: s.SegmentSerializer, 409: ErrorSerializer, **_ERRORS},
        examples=[_EXAMPLE],
        tags=["segments"],
    )
    def post(self, request):
        data = _valid(s.SegmentSerializer, request.data).validated_data
        try:
            segment = services.create_segment(
                workspace=self.workspace, name=data["name"], definition=data["definition"], created_by=request.user
            )
        except segments.InvalidSegment as exc:
            raise _invalid(exc) from exc
        return Response(s.SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)


class SegmentView(MarketerAPIView):
    @extend_schema(operation_id="segments_read", responses={200: s.SegmentSerializer, **_ERRORS}, tags=["segments"])
    def get(self, request, segment_id):
        return Response(s.SegmentSerializer(selectors.segment_of(workspace=self.workspace, segment_id=segment_id)).data)

    @extend_schema(
        operation_id="segments_update",
        summary="Rename a segment or change its definition",
        description="Only what is sent changes. " + _DEFINITION_HELP,
        request=s.SegmentUpdateSerializer,
        responses={200: s.SegmentSerializer, 409: ErrorSerializer, **_ERRORS},
        tags=["segments"],
    )
    def patch(self, request, segment_id):
        data = _valid(s.SegmentUpdateSerializer, request.data).validated_data
        segment = selectors.segment_of(workspace=self.workspace, segment_id=segment_id)
        try:
            segment = services.update_segment(
                workspace=self.workspace, segment_id=segment.pk, name=data.get("name", segment.name),
                definition=data.get("definition", segment.definition),
            )  # fmt: skip
        except segments.InvalidSegment as exc:
            raise _invalid(exc) from exc
        return Response(s.SegmentSerializer(segment).data)

    @extend_schema(
        operation_id="segments_delete",
        summary="Delete a segment",
        description="A 409 when a scheduled, sending or paused campaign uses it, or another segment excludes it.",
        responses={204: None, 409: ErrorSerializer, **_ERRORS},
        tags=["segments"],
    )
    def delete(self, request, segment_id):
        services.delete_segment(workspace=self.workspace, segment_id=segment_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentCountView(MarketerAPIView):
    @extend_schema(
        operation_id="segments_count",
        summary="How many a saved segment holds and would send to now",
        responses={200: s.SegmentCountSerializer, **_ERRORS},
        tags=["segments"],
    )
    def get(self, request, segment_id):
        return Response(_counted(selectors.segment_of(workspace=self.workspace, segment_id=segment_id)))


class DefinitionCountView(MarketerAPIView):
    @extend_schema(
        operation_id="segments_count_definition",
        summary="Count an unsaved definition",
        description="What a segment with this definition would hold, as it is edited. " + _DEFINITION_HELP,
        request=s.SegmentCountRequestSerializer,
        responses={200: s.SegmentCountSerializer, **_ERRORS},
        tags=["segments"],
    )
    def post(self, request):
        definition = _valid(s.SegmentCountRequestSerializer, request.data).validated_data["definition"]
        problems = segments.validate_definition(self.workspace, definition)
        if problems:
            raise ValidationError(segments.as_input_fields(problems))
        return Response(_counted(selectors.unsaved_segment(workspace=self.workspace, definition=definition)))
