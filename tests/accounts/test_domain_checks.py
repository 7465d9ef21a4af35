"""Domain verification and DNS status lights, against a real DNS server on loopback (issue 16, item 5)."""

import io
import re
from datetime import UTC, datetime, timedelta

import dkim
import pytest
from django.core.management import call_command
from django.urls import reverse

from accounts.dkim import dkim_record, dns_records, public_key_base64
from accounts.domain_checks import Light, recheck_domains, run_checks
from accounts.domain_verification import DomainNotVerified, ensure_verification_token, mark_verified
from accounts.models import Domain, RetiredDkimKey
from accounts.services import create_domain, ensure_dkim_key, rotate_dkim_key
from campaigns.services.campaigns import preflight
from core.dns import get_resolver
from delivery.services import run_delivery, send_message
from mailboxes.models import Folder, MailboxItem
from tests.campaigns.campaign_world import (
    NOW as CAMPAIGN_NOW,
)
from tests.campaigns.campaign_world import (
    add_contacts,
    everyone_fixture,  # noqa: F401 - fixtures
    new_campaign,
    newsletter_fixture,  # noqa: F401
    spring_fixture,  # noqa: F401
)
from tests.campaigns.unsubscribe_world import marketer_fixture, shop_fixture  # noqa: F401
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
OUTBOUND_IP = "192.0.2.25"


@pytest.fixture(autouse=True)
def _our_mail_host(settings):
    settings.MAIL_HOSTNAME = "mx.ours.test"
    settings.OUTBOUND_IPS = [OUTBOUND_IP]


@pytest.fixture
def zone(dns_server):
    def add(name: str, rtype: str, value):
        if rtype == "TXT" and isinstance(value, str):
            value = value.encode()
        dns_server.resolver.add_record(name, rtype, value)

    return add


@pytest.fixture
def domain(db):
    domain = create_domain(name="brand.example")
    domain, _ = ensure_dkim_key(domain_name="brand.example")
    return domain


def publish(dns_server, records: list[str]) -> None:
    for record in records:
        dns_server.resolver.add(record.replace("\t", " "))


def check(domain, kind: str, *, now=NOW):
    status = run_checks(domain, now=now)
    matching = [c for c in status.checks if c.kind == kind]
    assert len(matching) == 1, matching
    return matching[0]


# --- ownership ----------------------------------------------------------------------------


def test_a_new_domain_has_a_token_and_starts_unverified(domain):
    assert len(domain.verification_token) >= 32
    assert domain.verified_at is None
    assert f'_webmail-verify.brand.example.\t3600\tIN\tTXT\t"webmail-verify={domain.verification_token}"' in (
        dns_records(domain)
    )


def test_the_published_token_verifies_the_domain(domain, zone):
    zone("_webmail-verify.brand.example", "TXT", f"webmail-verify={domain.verification_token}")

    ownership = check(domain, "ownership")

    assert ownership.light == Light.GREEN
    domain.refresh_from_db()
    assert domain.verified_at == NOW


def test_a_missing_token_is_red_and_leaves_the_domain_unverified(domain):
    ownership = check(domain, "ownership")

    assert ownership.light == Light.RED
    assert ownership.found == "no verification record"
    assert ownership.publish == [
        f'_webmail-verify.brand.example.\t3600\tIN\tTXT\t"webmail-verify={domain.verification_token}"'
    ]
    domain.refresh_from_db()
    assert domain.verified_at is None


def test_another_token_is_red(domain, zone):
    zone("_webmail-verify.brand.example", "TXT", "webmail-verify=someone-elses-token")
    zone("_webmail-verify.brand.example", "TXT", "unrelated text")

    ownership = check(domain, "ownership")

    assert ownership.light == Light.RED
    assert ownership.found == "webmail-verify=someone-elses-token"
    assert "another token" in ownership.note
    assert Domain.objects.get(pk=domain.pk).verified_at is None


def test_a_dns_failure_is_amber_not_a_verdict(domain, dns_server):
    dns_server.resolver.servfail("_webmail-verify.brand.example")

    ownership = check(domain, "ownership")

    assert ownership.light == Light.AMBER
    assert "DNS lookup failed" in ownership.found


