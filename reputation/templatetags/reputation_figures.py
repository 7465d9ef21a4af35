from django import template
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

register = template.Library()


@register.filter
def rate_percent(value: float | None) -> str:
    """A rate (a fraction) as a percentage precise enough for complaint rates: 0.0012 is "0.12 %".

    Two decimals under 10 % (the thresholds live there: 0.1 %, 0.3 %, 5 %), one above;
    a rate too small for two decimals shows as "< 0.01 %" rather than a misleading 0.
    """
    if value is None:
        return "—"
    points = value * 100
    if points == 0:
        return "0\u00a0%"
    if points < 0.01:
        return f"<\u00a0{number_format(0.01, decimal_pos=2)}\u00a0%"
    decimals = 2 if points < 10 else 1
    return f"{number_format(round(points, decimals), decimal_pos=decimals)}\u00a0%"  # rounded: Django truncates


RATE_TITLES = {
    "bounce_rate": _("Bounce rate"),
    "complaint_rate": _("Complaint rate"),
    "deferral_rate": _("Deferral rate"),
    "unknown_user_rate": _("Unknown-user rate"),
}


@register.filter
def rate_title(rate: str) -> str:
    """A rate's name for people ("bounce_rate" is "Bounce rate"), translated."""
    return RATE_TITLES.get(rate, rate)
