"""The campaign API: the workspace's campaigns, their check before scheduling, their life (schedule, unschedule,
test, pause, resume, cancel) and their progress. Every write goes through ``campaigns.services.campaigns``,
the same services the pages call; every read is scoped to the caller's workspace (another's id is a 404).

Times are ISO 8601. ``send_at`` and ``finish_by`` with an offset are instants; without one they are wall-clock
times in the campaign's ``time_zone`` (e.g. ``"2026-12-24T09:00"`` with ``"Asia/Shanghai"``).
"""

import zoneinfo
from zoneinfo import ZoneInfo

from django.urls import path
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.api.results import ProgressSerializer, progress_body
from campaigns.models import Campaign
from campaigns.selectors import campaigns as selectors
from campaigns.services import campaigns as services
from campaigns.workspace import is_marketer, workspace_of
from mailboxes.cursors import keyset_page
from webmail.api.serializers import ErrorSerializer, PageQuerySerializer, pk_field
from webmail.api.views import _query, _valid
from webmail.errors import UserError

TAGS = ["campaigns"]
_ERRORS = {400: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer}
CAMPAIGN_ID = OpenApiParameter("campaign_id", int, OpenApiParameter.PATH, description="A campaign's id.")


class IsMarketer(permissions.BasePermission):
    """Marketers and admins with a workspace; others are refused (403) as they are from the marketing pages."""

    message = "Campaigns are for the marketers of a workspace."

    def has_permission(self, request, view):
        return is_marketer(request.user) and workspace_of(request.user) is not None


# --- serializers -----------------------------------------------------------------


class CampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Campaign.Status.choices)
    template = serializers.IntegerField(source="template_id", allow_null=True, help_text="A marketing template's id.")
    template_version = serializers.SerializerMethodField(help_text="The version pinned when sending started.")
    segment = serializers.IntegerField(source="segment_id", allow_null=True)
    from_address = serializers.CharField()
    from_name = serializers.CharField()
    time_zone = serializers.CharField()
    send_at = serializers.DateTimeField(allow_null=True, help_text="UTC; null: as soon as it is scheduled.")
    send_at_local = serializers.SerializerMethodField(help_text="`send_at` in `time_zone`, as the marketer sees it.")
    finish_by = serializers.DateTimeField(allow_null=True)
    max_per_hour = serializers.IntegerField(allow_null=True)
    track_opens = serializers.BooleanField()
    track_clicks = serializers.BooleanField()
    audience_size = serializers.IntegerField()
    suppressed_count = serializers.IntegerField()
    progress = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    paused_at = serializers.DateTimeField(allow_null=True)
    hold_reason = serializers.CharField(
        help_text="Why the system paused it (a reputation guardrail, an admin's hold); empty otherwise. "
        "Only an admin resumes such a campaign."
    )
    finished_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_template_version(self, campaign):
        return campaign.version.number if campaign.version_id else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_send_at_local(self, campaign):
        if campaign.send_at is None:
            return None
        return campaign.send_at.astimezone(ZoneInfo(campaign.time_zone)).replace(tzinfo=None).isoformat()

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, campaign):
        return progress_body(selectors.progress_of(campaign))


class CampaignPageSerializer(serializers.Serializer):
    items = CampaignSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True, help_text="Pass as `cursor` for the next page.")


class _LocalDateTimeField(serializers.CharField):
    """ISO 8601; kept naive when it has no offset, so that the campaign's time zone can read it."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            value = parse_datetime(text)
        except ValueError:
            value = None
        if value is None:
            raise ValidationError("Enter an ISO 8601 date and time, e.g. 2026-12-24T09:00 or 2026-12-24T01:00Z.")
        return value


class CampaignInputSerializer(serializers.Serializer):
    """The fields a marketer sets; ``template`` and ``segment`` are ids in the caller's workspace."""

    name = serializers.CharField(max_length=200)
    template = pk_field(allow_null=True, required=False, help_text="A marketing template's id.")
    segment = pk_field(allow_null=True, required=False)
    from_address = serializers.CharField(max_length=320, required=False, allow_blank=True, help_text="Yours.")
    from_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    time_zone = serializers.CharField(max_length=64, required=False, help_text="IANA, e.g. Europe/Paris.")
    send_at = _LocalDateTimeField(allow_null=True, required=False, help_text="Null: as soon as it is scheduled.")
    finish_by = _LocalDateTimeField(allow_null=True, required=False, help_text="Pace the sends to end by then.")
    max_per_hour = serializers.IntegerField(min_value=1, allow_null=True, required=False)
    track_opens = serializers.BooleanField(required=False, help_text="Only contacts who consented are tracked.")
    track_clicks = serializers.BooleanField(required=False, help_text="Only contacts who consented are tracked.")

    def validate_time_zone(self, value):
        if value not in zoneinfo.available_timezones():
            raise ValidationError(f"{value!r} is not a time zone; use an IANA name such as Europe/Paris.")
        return value

    def service_fields(self, *, user, campaign=None) -> dict:
        """The services' keyword arguments: ids found in the caller's workspace, wall-clock times made instants."""
        data = dict(self.validated_data)
        errors = {}
        if data.get("template") is not None:
            data["template"] = selectors.marketing_templates_of(user=user).filter(pk=data["template"]).first()
            if data["template"] is None:
                errors["template"] = ["No such marketing template."]
        if data.get("segment") is not None:
            data["segment"] = selectors.segment_for_user(user=user, segment_id=data["segment"])
            if data["segment"] is None:
                errors["segment"] = ["No such segment."]
        zone = data.get("time_zone") or (campaign.time_zone if campaign else "UTC")
        for field in ("send_at", "finish_by"):
            value = data.get(field)
            if value is not None and value.tzinfo is None:
                try:
                    data[field] = services.local_to_utc(value, zone)
                except UserError as exc:  # a time the clocks skip in that zone
                    errors[field] = [exc.message]
        if errors:
            raise ValidationError(errors)
        return data


