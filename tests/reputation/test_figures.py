"""Reputation figures counted from real deliveries: the engine to a loopback SMTP server, bounce reports,
ESP webhooks; read back over windows ending at an injected ``now``.

The SMTP server answers by local part (tests/support/smtp_server.py): ``ok…`` 250, ``unknown…``
550 5.1.1, and a script for 452 4.2.2.
"""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from delivery.services import run_delivery, send_message
from delivery.services.events import record_delivery_event
from inbound.bounces import handle_report
from mailboxes.models import Recipient
from reputation.figures import Figures, Window
from reputation.models import ReputationCount
from reputation.selectors import figures, figures_many, series, subjects
from reputation.services.figures import prune_counts
from reputation.signals import figures_changed
from tests.inbound.test_bounces import about, return_path


def now():
    return timezone.now()


def test_smtp_outcomes_are_counted_per_user_domain_stream_and_provider(alice, remote_domain, smtp_server):
    smtp_server.handler.script("busy@remote.example", ["452 4.2.2 mailbox over quota, try later"])
    message = send_message(
        user=alice, to=["ok1@remote.example", "ok2@remote.example", "unknown@remote.example", "busy@remote.example"],
        text="x",
    )  # fmt: skip

    run_delivery(message_id=message.pk)

    expected = Figures(delivered=2, bounced_hard=1, deferred=1, unknown_user=1)
    assert figures("user", str(alice.pk), Window.HOUR, now=now()) == expected
    assert figures("domain", "example.test", Window.DAY, now=now()) == expected
    assert figures("stream", "personal", Window.WEEK, now=now()) == expected
    assert figures("provider", "other", Window.MONTH, now=now()) == expected
    got = figures("user", str(alice.pk), Window.HOUR, now=now())
    assert (got.sent, got.bounce_rate, got.deferral_rate) == (3, 1 / 3, 1 / 4)


def test_a_complaint_report_counts_as_complained(alice, remote_domain, smtp_server):
    message = send_message(user=alice, to=["reader@remote.example"], text="x")
    run_delivery(message_id=message.pk)
    recipient = message.recipients.get()

    [event] = handle_report(raw=about(recipient, "complaints/yahoo_arf_abuse.eml"), verp_address=return_path(recipient))

    assert event.event_type == "complained"
    got = figures("user", str(alice.pk), Window.DAY, now=now())
    assert (got.delivered, got.complained, got.complaint_rate) == (1, 1, 1.0)


def test_a_bounce_reported_after_sending_takes_the_delivery_back(alice, remote_domain, smtp_server):
    message = send_message(user=alice, to=["jdoe@remote.example"], text="x")
    run_delivery(message_id=message.pk)
    recipient = message.recipients.get()
    assert figures("user", str(alice.pk), Window.DAY, now=now()).delivered == 1

    handle_report(raw=about(recipient, "bounces/postfix_user_unknown.eml"), verp_address=return_path(recipient))

    assert figures("user", str(alice.pk), Window.DAY, now=now()) == Figures(bounced_hard=1, unknown_user=1)


def test_expiry_is_counted_as_expired_never_as_a_bounce(alice, remote_domain, smtp_server):
    message = send_message(user=alice, to=["temp@remote.example"], text="x")
    recipient = message.recipients.get()
    run_delivery(message_id=message.pk)
    Recipient.objects.filter(pk=recipient.pk).update(
        next_attempt_at=timezone.now(), expires_at=timezone.now() - timedelta(seconds=1)
    )

    run_delivery(message_id=message.pk)

    got = figures("user", str(alice.pk), Window.HOUR, now=now())
    assert got == Figures(deferred=1, expired=1)
    assert (got.bounced, got.sent, got.bounce_rate) == (0, 1, 0.0)


def test_an_esp_sent_then_delivered_counts_once(alice, db):
    message = send_message(user=alice, to=["someone@remote.example"], text="x")
    recipient = message.recipients.get()
    record_delivery_event(recipient=recipient, event_type="sent", transport="anymail")  # the ESP took it
    record_delivery_event(recipient=recipient, event_type="delivered", transport="anymail:postmark")

    assert figures("user", str(alice.pk), Window.HOUR, now=now()) == Figures(delivered=1)


