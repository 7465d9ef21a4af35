"""The issue's "done when": after ``seed_demo`` and some traffic, the admin dashboard shows real data.

Traffic as an operator makes it on a fresh install: a demo user writes to another demo user
(local delivery) and to the mailbox simulator, whose complaint report and out-of-office reply
come back through the real inbound path (docs/SIMULATOR.md).
"""

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from delivery.services import run_delivery, send_message
from observability.dashboard import Window, dashboard

# The simulator's follow-ups are queued after commit: the transactions must really commit.
pytestmark = pytest.mark.django_db(transaction=True)

SIMULATED = ["success@simulator.invalid", "bounce@simulator.invalid", "complaint@simulator.invalid",
             "ooto@simulator.invalid"]  # fmt: skip


def test_seed_demo_and_some_traffic_fill_the_dashboard(client):
    call_command("seed_demo", password="demo-password-1")
    seeded = dashboard(Window.HOUR, now=timezone.now()).totals
    assert seeded["attempted"] > 0  # the demo conversations were delivered just now, locally

    alice = User.objects.get(username="alice@demo.test")
    message = send_message(user=alice, to=["bob@demo.test", *SIMULATED], subject="Traffic", text="Hello")
    run_delivery(message_id=message.pk)

    figures = dashboard(Window.HOUR, now=timezone.now())
    added = {key: figures.totals[key] - seeded[key] for key in seeded}
    assert (added["submitted"], added["attempted"], added["sent"], added["bounced"]) == (1, 5, 4, 1)
    assert added["received"] == 2  # the complaint report and the out-of-office reply
    assert added["placed"] == 1  # the auto-reply, in alice's inbox (a report is not placed)
    assert max(figures.bounce_rates.values["personal"]) > 0
    assert max(figures.complaint_rates.values["personal"]) > 0

    client.force_login(User.objects.get(username="admin@demo.test"))
    html = client.get(reverse("admin:operator_dashboard"), {"window": "hour"}).content.decode()
    assert html.count('<svg class="line-chart"') == 8 and 'id="empty"' not in html