def test_a_verified_domain_whose_record_went_away_stays_verified_amber(domain):
    mark_verified(domain, now=NOW - timedelta(days=30))

    ownership = check(domain, "ownership")

    assert ownership.light == Light.AMBER
    assert Domain.objects.get(pk=domain.pk).verified_at == NOW - timedelta(days=30)


def test_a_domain_older_than_verification_gets_its_token_when_first_shown(db):
    old = Domain.objects.create(name="old.example")  # as the migration leaves it: no token
    token = ensure_verification_token(old)
    assert token and Domain.objects.get(pk=old.pk).verification_token == token
    assert ensure_verification_token(Domain.objects.get(pk=old.pk)) == token


# --- MX ---------------------------------------------------------------------------------------


def test_mx_pointing_at_our_mail_host_is_green(domain, zone):
    zone("brand.example", "MX", (10, "mx.ours.test"))
    mx = check(domain, "mx")
    assert mx.light == Light.GREEN
    assert mx.found == "10 mx.ours.test"


def test_mx_that_also_points_elsewhere_is_amber(domain, zone):
    zone("brand.example", "MX", (10, "mx.ours.test"))
    zone("brand.example", "MX", (20, "backup.elsewhere.example"))
    assert check(domain, "mx").light == Light.AMBER


def test_mx_pointing_elsewhere_or_missing_is_red(domain, zone, dns_server):
    assert check(domain, "mx").light == Light.RED  # NXDOMAIN
    zone("brand.example", "MX", (10, "mx.google.example"))
    mx = check(domain, "mx")
    assert mx.light == Light.RED
    assert mx.publish == ["brand.example.\t3600\tIN\tMX\t10 mx.ours.test."]


# --- SPF -------------------------------------------------------------------------------------


def test_spf_authorising_our_outbound_address_is_green(domain, zone):
    zone("brand.example", "TXT", f"v=spf1 ip4:{OUTBOUND_IP} -all")
    spf = check(domain, "spf")
    assert spf.light == Light.GREEN
    assert f"{OUTBOUND_IP}: pass" in spf.found


def test_spf_that_does_not_authorise_us_is_red(domain, zone):
    zone("brand.example", "TXT", "v=spf1 ip4:198.51.100.1 -all")
    spf = check(domain, "spf")
    assert spf.light == Light.RED
    assert f"{OUTBOUND_IP}: fail" in spf.found
    assert spf.publish == [f'brand.example.\t3600\tIN\tTXT\t"v=spf1 mx a:mx.ours.test ip4:{OUTBOUND_IP} ~all"']


def test_spf_that_only_softfails_us_is_amber(domain, zone):
    zone("brand.example", "TXT", "v=spf1 ip4:198.51.100.1 ~all")
    assert check(domain, "spf").light == Light.AMBER


def test_no_spf_or_two_spf_records_are_red(domain, zone):
    zone("brand.example", "TXT", "google-site-verification=abc")
    assert check(domain, "spf").found == "no SPF record"
    zone("brand.example", "TXT", f"v=spf1 ip4:{OUTBOUND_IP} -all")
    zone("brand.example", "TXT", "v=spf1 mx -all")
    assert check(domain, "spf").light == Light.RED


def test_without_outbound_ips_the_mail_hosts_addresses_are_checked(domain, zone, settings):
    settings.OUTBOUND_IPS = []
    zone("brand.example", "TXT", "v=spf1 a:mx.ours.test -all")
    assert check(domain, "spf").light == Light.AMBER  # the mail host has no address: nothing to check
    zone("mx.ours.test", "A", "203.0.113.9")
    spf = check(domain, "spf")
    assert spf.light == Light.GREEN
    assert "203.0.113.9: pass" in spf.found


# --- DKIM ------------------------------------------------------------------------------------


def test_dkim_record_matching_the_signing_key_is_green(domain, dns_server):
    publish(dns_server, [r for r in dns_records(domain) if "_domainkey" in r])
    dkim_check = check(domain, "dkim")
    assert dkim_check.light == Light.GREEN
    assert dkim_check.label == f"DKIM RSA ({domain.dkim_selector})"