def test_local_delivery_counts_for_the_sender_but_no_provider(alice, bob):
    message = send_message(user=alice, to=[bob.email], text="x")
    run_delivery(message_id=message.pk)

    assert figures("user", str(alice.pk), Window.HOUR, now=now()) == Figures(delivered=1)
    assert not ReputationCount.objects.filter(kind="provider").exists()


def test_suppressed_and_cancelled_and_tracking_events_are_not_outcomes(alice, db):
    message = send_message(user=alice, to=["someone@remote.example"], text="x")
    recipient = message.recipients.get()
    for event_type in ("rejected", "opened", "clicked", "failed"):
        record_delivery_event(recipient=recipient, event_type=event_type, transport="engine", update_status=False)

    assert not ReputationCount.objects.exists()


def test_the_provider_is_recognised_by_the_mx_host_the_transport_reached(alice, dns_server, smtp_server):
    dns_server.resolver.add("workspace.example. 300 IN MX 5 gmail-smtp-in.l.google.com.")
    dns_server.resolver.add("gmail-smtp-in.l.google.com. 300 IN A 127.0.0.1")
    message = send_message(user=alice, to=["ok@workspace.example", "unknown@workspace.example"], text="x")

    run_delivery(message_id=message.pk)

    assert figures("provider", "gmail", Window.HOUR, now=now()) == Figures(delivered=1, bounced_hard=1, unknown_user=1)
    assert figures("provider", "other", Window.HOUR, now=now()) == Figures()


def test_consumer_domains_are_recognised_by_name(alice, db):
    message = send_message(user=alice, to=["someone@hotmail.com"], text="x")
    record_delivery_event(recipient=message.recipients.get(), event_type="deferred", transport="smtp")

    assert figures("provider", "microsoft", Window.HOUR, now=now()) == Figures(deferred=1)


# --- windows ---------------------------------------------------------------------------------

T0 = datetime(2026, 11, 30, 10, 2, 0, tzinfo=UTC)


def outcome_at(recipient, moment, event_type="sent", **details):
    record_delivery_event(recipient=recipient, event_type=event_type, transport="smtp", timestamp=moment, **details)


@pytest.fixture
def recipient(alice, db):
    return send_message(user=alice, to=["someone@remote.example"], text="x").recipients.get()


def test_windows_add_up_the_buckets_that_end_at_now(alice, recipient):
    moments = {
        T0: "sent",  # counted in every window ending after it
        T0 - timedelta(minutes=50): "sent",
        T0 - timedelta(hours=2): "sent",  # out of the hour
        T0 - timedelta(hours=30): "sent",  # out of the day
        T0 - timedelta(days=6, hours=20): "sent",  # in the week
        T0 - timedelta(days=10): "sent",  # out of the week, in the month
        T0 - timedelta(days=29, hours=20): "sent",
        T0 - timedelta(days=31): "sent",  # out of every window
    }
    for moment, kind in moments.items():
        outcome_at(recipient, moment, kind)
    user = str(alice.pk)
    at = T0 + timedelta(minutes=1)

    assert [figures("user", user, w, now=at).delivered for w in Window] == [2, 3, 5, 7]
    # 50 minutes later the earlier one has left the hour window; an hour later both have.
    assert figures("user", user, Window.HOUR, now=T0 + timedelta(minutes=50)).delivered == 1
    assert figures("user", user, Window.HOUR, now=T0 + timedelta(hours=1)).delivered == 0


def test_a_window_ending_anywhere_in_the_day_holds_exactly_its_hours(alice, recipient):
    """WEEK and MONTH read whole days in the middle and hours at both ends: nothing counted twice or missed."""
    start = datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
    for hour in range(40 * 24):
        if hour % 7 == 0:
            outcome_at(recipient, start + timedelta(hours=hour))
    for offset in (0, 5, 13, 23):
        at = datetime(2026, 12, 5, offset, 40, tzinfo=UTC)
        for window, hours in ((Window.WEEK, 7 * 24), (Window.MONTH, 30 * 24)):
            first = at.replace(minute=0) - timedelta(hours=hours - 1)
            expected = sum(1 for h in range(40 * 24) if h % 7 == 0 and first <= start + timedelta(hours=h) <= at)
            assert figures("user", str(alice.pk), window, now=at).delivered == expected, (window, offset)


