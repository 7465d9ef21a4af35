"""The campaign form: what the marketer typed (times on her clock, in her time zone) as the lifecycle services' fields.

The form checks only the shape of the input (a date that is a date, a choice
that exists in the workspace); the services check the rules and report every
problem at once, which ``add_service_errors`` puts next to the fields.
"""

import zoneinfo
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.selectors import addresses_of
from campaigns.selectors.campaigns import marketing_templates_of, segments_of
from campaigns.services.campaigns import local_to_utc
from webmail.errors import UserError

LOCAL_INPUT_FORMATS = ("%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")
SEND_NOW, SEND_LATER = "now", "later"
PER_HOUR, PER_MINUTE = "hour", "minute"
# A service's field name where the form calls the input differently.
FORM_FIELD_OF = {"max_per_hour": "rate"}


@cache
def time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]


class LocalDateTimeField(forms.CharField):
    """A wall-clock time without a zone (``<input type=datetime-local>``): naive, read in the form's time zone."""

    widget = forms.DateTimeInput(attrs={"type": "datetime-local"})

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        for pattern in LOCAL_INPUT_FORMATS:
            try:
                return datetime.strptime(value, pattern)  # noqa: DTZ007 - a wall-clock time, zoned by the form
            except ValueError:
                continue
        raise forms.ValidationError(_("Enter a date and time, e.g. 2026-12-24 09:30."), code="invalid")


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    template = forms.ModelChoiceField(label=_("Template"), queryset=None, required=False)
    segment = forms.ModelChoiceField(label=_("Segment"), queryset=None, required=False)
    from_address = forms.ChoiceField(label=_("From address"), required=False)
    from_name = forms.CharField(label=_("From name"), max_length=200, required=False)
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=time_zone_choices, initial="UTC")
    send_mode = forms.ChoiceField(
        label=_("Send"), choices=[(SEND_NOW, _("As soon as it is scheduled")), (SEND_LATER, _("At"))],
        initial=SEND_NOW, widget=forms.RadioSelect,
    )  # fmt: skip
    send_at = LocalDateTimeField(label=_("Send at"), required=False)
    finish_by = LocalDateTimeField(label=_("Finish by"), required=False)
    rate = forms.IntegerField(label=_("At most"), min_value=1, required=False)
    rate_unit = forms.ChoiceField(
        label=_("Rate unit"),
        choices=[(PER_HOUR, _("messages per hour")), (PER_MINUTE, _("messages per minute"))],
        initial=PER_HOUR,
    )
    track_opens = forms.BooleanField(label=_("Track opens"), required=False)
    track_clicks = forms.BooleanField(label=_("Track clicks"), required=False)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = marketing_templates_of(user=user)
        self.fields["segment"].queryset = segments_of(user=user)
        self.fields["from_address"].choices = [(a, a) for a in addresses_of(user)]

    @classmethod
    def initial_for(cls, campaign) -> dict:
        """A saved campaign as the form shows it: its instants in its own time zone."""
        zone = ZoneInfo(campaign.time_zone)
        rate, unit = campaign.max_per_hour, PER_HOUR
        if rate and rate % 60 == 0:
            rate, unit = rate // 60, PER_MINUTE
        return {
            "name": campaign.name, "template": campaign.template_id, "segment": campaign.segment_id,
            "from_address": campaign.from_address, "from_name": campaign.from_name, "time_zone": campaign.time_zone,
            "send_mode": SEND_LATER if campaign.send_at else SEND_NOW,
            "send_at": _local_text(campaign.send_at, zone), "finish_by": _local_text(campaign.finish_by, zone),
            "rate": rate, "rate_unit": unit, "track_opens": campaign.track_opens, "track_clicks": campaign.track_clicks,
        }  # fmt: skip

    def clean(self):
        data = super().clean()
        if data.get("send_mode") == SEND_LATER and not data.get("send_at") and "send_at" not in self.errors:
            self.add_error("send_at", _("Choose when to send, or send as soon as it is scheduled."))
        zone = data.get("time_zone")
        for name in ("send_at", "finish_by"):
            if data.get(name) and zone:
                try:
                    data[name] = local_to_utc(data[name], zone)
                except UserError as exc:  # a time the clocks skip in that zone
                    self.add_error(name, exc.message)
        return data

    def service_fields(self) -> dict:
        """The lifecycle services' keyword arguments (times already instants, in UTC)."""
        data = self.cleaned_data
        rate = data["rate"]
        return {
            "name": data["name"], "template": data["template"], "segment": data["segment"],
            "from_address": data["from_address"], "from_name": data["from_name"], "time_zone": data["time_zone"],
            "send_at": data["send_at"] if data["send_mode"] == SEND_LATER else None, "finish_by": data["finish_by"],
            "max_per_hour": rate * 60 if rate and data["rate_unit"] == PER_MINUTE else rate,
            "track_opens": data["track_opens"], "track_clicks": data["track_clicks"],
        }  # fmt: skip

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """A service's ``{field: [messages]}`` next to the form's fields (the rest above the form)."""
        for field, messages in errors.items():
            name = FORM_FIELD_OF.get(field, field)
            for message in messages:
                self.add_error(name if name in self.fields else None, message)


def _local_text(instant, zone) -> str:
    return instant.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if instant else ""