def test_dkim_record_with_another_key_is_red(domain, dns_server):
    other, _ = ensure_dkim_key(domain_name=create_domain(name="other.example").name)
    publish(dns_server, [dkim_record(domain, domain.dkim_selector, "rsa", public_key_base64(other.dkim_private_key))])
    dkim_check = check(domain, "dkim")
    assert dkim_check.light == Light.RED
    assert "not the one that signs" in dkim_check.note


def test_missing_dkim_record_or_key_is_red(domain, db):
    assert check(domain, "dkim").found == "no key record"
    keyless = create_domain(name="keyless.example")
    dkim_check = check(keyless, "dkim")
    assert dkim_check.light == Light.RED
    assert "manage.py dkimkey keyless.example" in dkim_check.note


def test_the_ed25519_key_gets_its_own_light(domain, dns_server):
    domain, _ = ensure_dkim_key(domain_name="brand.example", ed25519=True)
    publish(dns_server, [r for r in dns_records(domain) if "k=rsa" in r])
    status = run_checks(domain, now=NOW)
    lights = {c.label: c.light for c in status.checks if c.kind == "dkim"}
    assert lights == {
        f"DKIM RSA ({domain.dkim_selector})": Light.GREEN,
        f"DKIM Ed25519 ({domain.dkim_ed25519_selector})": Light.RED,
    }
    assert status.light("dkim") == Light.RED


# --- DMARC -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "light"),
    [
        ("v=DMARC1; p=reject; rua=mailto:d@brand.example", Light.GREEN),
        ("v=DMARC1; p=quarantine", Light.GREEN),
        ("v=DMARC1; p=none", Light.AMBER),
        ("v=DMARC1; p=bogus", Light.RED),
    ],
)
def test_dmarc_policy_lights(domain, zone, record, light):
    zone("_dmarc.brand.example", "TXT", record)
    assert check(domain, "dmarc").light == light


def test_no_dmarc_is_red_and_a_subdomain_uses_its_organisations_record(db, zone):
    sub = create_domain(name="news.brand.example")
    assert check(sub, "dmarc").light == Light.RED
    zone("_dmarc.brand.example", "TXT", "v=DMARC1; p=none; sp=reject")
    dmarc_check = check(sub, "dmarc")
    assert dmarc_check.light == Light.GREEN
    assert "(at _dmarc.brand.example)" in dmarc_check.found


# --- all together ----------------------------------------------------------------------------


def test_publishing_what_dkimkey_prints_turns_every_light_green(domain, dns_server, zone):
    domain, _ = ensure_dkim_key(domain_name="brand.example", ed25519=True)
    out = io.StringIO()
    call_command("dkimkey", "brand.example", stdout=out, stderr=io.StringIO())
    publish(dns_server, out.getvalue().splitlines())
    zone("mx.ours.test", "A", OUTBOUND_IP)  # the SPF record's "mx" and "a:" find our address

    status = run_checks(domain, now=NOW)

    assert {c.label: c.light for c in status.checks} == {c.label: Light.GREEN for c in status.checks}
    assert len(status.checks) == 6  # ownership, MX, SPF, DKIM RSA and Ed25519, DMARC
    stored = Domain.objects.get(pk=domain.pk)
    assert stored.dns_checked_at == NOW and stored.verified_at == NOW
    assert stored.dns_status == status.to_json()


def test_checkdomain_prints_the_lights_and_the_records_missing(domain, zone):
    zone("brand.example", "MX", (10, "mx.ours.test"))
    out = io.StringIO()

    call_command("checkdomain", "Brand.Example", stdout=out)

    text = out.getvalue()
    assert "brand.example: NOT verified" in text
    assert "[OK  ] MX: 10 mx.ours.test" in text
    assert "[FAIL] Ownership: no verification record" in text
    assert f'"webmail-verify={domain.verification_token}"' in text
    assert "brand.example.\t3600\tIN\tMX" not in text  # green: nothing to publish for it


# --- rotation --------------------------------------------------------------------------------