def test_series_cut_the_window_into_buckets(alice, recipient):
    outcome_at(recipient, T0)
    outcome_at(recipient, T0 - timedelta(minutes=12), "bounced", reject_reason="invalid", reason="user_unknown")
    outcome_at(recipient, T0 - timedelta(days=3))

    hour = series("user", str(alice.pk), Window.HOUR, now=T0)
    assert len(hour) == 12
    assert hour[-1] == (datetime(2026, 11, 30, 10, 0, tzinfo=UTC), Figures(delivered=1))
    assert hour[-3] == (datetime(2026, 11, 30, 9, 50, tzinfo=UTC), Figures(bounced_hard=1, unknown_user=1))
    week = series("user", str(alice.pk), Window.WEEK, now=T0)
    assert [bucket.day for bucket, _ in week] == [24, 25, 26, 27, 28, 29, 30]
    assert [f.delivered for _, f in week] == [0, 0, 0, 1, 0, 0, 1]
    assert len(series("user", str(alice.pk), Window.DAY, now=T0)) == 24
    assert len(series("user", str(alice.pk), Window.MONTH, now=T0)) == 30


def test_figures_many_and_subjects(alice, bob, recipient):
    other = send_message(user=bob, to=["x@remote.example", "y@remote.example"], text="x").recipients.all()
    outcome_at(recipient, T0)
    for r in other:
        outcome_at(r, T0)
    outcome_at(other[0], T0, "complained")

    many = figures_many("user", [alice.pk, bob.pk, 999], Window.DAY, now=T0)
    assert many == {
        str(alice.pk): Figures(delivered=1),
        str(bob.pk): Figures(delivered=2, complained=1),
        "999": Figures(),
    }
    assert set(figures_many("user", None, Window.DAY, now=T0)) == {str(alice.pk), str(bob.pk)}
    assert subjects("user", Window.DAY, now=T0) == {str(bob.pk): 2, str(alice.pk): 1}
    assert subjects("user", Window.DAY, now=T0, min_volume=2) == {str(bob.pk): 2}
    assert subjects("user", Window.DAY, now=T0 + timedelta(days=2)) == {}


# --- the signal ---------------------------------------------------------------------------


def test_figures_changed_is_sent_on_commit_with_the_subjects_that_moved(
    alice, recipient, django_capture_on_commit_callbacks
):
    received = []

    def listener(sender, subjects, now, **kwargs):
        received.append((subjects, now))

    figures_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            outcome_at(recipient, T0)
        assert received == []  # not before the commit
        for callback in callbacks:
            callback()
    finally:
        figures_changed.disconnect(listener)
    [(moved, at)] = received
    assert at == T0
    assert moved == {("user", str(alice.pk)), ("domain", "example.test"), ("stream", "personal"), ("provider", "other")}


def test_an_esp_webhook_delivered_after_the_esp_took_it_counts_once(alice, settings, client):
    settings.MAIL_TRANSPORT = {
        "BACKEND": "delivery.transports.esp.AnymailTransport",
        "OPTIONS": {"EMAIL_BACKEND": "anymail.backends.test.EmailBackend"},
    }
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    message = send_message(user=alice, to=["someone@esp.example"], text="x")
    run_delivery()
    recipient = message.recipients.get()
    assert recipient.events.filter(event_type="sent", transport="anymail").exists()
    assert figures("user", str(alice.pk), Window.HOUR, now=now()) == Figures()  # the ESP took it: no outcome yet
    delivery = {
        "RecordType": "Delivery", "MessageID": recipient.provider_message_id, "Recipient": "someone@esp.example",
        "DeliveredAt": "2026-11-28T10:00:00Z", "Details": "Test delivery webhook details", "ServerID": 1,
    }  # fmt: skip

    response = client.post(
        "/anymail/postmark/tracking/", delivery, content_type="application/json",
        HTTP_AUTHORIZATION="Basic aG9vazpzM2NyZXQ=",
    )  # fmt: skip

    assert response.status_code == 200
    assert recipient.events.filter(event_type="delivered").exists()
    assert figures("user", str(alice.pk), Window.HOUR, now=now()) == Figures(delivered=1)