class CampaignUpdateSerializer(CampaignInputSerializer):
    name = serializers.CharField(max_length=200, required=False)


class ProblemSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The campaign field, or what to fix (e.g. `dkim`).")
    message = serializers.CharField()


class PreflightSerializer(serializers.Serializer):
    ready = serializers.BooleanField(help_text="True when nothing stops scheduling.")
    problems = ProblemSerializer(many=True, help_text="Every problem at once.")


class TestSendSerializer(serializers.Serializer):
    to = serializers.ListField(
        child=serializers.CharField(max_length=320), min_length=1, max_length=10, help_text="Who gets the test."
    )


class TestSentSerializer(serializers.Serializer):
    to = serializers.ListField(child=serializers.CharField())


# --- views -----------------------------------------------------------------------


def _campaign_body(user, campaign) -> dict:
    """A campaign as the API shows it, re-read after a write (with its progress counts)."""
    return CampaignSerializer(selectors.get_campaign_for_user(user=user, campaign_id=campaign.pk)).data


def _invalid(exc: services.CampaignInvalid) -> ValidationError:
    """Every problem at once, in the API's one error format (``details`` keyed by field)."""
    return ValidationError(exc.errors)


class CampaignListView(APIView):
    permission_classes = [permissions.IsAuthenticated, IsMarketer]

    @extend_schema(
        operation_id="campaigns_list",
        summary="List the workspace's campaigns, newest first",
        parameters=[
            OpenApiParameter("limit", int, description="1–100, default 50."),
            OpenApiParameter("cursor", str, description="`next_cursor` from the previous page."),
        ],
        responses={200: CampaignPageSerializer},
        tags=TAGS,
    )
    def get(self, request):
        query = _query(request, PageQuerySerializer)
        campaigns = selectors.campaigns_of(user=request.user).select_related("version")
        page, next_cursor = keyset_page(
            campaigns, listing="campaigns", limit=query["limit"], cursor=query.get("cursor"), field="created_at"
        )
        return Response({"items": CampaignSerializer(page, many=True).data, "next_cursor": next_cursor})

    @extend_schema(
        operation_id="campaigns_create",
        summary="Create a draft campaign",
        description="A 400 names every field at fault at once. Nothing is sent until it is scheduled.",
        request=CampaignInputSerializer,
        responses={201: CampaignSerializer, **_ERRORS},
        examples=[
            OpenApiExample(
                "A newsletter on Christmas Eve, 9:00 in Shanghai",
                request_only=True,
                value={
                    "name": "December newsletter",
                    "template": 3,
                    "segment": 2,
                    "from_address": "news@shop.example",
                    "time_zone": "Asia/Shanghai",
                    "send_at": "2026-12-24T09:00",
                    "max_per_hour": 6000,
                    "track_opens": True,
                },
            )  # fmt: skip
        ],
        tags=TAGS,
    )
    def post(self, request):
        fields = _valid(CampaignInputSerializer, request.data).service_fields(user=request.user)
        try:
            campaign = services.create_campaign(user=request.user, **fields)
        except services.CampaignInvalid as exc:
            raise _invalid(exc) from exc
        return Response(_campaign_body(request.user, campaign), status=status.HTTP_201_CREATED)