def signing_selectors(raw: bytes) -> set[str]:
    header = raw.split(b"\r\n\r\n")[0].decode()
    return set(re.findall(r"DKIM-Signature:.*?\bs=([^;\s]+)", header, flags=re.DOTALL))


def _dnsfunc(name, timeout=5):
    answer = get_resolver().resolve(name.decode().rstrip("."), "TXT")
    return b"".join(b"".join(r.strings) for r in answer)


def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_published(
    alice, remote_domain, smtp_server, dns_server, settings
):
    settings.DKIM_RETIRED_KEY_PUBLISH_SECONDS = 7 * 24 * 3600
    domain, _ = ensure_dkim_key(domain_name="example.test", ed25519=True)
    publish(dns_server, [r for r in dns_records(domain) if "_domainkey" in r])
    send_message(user=alice, to=["ok@remote.example"], subject="Before", text="Signed with the old key")
    run_delivery()
    old_selector, old_ed_selector = domain.dkim_selector, domain.dkim_ed25519_selector

    rotated, retired = rotate_dkim_key(domain_name="example.test", now=NOW)

    assert {r.selector for r in retired} == {old_selector, old_ed_selector}
    assert all(r.publish_until == NOW + timedelta(days=7) for r in retired)
    assert rotated.dkim_selector not in (old_selector, old_ed_selector)
    assert rotated.dkim_ed25519_selector not in (old_selector, old_ed_selector)
    records = [r for r in dns_records(rotated, now=NOW) if "_domainkey" in r]
    assert len(records) == 4  # the new RSA and Ed25519 keys, and both retired ones
    new_selectors = (f"{rotated.dkim_selector}.", f"{rotated.dkim_ed25519_selector}.")
    publish(dns_server, [r for r in records if r.startswith(new_selectors)])  # the old ones are still there

    send_message(user=alice, to=["ok@remote.example"], subject="After", text="Signed with the new key")
    run_delivery()

    before, after = smtp_server.messages
    assert signing_selectors(after.content) == {rotated.dkim_selector, rotated.dkim_ed25519_selector}
    assert signing_selectors(before.content) == {old_selector, old_ed_selector}
    assert dkim.verify(after.content, dnsfunc=_dnsfunc)
    # Mail signed before the rotation still verifies: its key is still published.
    assert dkim.verify(before.content, dnsfunc=_dnsfunc)

    # The panel: both old keys "keep until …" while that time has not come, "may be removed" after it.
    status = run_checks(rotated, now=NOW + timedelta(days=1))
    retired_checks = [c for c in status.checks if "retired" in c.label]
    assert [c.light for c in retired_checks] == [Light.GREEN, Light.GREEN]
    assert all("keep until 2026-12-14 09:00 UTC" in c.label for c in retired_checks)
    later = run_checks(rotated, now=NOW + timedelta(days=8))
    assert all("may be removed" in c.label for c in later.checks if "retired" in c.label)
    assert [r for r in dns_records(rotated, now=NOW + timedelta(days=8)) if "_domainkey" in r] == records[:2]


def test_a_retired_key_taken_down_too_early_is_amber(domain, dns_server):
    rotated, _ = rotate_dkim_key(domain_name="brand.example", now=NOW)
    publish(dns_server, [r for r in dns_records(rotated, now=NOW) if r.startswith(f"{rotated.dkim_selector}.")])
    status = run_checks(rotated, now=NOW + timedelta(hours=1))
    [old] = [c for c in status.checks if "retired" in c.label]
    assert old.light == Light.AMBER
    assert "may fail DKIM" in old.note


def test_rotating_twice_a_day_gives_distinct_selectors(domain):
    first, _ = rotate_dkim_key(domain_name="brand.example", now=NOW)
    second, _ = rotate_dkim_key(domain_name="brand.example", now=NOW + timedelta(minutes=5))
    assert first.dkim_selector == "mail20261207"
    assert second.dkim_selector == "mail20261207-2"
    assert RetiredDkimKey.objects.filter(domain=domain).count() == 2


