"""The admin operator dashboard: send rate, queues, outcomes, bounce and complaint rates, indexing lag, inbound.

Hooked into the delivery events' admin with ``get_urls`` (the figures are mostly read from
that log): ``/admin/delivery/deliveryevent/dashboard/``, linked from the admin index. Staff
who may view delivery events see it. The figures: ``observability.dashboard``; the charts:
``core.charts`` drawn as inline SVG by the template (no script).
"""

from dataclasses import dataclass
from datetime import datetime

from django import forms
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from core.charts import LineChart, line_chart, rate_chart
from core.providers import PROVIDER_LABELS, Provider
from mailboxes.models import Message, Recipient
from observability.dashboard import WINDOW_LABELS, Dashboard, Window, dashboard


class WindowForm(forms.Form):
    window = forms.ChoiceField(choices=[(w.value, _(WINDOW_LABELS[w])) for w in Window])


@dataclass(frozen=True)
class Panel:
    """One chart of the page: its lines (css key, label), and the same numbers as table rows."""

    key: str
    title: str
    chart: LineChart | None
    lines: list[tuple[str, str]]
    rows: list[tuple[datetime, list]]
    is_rate: bool = False


SERIES_LABELS = {
    "submitted": _("Messages submitted"),
    "attempted": _("Recipients attempted"),
    "sent": _("Sent"),
    "deferred": _("Deferred"),
    "bounced": _("Bounced"),
    "failed": _("Failed (dead letters)"),
    "received": _("Messages received"),
    "placed": _("Copies placed in mailboxes"),
    "spam": _("Placed in spam"),
    Recipient.Queue.TRANSACTIONAL: _("Transactional"),
    Recipient.Queue.BULK: _("Bulk"),
    Message.Stream.PERSONAL: _("Personal"),
    **{provider.value: PROVIDER_LABELS[provider] for provider in Provider},
}


def _panel(key: str, title, starts: list[datetime], values: dict, *, is_rate: bool = False) -> Panel:
    keys = list(values)
    drawn = {f"s{i}": values[name] for i, name in enumerate(keys)}  # css classes series-s0…s5
    chart = (rate_chart if is_rate else line_chart)(starts, drawn) if keys else None
    return Panel(
        key=key, title=title, chart=chart, is_rate=is_rate,
        lines=[(f"s{i}", SERIES_LABELS.get(name, name)) for i, name in enumerate(keys)],
        rows=[(start, [values[name][i] for name in keys]) for i, start in enumerate(starts)],
    )  # fmt: skip


def panels(figures: Dashboard) -> list[Panel]:
    return [
        _panel("send", _("Send rate"), figures.send.starts, figures.send.values),
        _panel("outcomes", _("Delivery outcomes"), figures.outcomes.starts, figures.outcomes.values),
        _panel("queues", _("Queue depth (end of each interval)"), figures.queue_history.starts,
               figures.queue_history.values),
        _panel("bounce-rate", _("Bounce rate per stream"), figures.bounce_rates.starts, figures.bounce_rates.values,
               is_rate=True),
        _panel("complaint-rate", _("Complaint rate per stream"), figures.complaint_rates.starts,
               figures.complaint_rates.values, is_rate=True),
        _panel("provider-bounce-rate", _("Bounce rate per destination provider"), figures.provider_bounce_rates.starts,
               figures.provider_bounce_rates.values, is_rate=True),
        _panel("inbound", _("Inbound mail"), figures.inbound.starts, figures.inbound.values),
        _panel("spam-share", _("Share of received copies placed in spam"), figures.spam_share.starts,
               figures.spam_share.values, is_rate=True),
    ]  # fmt: skip


class OperatorDashboardMixin:
    """For the ``DeliveryEvent`` ModelAdmin: adds the operator dashboard to its URLs."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.operator_dashboard_view)
        return [path("dashboard/", view, name="operator_dashboard"), *super().get_urls()]

    def operator_dashboard_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = WindowForm(request.GET)
        window = Window(form.cleaned_data["window"]) if form.is_valid() else Window.DAY
        figures = dashboard(window)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Operator dashboard"),
            "form": form,
            "window": window,
            "window_label": _(WINDOW_LABELS[window]),
            "by_day": window == Window.WEEK,  # the x axis labels dates, else times
            "figures": figures,
            "panels": panels(figures),
            "queue_now": [(SERIES_LABELS[queue], depth) for queue, depth in figures.queue_now.items()],
            "lag_seconds": None if figures.indexing_lag is None else int(figures.indexing_lag.total_seconds()),
        }
        return TemplateResponse(request, "admin/observability/dashboard.html", context)
