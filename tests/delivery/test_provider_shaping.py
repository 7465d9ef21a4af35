"""Provider-aware delivery (docs/PROVIDER-SHAPING.md), against real SMTP servers answering like the providers.

Two servers share the delivery port on two loopback addresses: a "Gmail" MX
(``gmail-smtp-in.l.google.com`` → 127.0.0.1 in the loopback DNS; ``gmail.com``
and a Workspace domain, ``workspace.example``, have it as their MX) and an
"other" provider's MX on 127.0.0.2. Neither offers STARTTLS, so each EHLO is
one connection. Time is the ``clock`` fixture's; nothing sleeps.
"""

from datetime import timedelta

import pytest

from delivery.models import DeliveryEvent, ProviderBackoff, ProviderProfile, RetryRule, SendRate, Suppression
from delivery.services import run_delivery, send_message
from delivery.services.engine import RunReport, claim_due_recipients
from delivery.services.shaping import DEFAULT_RULES, Rule, back_off, end_backoffs
from delivery.transports.base import result_for_reply
from mailboxes.models import Recipient
from tests.support.smtp_server import FaultySMTPServer, free_port

GMAIL_RATE_LIMITED = (
    "421 4.7.28 [127.0.0.2] Our system has detected an unusual rate of unsolicited mail originating "
    "from your IP address. To protect our users from spam, mail sent from your IP address has been "
    "temporarily rate limited."
)
MICROSOFT_S3150 = (
    "550 5.7.1 Unfortunately, messages from [127.0.0.1] weren't sent. Please contact your Internet service "
    "provider since part of their network is on our block list (S3150). You can also refer your provider to "
    "http://mail.live.com/mail/troubleshooting.aspx#errors."
)
MAILBOX_FULL = "452 4.2.2 The email account that you tried to reach is over quota."


@pytest.fixture
def providers(settings, dns_server):
    """A Gmail MX on 127.0.0.1, an Outlook MX on 127.0.0.1 too (another domain), another provider on 127.0.0.2."""
    port = free_port()
    gmail = FaultySMTPServer(tls=False, host="127.0.0.1", port=port).start()
    other = FaultySMTPServer(tls=False, host="127.0.0.2", port=port).start()
    settings.SMTP_DELIVERY_PORT = port
    zone = dns_server.resolver
    for domain in ("gmail.com", "googlemail.com", "workspace.example"):
        zone.add(f"{domain}. 300 IN MX 5 gmail-smtp-in.l.google.com.")
    zone.add("gmail-smtp-in.l.google.com. 300 IN A 127.0.0.1")
    zone.add("other.example. 300 IN MX 10 mx.other.example.")
    zone.add("mx.other.example. 300 IN A 127.0.0.2")
    yield gmail, other
    gmail.stop()
    other.stop()


@pytest.fixture
def outlook(settings, dns_server, providers):
    """``contoso.example`` on Microsoft 365: its MX is a protection.outlook.com host (the "Gmail" server's port)."""
    gmail, _ = providers
    dns_server.resolver.add("contoso.example. 300 IN MX 0 contoso-example.mail.protection.outlook.com.")
    dns_server.resolver.add("contoso-example.mail.protection.outlook.com. 300 IN A 127.0.0.1")
    return gmail  # the same server answers for Microsoft in these tests


def recipient(message, address):
    return message.recipients.get(address=address)


def last_event(r):
    return r.events.order_by("-timestamp", "-pk").first()


# --- a throttling reply backs off the provider as a whole ------------------------------