def test_dkimkey_rotate_prints_both_records(domain):
    old_selector = domain.dkim_selector
    out, err = io.StringIO(), io.StringIO()
    call_command("dkimkey", "brand.example", "--rotate", stdout=out, stderr=err)
    domain.refresh_from_db()
    assert f"keep {old_selector} published until" in err.getvalue()
    selectors = [line.split(".")[0] for line in out.getvalue().splitlines() if "_domainkey" in line]
    assert selectors == [domain.dkim_selector, old_selector]


# --- enforcement -----------------------------------------------------------------------------


@pytest.fixture
def required(settings):
    settings.DOMAIN_VERIFICATION_REQUIRED = True


def test_an_unverified_domain_cannot_send_out_but_hosted_mail_works(required, alice, bob, remote_domain):
    with pytest.raises(DomainNotVerified) as refused:
        send_message(user=alice, to=["bob@example.test", "ok@remote.example"], subject="Hi", text="x")
    assert "example.test has not been verified" in refused.value.message
    assert "remote.example" in refused.value.message
    assert refused.value.status == 403

    send_message(user=alice, to=["bob@example.test"], subject="Local", text="stays here")
    run_delivery()
    assert MailboxItem.objects.filter(user=bob, folder=Folder.INBOX, message__subject="Local").exists()


def test_a_verified_domain_sends_out(required, alice, remote_domain, smtp_server):
    mark_verified(Domain.objects.get(name="example.test"))
    send_message(user=alice, to=["ok@remote.example"], subject="Out", text="x")
    run_delivery()
    assert len(smtp_server.messages) == 1


def test_the_setting_off_lets_unverified_domains_send(alice, remote_domain, smtp_server, settings):
    settings.DOMAIN_VERIFICATION_REQUIRED = False
    send_message(user=alice, to=["ok@remote.example"], subject="Out", text="x")
    run_delivery()
    assert len(smtp_server.messages) == 1


def test_the_api_answers_403_with_a_stable_code(required, alice, remote_domain):
    from tests.api.conftest import assert_error, client_for

    response = client_for(alice).post(
        "/api/emails/send", {"to": ["ok@remote.example"], "subject": "x", "text": "y"}, format="json"
    )
    assert_error(response, 403, "domain_not_verified")


@pytest.fixture(name="draft")
def draft_fixture(marketer, spring, everyone, shop, newsletter):
    add_contacts(shop, newsletter, ["ann@remote.example", "ben@remote.example"])
    return new_campaign(marketer, spring, everyone, send_at=CAMPAIGN_NOW + timedelta(hours=1))


def test_a_campaign_from_an_unverified_domain_fails_preflight(required, draft, shop):
    [problem] = preflight(draft, now=CAMPAIGN_NOW)
    assert problem.field == "from_address"
    assert "shop.example has not been verified" in problem.message

    mark_verified(Domain.objects.get(name="shop.example"))
    assert preflight(draft, now=CAMPAIGN_NOW) == []


def test_seed_demo_domain_is_verified(db):
    from mailboxes.demo.seed import ensure_accounts

    ensure_accounts(password="demo-password-1")
    assert Domain.objects.get(name="demo.test").verified_at is not None


def test_a_user_of_a_verified_domain_is_not_slowed_by_the_check(required, db, django_assert_max_num_queries):
    UserFactory(address="zed@fast.example")
    mark_verified(Domain.objects.get(name="fast.example"))
    from accounts.domain_verification import check_sending_domain

    with django_assert_max_num_queries(1):
        check_sending_domain(from_address="zed@fast.example", recipient_addresses=["a@remote.example"])


# --- admin -----------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(address="root@ops.example", admin=True))
    return client


def admin_url(view: str, *args) -> str:
    return reverse(f"admin:accounts_domain_{view}", args=args)


def test_check_now_on_the_domain_page_stores_the_lights_the_list_shows_without_dns(
    admin_client, domain, zone, dns_server
):
    zone("_webmail-verify.brand.example", "TXT", f"webmail-verify={domain.verification_token}")
    page = admin_client.get(admin_url("change", domain.pk)).content.decode()
    assert "Not checked yet." in page and "Check now" in page

    response = admin_client.post(admin_url("check_dns", domain.pk), follow=True)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Its ownership token was found: the domain is verified" in page
    assert "no SPF record" in page and "brand.example.\t3600\tIN\tTXT\t&quot;v=spf1 mx a:mx.ours.test" in page
    domain.refresh_from_db()
    assert domain.verified_at is not None and domain.dns_checked_at is not None

    dns_server.resolver.queries.clear()
    listing = admin_client.get(admin_url("changelist")).content.decode()
    assert dns_server.resolver.queries == []  # the list reads the stored result
    assert 'title="ownership: OK"' in listing
    assert 'title="spf: failing"' in listing


