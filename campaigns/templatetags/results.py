from django import template
from django.utils.formats import number_format

register = template.Library()


@register.filter
def percent(value: float | None) -> str:
    """A rate as a percentage with one decimal, in the reader's number format; "—" for a rate of nothing."""
    if value is None:
        return "—"
    return f"{number_format(value * 100, decimal_pos=1)} %"