def test_gmail_rate_limit_backs_off_gmail_only_and_the_next_claim_skips_it_until_the_pause_ends(
    alice, providers, clock
):
    gmail, other = providers
    gmail.handler.answer_all(GMAIL_RATE_LIMITED)
    to = ["a@workspace.example", "b@workspace.example", "c@gmail.com", "ok@other.example"]
    message = send_message(user=alice, to=to, subject="Hello", text="Hi")

    run_delivery()

    # One RCPT reached Gmail: the claim stopped sending it anything after the 421.
    assert gmail.handler.rcpts == ["a@workspace.example"]
    assert [m.rcpt_tos for m in other.messages] == [["ok@other.example"]]
    assert recipient(message, "ok@other.example").status == Recipient.Status.SENT
    backoff = ProviderBackoff.objects.get(provider="gmail")
    assert (backoff.until, backoff.strikes) == (clock.now + timedelta(seconds=300), 1)
    assert "4.7.28" in backoff.reason
    for address in to[:3]:
        r = recipient(message, address)
        assert r.status == Recipient.Status.DEFERRED
        assert r.next_attempt_at == backoff.until
    first = last_event(recipient(message, "a@workspace.example"))
    assert first.event_type == "deferred"
    assert first.description == (
        "Gmail asked us to slow down (421 4.7.28); all Gmail mail waits until 12:05 UTC (pause 1 in a row)."
    )
    assert first.metadata["provider_backoff"]["provider"] == "gmail"
    waiting = last_event(recipient(message, "c@gmail.com"))
    assert waiting.description.startswith("Not attempted: Gmail asked us to slow down (421 4.7.28)")

    # Still paused: made due again (say an admin requeued them), the claim leaves Gmail's mail waiting;
    # new mail to the other provider goes at once.
    Recipient.objects.filter(message=message, status=Recipient.Status.DEFERRED).update(next_attempt_at=clock.now)
    later = send_message(user=alice, to=["ok2@other.example"], text="x")
    clock.now += timedelta(seconds=60)
    report = run_delivery()
    assert report.throttled == 3
    assert report.sent == 1
    assert recipient(later, "ok2@other.example").status == Recipient.Status.SENT
    assert gmail.handler.rcpts == ["a@workspace.example"]
    waiting = message.recipients.filter(status=Recipient.Status.DEFERRED)
    assert set(waiting.values_list("next_attempt_at", flat=True)) == {backoff.until}

    # The pause ends: Gmail takes its mail again.
    gmail.handler.answer_all(None)
    clock.now = backoff.until + timedelta(seconds=1)
    report = run_delivery()
    assert report.sent == 3
    assert sorted(r for m in gmail.messages for r in m.rcpt_tos) == sorted(to[:3])


def test_a_throttling_reply_to_a_workspace_domain_pauses_gmail_com_too(alice, providers, clock):
    """The provider is known by the MX host, not by the domain name."""
    gmail, _ = providers
    gmail.handler.answer_all(GMAIL_RATE_LIMITED)
    send_message(user=alice, to=["a@workspace.example"], text="x")
    run_delivery()
    assert ProviderBackoff.objects.filter(provider="gmail", until__gt=clock.now).exists()

    gmail.handler.answer_all(None)
    message = send_message(user=alice, to=["c@gmail.com"], text="x")
    report = run_delivery()
    assert (report.claimed, report.throttled) == (0, 1)
    assert recipient(message, "c@gmail.com").next_attempt_at == clock.now + timedelta(seconds=300)
    assert gmail.handler.rcpts == ["a@workspace.example"]


def test_repeated_throttling_doubles_the_pause_up_to_the_cap(alice, providers, clock):
    gmail, _ = providers
    gmail.handler.answer_all(GMAIL_RATE_LIMITED)
    send_message(user=alice, to=["a@gmail.com"], text="x")
    pauses = []
    for _ in range(6):
        run_delivery()
        backoff = ProviderBackoff.objects.get(provider="gmail")
        pauses.append(int((backoff.until - clock.now).total_seconds()))
        clock.now = backoff.until + timedelta(seconds=1)
    assert pauses == [300, 600, 1200, 2400, 3600, 3600]
    assert backoff.strikes == 6


def test_a_provider_quiet_for_a_while_after_its_pause_starts_again_from_the_first_step(db, settings, clock):
    settings.PROVIDER_BACKOFF_MEMORY_SECONDS = 3600
    rule = DEFAULT_RULES[0]
    reply = result_for_reply(1, 421, GMAIL_RATE_LIMITED[4:])
    first = back_off(provider="gmail", rule=rule, result=reply, now=clock.now)
    second = back_off(provider="gmail", rule=rule, result=reply, now=first.until + timedelta(seconds=10))
    assert (second.strikes, second.until - (first.until + timedelta(seconds=10))) == (2, timedelta(seconds=600))
    # A reply that comes while the pause is on (another worker's connection) adds nothing.
    same = back_off(provider="gmail", rule=rule, result=reply, now=second.until - timedelta(seconds=1))
    assert (same.strikes, same.until) == (2, second.until)
    quiet_then = second.until + timedelta(seconds=3600)
    third = back_off(provider="gmail", rule=rule, result=reply, now=quiet_then)
    assert (third.strikes, third.until) == (1, quiet_then + timedelta(seconds=300))