def test_check_now_wants_a_post(admin_client, domain):
    assert admin_client.get(admin_url("check_dns", domain.pk)).status_code == 405


def test_the_rotate_action_keeps_the_old_selector_on_the_page(admin_client, domain):
    old_selector = domain.dkim_selector
    response = admin_client.post(
        admin_url("changelist"), {"action": "rotate_dkim_keys", "_selected_action": [domain.pk]}, follow=True
    )
    assert f"keep {old_selector} until" in response.content.decode()
    domain.refresh_from_db()
    page = admin_client.get(admin_url("change", domain.pk)).content.decode()
    assert f"{domain.dkim_selector}._domainkey.brand.example." in page
    assert f"{old_selector}._domainkey.brand.example." in page
    assert "PRIVATE KEY" not in page
    retired = RetiredDkimKey.objects.get(selector=old_selector)
    assert admin_client.get(reverse("admin:accounts_retireddkimkey_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:accounts_retireddkimkey_change", args=[retired.pk])).status_code == 200


def test_the_webmail_says_so_at_send_time_not_after_the_undo_window(required, alice, client):
    client.force_login(alice)
    form = {"to": "ok@remote.example", "cc": "", "bcc": "", "subject": "Hi", "body": "x", "draft_id": "",
            "in_reply_to": ""}  # fmt: skip

    response = client.post(reverse("mailboxes:send"), form)

    assert response.status_code == 403
    assert "example.test has not been verified yet" in response.content.decode()
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    assert draft.send_at is None  # kept as a draft, not scheduled


def test_the_scheduler_rechecks_pending_and_stale_domains_only(domain, zone, db):
    fresh = create_domain(name="fresh.example")
    mark_verified(fresh)
    run_checks(fresh, now=NOW - timedelta(hours=1))  # verified, checked an hour ago: not due
    stale = create_domain(name="stale.example")
    mark_verified(stale)
    run_checks(stale, now=NOW - timedelta(days=2))
    zone("_webmail-verify.brand.example", "TXT", f"webmail-verify={domain.verification_token}")

    assert recheck_domains(now=NOW) == 2  # brand.example (never checked) and stale.example

    domain.refresh_from_db()
    assert domain.verified_at == NOW  # its token was published: verified without anyone asking
    assert Domain.objects.get(name="stale.example").dns_checked_at == NOW
    assert Domain.objects.get(name="fresh.example").dns_checked_at == NOW - timedelta(hours=1)
    assert recheck_domains(now=NOW + timedelta(minutes=5)) == 0
    waiting = create_domain(name="waiting.example")
    run_checks(waiting, now=NOW)
    assert recheck_domains(now=NOW + timedelta(minutes=11)) == 1  # unverified: asked again every 10 minutes


def test_the_recheck_task_is_scheduled_and_runs(settings, domain):
    from webmail.celery import app

    app.loader.import_default_modules()  # what a worker does at start-up: the apps' tasks modules
    task = app.tasks[settings.CELERY_BEAT_SCHEDULE["recheck-domains"]["task"]]
    assert task.apply().get() == 1  # brand.example, never checked
    assert Domain.objects.get(pk=domain.pk).dns_checked_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_migration_grandfathers_existing_domains_and_not_new_ones():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("accounts", "0006_domain_dkim_ed25519_key")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()  # back to where every app was, whatever came after 0007
    executor.migrate(before)
    old_domain = executor.loader.project_state(before).apps.get_model("accounts", "Domain")
    old_domain.objects.create(name="existing.example")

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(latest)

    assert Domain.objects.get(name="existing.example").verified_at is not None
    assert create_domain(name="added-later.example").verified_at is None