class CampaignView(APIView):
    permission_classes = [permissions.IsAuthenticated, IsMarketer]

    @extend_schema(
        operation_id="campaigns_read", parameters=[CAMPAIGN_ID], responses={200: CampaignSerializer}, tags=TAGS
    )
    def get(self, request, campaign_id):
        campaign = selectors.get_campaign_for_user(user=request.user, campaign_id=campaign_id)
        return Response(CampaignSerializer(campaign).data)

    @extend_schema(
        operation_id="campaigns_update",
        summary="Change a campaign that has not started",
        description="Only the fields given change. A 400 names every field at fault at once.",
        parameters=[CAMPAIGN_ID],
        request=CampaignUpdateSerializer,
        responses={200: CampaignSerializer, **_ERRORS},
        tags=TAGS,
    )
    def patch(self, request, campaign_id):
        campaign = selectors.get_campaign_for_user(user=request.user, campaign_id=campaign_id)
        fields = _valid(CampaignUpdateSerializer, request.data).service_fields(user=request.user, campaign=campaign)
        try:
            services.update_campaign(campaign=campaign, user=request.user, **fields)
        except services.CampaignInvalid as exc:
            raise _invalid(exc) from exc
        return Response(_campaign_body(request.user, campaign))

    @extend_schema(
        operation_id="campaigns_delete",
        summary="Delete a draft",
        parameters=[CAMPAIGN_ID],
        responses={204: None, **_ERRORS},
        tags=TAGS,
    )
    def delete(self, request, campaign_id):
        campaign = selectors.get_campaign_for_user(user=request.user, campaign_id=campaign_id)
        services.delete_campaign(campaign=campaign, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PreflightView(APIView):
    permission_classes = [permissions.IsAuthenticated, IsMarketer]

    @extend_schema(
        operation_id="campaigns_preflight",
        summary="The check before scheduling",
        description=(
            "Renders the template for a sample of the segment's contacts and checks that DKIM and the return path "
            "are ready for the From domain, that the template has an unsubscribe link and that the segment is not "
            "empty. Lists every problem at once; scheduling refuses while there is one."
        ),
        parameters=[CAMPAIGN_ID],
        responses={200: PreflightSerializer},
        tags=TAGS,
    )
    def get(self, request, campaign_id):
        campaign = selectors.get_campaign_for_user(user=request.user, campaign_id=campaign_id)
        problems = [{"field": p.field, "message": p.message} for p in services.preflight(campaign)]
        return Response({"ready": not problems, "problems": problems})


class TestSendView(APIView):
    permission_classes = [permissions.IsAuthenticated, IsMarketer]

    @extend_schema(
        operation_id="campaigns_test",
        summary="Send a test",
        description="Each address gets the campaign rendered for a sample contact, marked as a test.",
        parameters=[CAMPAIGN_ID],
        request=TestSendSerializer,
        responses={202: TestSentSerializer, **_ERRORS},
        tags=TAGS,
    )
    def post(self, request, campaign_id):
        campaign = selectors.get_campaign_for_user(user=request.user, campaign_id=campaign_id)
        to = _valid(TestSendSerializer, request.data).validated_data["to"]
        try:
            services.send_test(campaign=campaign, user=request.user, to=to)
        except services.CampaignInvalid as exc:
            raise _invalid(exc) from exc
        return Response({"to": to}, status=status.HTTP_202_ACCEPTED)


def _transition_view(action: str, service, summary: str, description: str):
    """A POST that moves a campaign along its life and answers it as it now is."""

    class TransitionView(APIView):
        permission_classes = [permissions.IsAuthenticated, IsMarketer]

        @extend_schema(
            operation_id=f"campaigns_{action}",
            summary=summary,
            description=description,
            parameters=[CAMPAIGN_ID],
            request=None,
            responses={200: CampaignSerializer, **_ERRORS},
            tags=TAGS,
        )
        def post(self, request, campaign_id):
            campaign = selectors.get_campaign_for_user(user=request.user, campaign_id=campaign_id)
            try:
                service(campaign=campaign, user=request.user)
            except services.CampaignInvalid as exc:
                raise _invalid(exc) from exc
            return Response(_campaign_body(request.user, campaign))

    TransitionView.__name__ = TransitionView.__qualname__ = f"Campaign{action.title()}View"
    return TransitionView.as_view()


urlpatterns = [
    path("campaigns", CampaignListView.as_view(), name="api-campaigns"),
    path("campaigns/<int:campaign_id>", CampaignView.as_view(), name="api-campaign"),
    path("campaigns/<int:campaign_id>/preflight", PreflightView.as_view(), name="api-campaign-preflight"),
    path("campaigns/<int:campaign_id>/test", TestSendView.as_view(), name="api-campaign-test"),
    path(
        "campaigns/<int:campaign_id>/schedule",
        _transition_view(
            "schedule",
            services.schedule,
            "Schedule a draft",
            "Runs the check before scheduling; a 400 lists every problem at once. It sends at `send_at`, or at once.",
        ),
        name="api-campaign-schedule",
    ),  # fmt: skip
    path(
        "campaigns/<int:campaign_id>/unschedule",
        _transition_view(
            "unschedule", services.unschedule, "Unschedule", "A scheduled campaign becomes a draft again."
        ),
        name="api-campaign-unschedule",
    ),
    path(
        "campaigns/<int:campaign_id>/pause",
        _transition_view("pause", services.pause, "Pause sending", "Nothing more is sent until it is resumed."),
        name="api-campaign-pause",
    ),
    path(
        "campaigns/<int:campaign_id>/resume",
        _transition_view("resume", services.resume, "Resume sending", "A paused campaign goes on sending."),
        name="api-campaign-resume",
    ),
    path(
        "campaigns/<int:campaign_id>/cancel",
        _transition_view(
            "cancel", services.cancel, "Cancel", "Nothing more is sent; a cancelled campaign cannot be resumed."
        ),
        name="api-campaign-cancel",
    ),
]