def test_microsoft_s3150_is_deferred_not_bounced_and_pauses_microsoft(alice, outlook, clock):
    outlook.handler.answer_all(MICROSOFT_S3150)
    message = send_message(user=alice, to=["ceo@contoso.example", "cfo@contoso.example", "x@hotmail.com"], text="x")

    run_delivery()

    assert outlook.handler.rcpts == ["ceo@contoso.example"]
    backoff = ProviderBackoff.objects.get(provider="microsoft")
    assert backoff.until == clock.now + timedelta(seconds=900)
    for r in message.recipients.all():
        assert r.status == Recipient.Status.DEFERRED
        assert r.next_attempt_at == backoff.until
    event = last_event(recipient(message, "ceo@contoso.example"))
    assert event.event_type == "deferred"
    assert event.description.startswith("Microsoft asked us to slow down (550 5.7.1)")
    assert not Suppression.objects.exists()
    assert not ProviderBackoff.objects.filter(provider="gmail").exists()


def test_mailbox_full_defers_only_that_message(alice, providers, clock):
    gmail, _ = providers
    gmail.handler.script("full@gmail.com", [MAILBOX_FULL])
    message = send_message(user=alice, to=["full@gmail.com", "a@gmail.com", "b@gmail.com"], text="x")

    report = run_delivery()

    assert (report.sent, report.deferred) == (2, 1)
    full = recipient(message, "full@gmail.com")
    assert full.status == Recipient.Status.DEFERRED
    assert clock.now < full.next_attempt_at <= clock.now + timedelta(seconds=400)  # the usual first backoff
    assert last_event(full).metadata["rule"] == "Mailbox full"
    assert not ProviderBackoff.objects.exists()
    assert not Suppression.objects.exists()


def test_an_admin_rule_comes_before_the_defaults(alice, providers, clock):
    """An admin decides that mailbox-full replies from Gmail mean Gmail is overloaded (a made-up rule)."""
    gmail, _ = providers
    RetryRule.objects.create(
        provider="gmail", status_prefix="452 4.2.2", text_pattern="over quota",
        action=RetryRule.Action.BACK_OFF_PROVIDER, backoff_seconds=120, max_backoff_seconds=240,
    )  # fmt: skip
    gmail.handler.script("full@gmail.com", [MAILBOX_FULL])
    send_message(user=alice, to=["full@gmail.com", "a@gmail.com"], text="x")

    run_delivery()

    assert ProviderBackoff.objects.get(provider="gmail").until == clock.now + timedelta(seconds=120)
    assert gmail.handler.rcpts == ["full@gmail.com"]


def test_other_providers_are_never_paused_as_a_whole(alice, providers, clock):
    """A throttling rule matching a reply from an unrecognised provider retries that message only."""
    _, other = providers
    RetryRule.objects.create(
        status_prefix="421", text_pattern="slow down", action=RetryRule.Action.BACK_OFF_PROVIDER, backoff_seconds=600
    )
    other.handler.script("a@other.example", ["421 4.7.0 slow down please"])
    message = send_message(user=alice, to=["a@other.example", "b@other.example"], text="x")

    report = run_delivery()

    assert (report.sent, report.deferred) == (1, 1)
    assert recipient(message, "a@other.example").next_attempt_at == clock.now + timedelta(seconds=600)
    assert not ProviderBackoff.objects.exists()


def test_an_admin_ends_a_pause_and_the_waiting_mail_is_due_at_once(alice, providers, clock):
    gmail, _ = providers
    gmail.handler.answer_all(GMAIL_RATE_LIMITED)
    message = send_message(user=alice, to=["a@gmail.com", "b@gmail.com"], text="x")
    run_delivery()
    gmail.handler.answer_all(None)

    assert end_backoffs(providers=["gmail"]) == 1

    assert set(message.recipients.values_list("next_attempt_at", flat=True)) == {clock.now}
    assert run_delivery().sent == 2


# --- shaping profiles ------------------------------------------------------------------


def test_messages_per_connection_follow_the_provider_profile(alice, providers, clock):
    gmail, other = providers
    ProviderProfile.objects.create(provider="gmail", messages_per_connection=2)
    send_message(user=alice, to=[f"u{i}@gmail.com" for i in range(5)], text="x")
    send_message(user=alice, to=[f"u{i}@other.example" for i in range(5)], text="x")

    report = run_delivery()

    assert report.sent == 10
    assert gmail.handler.connections == 3  # 2 + 2 + 1
    assert other.handler.connections == 1  # the "other" profile: 100 per connection