def test_a_complaint_about_a_domain_seen_at_gmails_mx_counts_with_gmail(alice, dns_server, smtp_server):
    dns_server.resolver.add("workspace.example. 300 IN MX 5 gmail-smtp-in.l.google.com.")
    dns_server.resolver.add("gmail-smtp-in.l.google.com. 300 IN A 127.0.0.1")
    message = send_message(user=alice, to=["reader@workspace.example"], text="x")
    run_delivery(message_id=message.pk)
    recipient = message.recipients.get()
    raw = about(recipient, "complaints/yahoo_arf_abuse.eml").replace(b"remote.example", b"workspace.example")

    handle_report(raw=raw, verp_address=return_path(recipient))

    assert figures("provider", "gmail", Window.HOUR, now=now()) == Figures(delivered=1, complained=1)


def test_a_relay_host_is_not_taken_for_the_destination(alice, db, settings):
    settings.MAIL_TRANSPORT = {"BACKEND": "delivery.transports.smtp.RelayTransport", "OPTIONS": {"HOST": "x"}}
    message = send_message(user=alice, to=["someone@company.example"], text="x")
    record_delivery_event(
        recipient=message.recipients.get(), event_type="sent", transport="relay", remote_host="smtp-relay.gmail.com"
    )

    assert figures("provider", "other", Window.HOUR, now=now()) == Figures(delivered=1)


# --- pruning and rebuilding -------------------------------------------------------------------


def test_pruning_drops_the_buckets_no_window_reads(alice, recipient, settings):
    settings.REPUTATION_HOURLY_KEPT_DAYS, settings.REPUTATION_DAILY_KEPT_DAYS = 35, 400
    outcome_at(recipient, T0 - timedelta(days=3))  # its 5-minute bucket goes; its hour and day stay
    outcome_at(recipient, T0 - timedelta(days=36))  # its hour goes too
    outcome_at(recipient, T0 - timedelta(days=401))  # everything goes

    prune_counts(now=T0)

    spans = sorted(ReputationCount.objects.filter(kind="user", metric="delivered").values_list("span", flat=True))
    assert spans == [3600, 86400, 86400]
    assert figures("user", str(alice.pk), Window.MONTH, now=T0) == Figures(delivered=1)
    assert [f.delivered for _, f in series("user", str(alice.pk), Window.WEEK, now=T0)] == [0, 0, 0, 1, 0, 0, 0]


def test_rebuild_recounts_the_counters_from_the_event_log(alice, remote_domain, smtp_server):
    first = send_message(user=alice, to=["ok@remote.example", "unknown@remote.example"], text="x")
    run_delivery(message_id=first.pk)
    earlier = send_message(user=alice, to=["ok2@remote.example"], text="y").recipients.get()
    outcome_at(earlier, timezone.now() - timedelta(days=2))
    jdoe = send_message(user=alice, to=["jdoe@remote.example"], text="z")
    run_delivery(message_id=jdoe.pk)
    handle_report(raw=about(jdoe.recipients.get(), "bounces/postfix_user_unknown.eml"),
                  verp_address=return_path(jdoe.recipients.get()))  # fmt: skip
    before = sorted(ReputationCount.objects.values_list("kind", "key", "metric", "span", "bucket", "count"))
    ReputationCount.objects.update(count=99)  # a bug broke them
    ReputationCount.objects.filter(kind="provider").delete()
    out = StringIO()

    call_command("rebuild_reputation", "--days", "5", "--batch-size", "2", stdout=out)

    after = sorted(ReputationCount.objects.values_list("kind", "key", "metric", "span", "bucket", "count"))
    assert after == before
    assert "events counted" in out.getvalue() and "Done:" in out.getvalue()
    assert figures("user", str(alice.pk), Window.WEEK, now=timezone.now()) == Figures(
        delivered=2, bounced_hard=2, unknown_user=2
    )


def test_a_failing_figures_changed_listener_does_not_fail_the_delivery(
    alice, remote_domain, smtp_server, caplog, django_capture_on_commit_callbacks
):
    def broken(sender, **kwargs):
        raise RuntimeError("guardrail bug")

    figures_changed.connect(broken)
    try:
        message = send_message(user=alice, to=["ok@remote.example"], text="x")
        with django_capture_on_commit_callbacks(execute=True):
            run_delivery(message_id=message.pk)
    finally:
        figures_changed.disconnect(broken)

    assert message.recipients.get().status == Recipient.Status.SENT
    assert figures("user", str(alice.pk), Window.HOUR, now=now()) == Figures(delivered=1)
    assert "guardrail bug" in caplog.text
