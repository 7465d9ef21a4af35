"""Schedule send over the API: a draft sent at a given time, and cancelling that."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.preferences import time_zone_of
from mailboxes.services.scheduled import cancel_scheduled, parse_local_time, schedule_draft


class ScheduleSerializer(serializers.Serializer):
    send_at = serializers.CharField(
        max_length=64,
        help_text="When to send, ISO 8601: with an offset (`2026-12-08T08:00:00+01:00`, `…Z`) an instant; "
        "without one (`2026-12-08T08:00`) on the user's clock, in their time zone. In the future, at most "
        "SCHEDULE_SEND_MAX_DAYS ahead.",
    )


class ScheduledSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk", help_text="The draft's emailId.")
    send_at = serializers.DateTimeField(allow_null=True, help_text="UTC; null once cancelled.")
    time_zone = serializers.CharField(help_text="The user's time zone, in which a time without offset is read.")


def _answer(item, zone) -> Response:
    return Response(ScheduledSerializer({"pk": item.pk, "send_at": item.send_at, "time_zone": zone.key}).data)


class DraftScheduleView(APIView):
    @extend_schema(
        operation_id="drafts_schedule",
        summary="Send a draft later (schedule send); the periodic sweep sends it within seconds of its time",
        request=ScheduleSerializer,
        responses={200: ScheduledSerializer},
        examples=[OpenApiExample("Tomorrow 8:00, user's clock", value={"send_at": "2026-12-08T08:00"})],
        tags=["drafts"],
    )
    def post(self, request, draft_id):
        serializer = ScheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        zone = time_zone_of(request.user)
        send_at = parse_local_time(serializer.validated_data["send_at"], zone=zone)
        return _answer(schedule_draft(user=request.user, draft_id=draft_id, send_at=send_at), zone)

    @extend_schema(
        operation_id="drafts_unschedule",
        summary="Cancel a scheduled send: the draft stays a draft (409 once it has been sent)",
        request=None,
        responses={200: ScheduledSerializer},
        tags=["drafts"],
    )
    def delete(self, request, draft_id):
        return _answer(cancel_scheduled(user=request.user, draft_id=draft_id), time_zone_of(request.user))