def test_the_per_minute_rate_of_a_provider_counts_all_its_domains(alice, providers, clock):
    gmail, other = providers
    ProviderProfile.objects.create(provider="gmail", messages_per_minute=3)
    message = send_message(
        user=alice,
        to=["a@gmail.com", "b@googlemail.com", "c@gmail.com", "d@googlemail.com", "e@gmail.com", "ok@other.example"],
        text="x",
    )

    report = run_delivery()

    assert (report.sent, report.throttled) == (4, 2)
    assert len(gmail.messages) == 3
    assert SendRate.objects.get(scope=SendRate.Scope.PROVIDER, key="gmail").attempts == 3
    waiting = message.recipients.filter(status=Recipient.Status.QUEUED)
    assert waiting.count() == 2
    assert {r.next_attempt_at for r in waiting} == {clock.now + timedelta(seconds=30)}

    clock.now += timedelta(seconds=40)  # still within the minute
    assert run_delivery().sent == 0
    clock.now += timedelta(minutes=2)
    assert run_delivery().sent == 2
    assert len(gmail.messages) == 5


def test_a_provider_profile_bounds_the_workers_delivering_to_it(alice, providers, clock):
    """Another worker holds a live claim on gmail.com mail: with one worker allowed for Gmail, a claim takes
    no googlemail.com mail, and the other provider's mail goes."""
    ProviderProfile.objects.create(provider="gmail", max_connections=1)
    busy = send_message(user=alice, to=["busy@gmail.com"], text="x")
    lease_until = clock.now + timedelta(seconds=45)
    Recipient.objects.filter(message=busy).update(
        status=Recipient.Status.SENDING, lease_token="another-worker", lease_expires_at=lease_until
    )
    message = send_message(user=alice, to=["a@googlemail.com", "ok@other.example"], text="x")

    claim = claim_due_recipients(message_id=message.pk, queue=None, limit=10, report=RunReport())
    assert [r.address for r in claim.recipients] == ["ok@other.example"]

    clock.now += timedelta(seconds=46)  # the other worker's lease ran out
    claim = claim_due_recipients(message_id=message.pk, queue=None, limit=10, report=RunReport())
    assert [r.address for r in claim.recipients] == ["a@googlemail.com"]


def test_the_other_profile_bounds_each_other_domain(alice, providers, clock, settings):
    ProviderProfile.objects.create(provider="other", messages_per_minute=2)
    send_message(user=alice, to=["a@other.example", "b@other.example", "c@other.example", "g@gmail.com"], text="x")

    report = run_delivery()

    assert (report.sent, report.throttled) == (3, 1)


def test_the_admin_lists_all_five_providers_with_the_values_in_force(admin_client):
    ProviderProfile.objects.create(provider="yahoo", messages_per_minute=42)

    page = admin_client.get("/admin/delivery/providerprofile/").content.decode()

    assert ProviderProfile.objects.count() == 5
    for label in ("Gmail / Google Workspace", "Microsoft", "Yahoo / AOL", "Apple (iCloud)", "Other providers"):
        assert label in page
    assert "42<" in page  # Yahoo's override
    assert "3000 (default)" in page  # Gmail's per-minute default


def test_the_admin_pages_of_rules_and_pauses_render_and_an_admin_ends_a_pause(admin_client, clock):
    rule = RetryRule.objects.create(status_prefix="421", action=RetryRule.Action.RETRY_MESSAGE)
    pause = ProviderBackoff.objects.create(provider="yahoo", until=clock.now + timedelta(minutes=5), strikes=1)
    ProviderProfile.objects.create(provider="apple", max_connections=2)
    for path in (
        f"/admin/delivery/retryrule/{rule.pk}/change/",
        f"/admin/delivery/providerbackoff/{pause.pk}/change/",
        f"/admin/delivery/providerprofile/{ProviderProfile.objects.get().pk}/change/",
        "/admin/delivery/retryrule/",
        "/admin/delivery/providerbackoff/",
    ):
        assert admin_client.get(path).status_code == 200, path

    response = admin_client.post(
        "/admin/delivery/providerbackoff/", {"action": "end_now", "_selected_action": [pause.pk]}
    )

    assert response.status_code == 302
    pause.refresh_from_db()
    assert pause.until == clock.now


@pytest.fixture
def admin_client(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory(address="root@example.test", admin=True))
    return client


# --- expiry after soft failures -------------------------------------------------------------


def test_expiry_after_soft_failures_is_not_a_hard_bounce_and_suppresses_nothing(alice, providers, clock):
    _, other = providers
    message = send_message(user=alice, to=["temp@other.example"], text="x")
    r = recipient(message, "temp@other.example")

    run_delivery()
    r.refresh_from_db()
    assert r.status == Recipient.Status.DEFERRED
    clock.now = r.expires_at + timedelta(seconds=1)
    Recipient.objects.filter(pk=r.pk).update(next_attempt_at=clock.now)
    run_delivery()

    r.refresh_from_db()
    assert len(other.handler.rcpts) == 2  # both attempts reached the server, which said 451 both times
    assert r.status == Recipient.Status.BOUNCED
    event = last_event(r)
    assert (event.event_type, event.reason, event.metadata["enhanced_status"]) == ("bounced", "expired", "4.4.7")
    assert event.reject_reason != "invalid"  # not a hard bounce
    assert not Suppression.objects.exists()
    assert DeliveryEvent.objects.filter(recipient=r, event_type="deferred").count() == 1


def test_default_rules_recognise_the_providers_replies():
    def rule(provider, reply):
        code, text = int(reply[:3]), reply[4:]
        return next((r for r in DEFAULT_RULES if r.matches(provider, result_for_reply(1, code, text))), None)

    assert rule("gmail", GMAIL_RATE_LIMITED).action == "back_off_provider"
    assert rule("gmail", "421 4.7.0 Try again later, closing connection.").action == "back_off_provider"
    assert rule("gmail", "450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents "
                "additional messages from being delivered.").action == "retry_message"  # fmt: skip
    assert rule("microsoft", MICROSOFT_S3150).action == "back_off_provider"
    assert rule("microsoft", "451 4.7.500 Server busy. Please try again later from [1.2.3.4]. (S77714)").action == (
        "back_off_provider"
    )
    assert rule("microsoft", "451 4.7.650 The mail server [1.2.3.4] has been temporarily rate limited due to IP "
                "reputation.").action == "back_off_provider"  # fmt: skip
    assert rule("yahoo", "421 4.7.0 [TSS04] Messages from 1.2.3.4 temporarily deferred due to unexpected volume "
                "or user complaints - 4.16.55.1").action == "back_off_provider"  # fmt: skip
    assert rule("apple", "421 4.7.0 [CS01] Message rejected due to local policy: rate limited").action == (
        "back_off_provider"
    )
    assert rule("other", MAILBOX_FULL).action == "retry_message"
    assert rule("yahoo", GMAIL_RATE_LIMITED) is None  # Gmail's code from Yahoo: not Yahoo's throttle
    assert Rule("", "4.7", "", "retry_message").matches("other", result_for_reply(1, 451, "4.7.1 greylisted"))
    assert not Rule("", "4.7.2", "", "retry_message").matches("other", result_for_reply(1, 421, "4.7.28 x"))


def test_a_rule_with_a_broken_pattern_is_refused_in_the_admin_form_and_matches_literally_if_stored(db):
    from django.core.exceptions import ValidationError

    rule = RetryRule(status_prefix="421", text_pattern="rate (limited", action=RetryRule.Action.RETRY_MESSAGE)
    with pytest.raises(ValidationError):
        rule.full_clean()
    stored = Rule("", "421", "rate (limited", "retry_message")
    assert stored.matches("other", result_for_reply(1, 421, "4.7.0 rate (limited by us"))


def test_a_throttling_reply_to_an_expired_message_bounces_it_as_expired_and_still_pauses_the_provider(
    alice, providers, clock
):
    gmail, _ = providers
    gmail.handler.answer_all(GMAIL_RATE_LIMITED)
    message = send_message(user=alice, to=["old@gmail.com", "new@gmail.com"], text="x")
    old = recipient(message, "old@gmail.com")
    Recipient.objects.filter(pk=old.pk).update(expires_at=clock.now - timedelta(seconds=1))

    run_delivery()

    old.refresh_from_db()
    assert (old.status, last_event(old).reason) == (Recipient.Status.BOUNCED, "expired")
    new = recipient(message, "new@gmail.com")
    backoff = ProviderBackoff.objects.get(provider="gmail")
    assert (new.status, new.next_attempt_at) == (Recipient.Status.DEFERRED, backoff.until)
    assert gmail.handler.rcpts == ["old@gmail.com"]
    assert not Suppression.objects.exists()
