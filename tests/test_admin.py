"""The Django admin: every model is browsable, stored mail is read-only, raw source is exact and escaped."""

from collections import Counter

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from accounts.models import Address, Domain, User
from accounts.services import create_api_token, rotate_dkim_key
from delivery.models import DeliveryEvent, ProviderBackoff, ProviderProfile, RetryRule, Suppression
from delivery.services import suppress_address
from delivery.services.rates import count_attempts
from inbound.services.reception import accept_message
from mailboxes.blobstore import mailstore
from mailboxes.compose import OutgoingAttachment
from mailboxes.models import Label, MailboxItem, Message
from mailboxes.services import add_labels, create_label, mark_spam
from mailboxes.services.uploads import create_upload
from reputation.models import (
    ContentFlag,
    LinkBlocklistEntry,
    ReputationAlert,
    SenderLimit,
    SignInNetwork,
)
from reputation.services.holds import place_hold
from tests.factories import DomainFactory, UserFactory, deliver, raw_email, send_and_deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db):
    return UserFactory(address="root@example.test", display_name="Operator", admin=True)


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def mail(alice, bob):
    """One of everything: sent mail with an attachment, received mail, a label, delivery events."""
    sent = send_and_deliver(
        user=alice,
        to=["bob@example.test"],
        subject="Quarterly numbers",
        text="Attached.",
        attachments=[OutgoingAttachment("numbers.csv", "text/csv", b"q,total\r\n1,10\r\n")],
        idempotency_key="quarterly-2026-q4",
    )
    create_upload(user=alice, filename="draft.txt", content=b"later")
    suppress_address(address="gone@remote.example", reason=Suppression.Reason.HARD_BOUNCE, detail="550 5.1.1")
    send_and_deliver(user=alice, to=["bob@example.test"], subject="Receipt", text="Paid.", stream="transactional")
    (received,) = deliver(raw_email(subject="From outside", to="bob@example.test"), bob)
    label = create_label(user=bob, name="Work", color="#2563eb")
    add_labels(user=bob, item_ids=[received.pk], label_ids=[label.pk])
    (junk,) = deliver(raw_email(subject="Cheap pills", to="bob@example.test"), bob)
    mark_spam(user=bob, item_ids=[junk.pk])  # trains bob's Bayes tokens
    accept_message(
        raw=raw_email(subject="Queued", to="bob@example.test"),
        mail_from="sender@remote.example",
        rcpt_tos=["bob@example.test"],
        client_ip="192.0.2.7",
        helo="mx.remote.example",
    )
    count_attempts(domains=Counter({"remote.example": 1}), senders=Counter({alice.pk: 1}), now=timezone.now())
    create_api_token(user=alice, name="CI")
    _reputation_records(alice)
    return sent


def _reputation_records(alice) -> None:
    """One of each of the reputation and abuse side's records, made as the product makes them."""
    now = timezone.now()
    rotate_dkim_key(domain_name="example.test")  # a first key…
    rotate_dkim_key(domain_name="example.test")  # …retired by the second
    hold = place_hold(kind="user", key=str(alice.pk), cause="admin", reason="Under review.", evidence={})
    ReputationAlert.objects.create(kind="user", key=str(alice.pk), level="pause", metric="bounce_rate", rate=0.12,
                                   threshold=0.1, volume=200, window="day", hold=hold)  # fmt: skip
    SenderLimit.objects.create(user=alice, per_minute=120)
    LinkBlocklistEntry.objects.create(domain="bad.example", reason="phishing")
    SignInNetwork.objects.create(user=alice, network="192.0.2.0/24")
    ContentFlag.objects.create(user=alice, finding=ContentFlag.Finding.SPAM, detail="score 9", source="api")
    ProviderProfile.objects.create(provider="gmail", messages_per_minute=500)
    RetryRule.objects.create(provider="gmail", status_prefix="4.7.28", action=RetryRule.Action.BACK_OFF_PROVIDER)
    ProviderBackoff.objects.create(provider="yahoo", until=now, reason="421 4.7.0 [TSS04]")


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def registered_models():
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


# --- every model -------------------------------------------------------------------


@pytest.mark.parametrize("model", registered_models(), ids=lambda model: model._meta.label)
def test_changelist_and_search_render_for_a_superuser(admin_client, mail, model):
    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "changelist"), {"q": "example"}).status_code == 200


@pytest.mark.parametrize("model", registered_models(), ids=lambda model: model._meta.label)
def test_change_page_renders_for_a_superuser(admin_client, mail, model):
    obj = model._default_manager.order_by("pk").first()
    if obj is None:
        pytest.skip(f"no {model._meta.label} in the sample data")

    assert admin_client.get(url(model, "change", obj.pk)).status_code == 200


def test_every_model_of_the_mail_apps_is_registered():
    from django.apps import apps

    for app in ("accounts", "mailboxes", "delivery"):
        for model in apps.get_app_config(app).get_models():
            assert admin.site.is_registered(model), model._meta.label


# --- stored mail is read-only ------------------------------------------------------


@pytest.mark.parametrize("model", [Message, MailboxItem, DeliveryEvent], ids=lambda m: m._meta.label)
def test_stored_mail_cannot_be_added_changed_or_deleted(admin_client, mail, model):
    obj = model._default_manager.order_by("pk").first()
    before = model._default_manager.count()

    assert admin_client.get(url(model, "add")).status_code == 403
    assert admin_client.post(url(model, "change", obj.pk), {}).status_code == 403
    assert admin_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model._default_manager.count() == before


def test_delivery_event_admin_refuses_add_change_and_delete(rf, operator, mail):
    model_admin = admin.site._registry[DeliveryEvent]
    request = rf.get("/")
    request.user = operator
    event = DeliveryEvent.objects.first()

    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
    assert model_admin.has_view_permission(request, event)
    assert "delete_selected" not in model_admin.get_actions(request)


# --- raw source ----------------------------------------------------------------------


def test_message_page_shows_the_raw_source_escaped(admin_client, bob):
    raw = raw_email(subject="Hi", body="<script>alert('pwned')</script> & more", to="bob@example.test")
    (item,) = deliver(raw, bob)

    response = admin_client.get(url(Message, "change", item.message_id))

    assert response.status_code == 200
    page = response.content.decode()
    assert "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt; &amp; more" in page
    assert "<script>alert(" not in page
    assert reverse("admin:mailboxes_message_raw", args=[item.message_id]) in page


def test_message_page_truncates_a_huge_raw_source_with_a_note(admin_client, bob):
    raw = raw_email(subject="Big", body="x" * (1024 * 1024 + 5000), to="bob@example.test")
    (item,) = deliver(raw, bob)

    page = admin_client.get(url(Message, "change", item.message_id)).content.decode()

    assert "Only the first 1024 KB" in page
    assert "x" * 1000 in page


def test_raw_download_returns_the_exact_bytes_as_rfc822(admin_client, bob):
    raw = raw_email(subject="Exact", body="caf\xe9 \u2603 <b>", to="bob@example.test").replace(b"\r\n", b"\n", 1)
    (item,) = deliver(raw, bob)

    response = admin_client.get(reverse("admin:mailboxes_message_raw", args=[item.message_id]))

    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == raw


def test_raw_download_of_an_unknown_message_is_404(admin_client):
    assert admin_client.get(reverse("admin:mailboxes_message_raw", args=[999999])).status_code == 404


def test_raw_download_sends_a_user_who_is_not_staff_to_the_login_page(client, alice, mail):
    client.force_login(alice)
    raw_url = reverse("admin:mailboxes_message_raw", args=[mail.pk])

    response = client.get(raw_url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert client.get(url(Message, "change", mail.pk)).status_code == 302


def test_anonymous_visitor_is_sent_to_the_login_page(client, mail):
    response = client.get(reverse("admin:mailboxes_message_raw", args=[mail.pk]))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


# --- writes go through the services ------------------------------------------------


def test_adding_a_user_in_the_admin_creates_the_primary_address_and_roles(admin_client):
    DomainFactory(name="example.org")

    response = admin_client.post(
        url(User, "add"),
        {
            "address": "Dana@Example.org",
            "display_name": "Dana Scully",
            "password1": "a-long-unusual-passphrase",
            "password2": "a-long-unusual-passphrase",
            "marketer": "on",
        },
    )

    assert response.status_code == 302
    user = User.objects.get(username="dana@example.org")
    assert user.display_name == "Dana Scully"
    assert user.check_password("a-long-unusual-passphrase")
    assert user.addresses.get().kind == Address.Kind.PRIMARY
    assert user.groups.filter(name="Marketers").exists()
    assert not user.is_staff


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("eve@elsewhere.example", "is not a hosted domain"),
        ("alice@example.test", "already in use"),
        ("a+b@example.test", "reserved for sub-addressing"),
        ("not an address", "not an email address"),
    ],
)
def test_adding_a_user_in_the_admin_shows_service_errors_in_the_form(admin_client, alice, address, error):
    response = admin_client.post(
        url(User, "add"),
        {"address": address, "password1": "a-long-unusual-passphrase", "password2": "a-long-unusual-passphrase"},
    )

    assert response.status_code == 200
    assert error in response.content.decode()
    assert User.objects.count() == 2  # alice and the operator


def test_users_cannot_be_deleted_in_the_admin(admin_client, alice):
    assert admin_client.post(url(User, "delete", alice.pk), {"post": "yes"}).status_code == 403
    assert User.objects.filter(pk=alice.pk).exists()


def test_username_is_read_only_on_the_user_page(admin_client, alice):
    page = admin_client.get(url(User, "change", alice.pk)).content.decode()

    assert 'name="username"' not in page
    assert "alice@example.test" in page


def test_adding_a_domain_in_the_admin_normalises_the_name(admin_client):
    response = admin_client.post(url(Domain, "add"), {"name": "News.Example.COM."})

    assert response.status_code == 302
    assert Domain.objects.filter(name="news.example.com").exists()


def test_adding_an_alias_in_the_admin_uses_the_service(admin_client, alice):
    response = admin_client.post(url(Address, "add"), {"user": alice.pk, "address": "Sales@example.test"})

    assert response.status_code == 302
    alias = Address.objects.get(local_part="sales")
    assert (alias.user, alias.kind) == (alice, Address.Kind.ALIAS)


def test_an_alias_can_be_deleted_but_a_primary_address_cannot(admin_client, alice):
    admin_client.post(url(Address, "add"), {"user": alice.pk, "address": "sales@example.test"})
    alias = Address.objects.get(local_part="sales")
    primary = Address.objects.get(user=alice, kind=Address.Kind.PRIMARY)

    assert admin_client.post(url(Address, "delete", primary.pk), {"post": "yes"}).status_code == 403
    assert admin_client.post(url(Address, "delete", alias.pk), {"post": "yes"}).status_code == 302
    assert list(Address.objects.filter(user=alice)) == [primary]


def test_deleting_a_label_keeps_the_messages(admin_client, bob, mail):
    label = Label.objects.get(user=bob)
    items_before = MailboxItem.objects.count()

    response = admin_client.post(url(Label, "delete", label.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Label.objects.filter(pk=label.pk).exists()
    assert MailboxItem.objects.count() == items_before


def test_message_page_survives_missing_stored_bytes(admin_client, bob):
    (item,) = deliver(raw_email(subject="Lost", to="bob@example.test"), bob)
    mailstore().delete(item.message.blob.storage_key)

    page = admin_client.get(url(Message, "change", item.message_id))
    download = admin_client.get(reverse("admin:mailboxes_message_raw", args=[item.message_id]))

    assert page.status_code == 200
    assert "cannot be read" in page.content.decode()
    assert download.status_code == 404


# --- outbound ------------------------------------------------------------------------


def test_dead_letters_can_be_requeued_from_the_recipient_list(admin_client, alice, bob, settings):
    settings.MAIL_TRANSPORT = {"BACKEND": "tests.support.transports.CrashingTransport"}
    message = send_and_deliver(user=alice, to=["someone@remote.example"], text="x")
    recipient = message.recipients.get()
    assert recipient.status == "failed"
    settings.MAIL_TRANSPORT = {"BACKEND": "delivery.transports.smtp.MXTransport"}

    from mailboxes.models import Recipient

    response = admin_client.post(
        url(Recipient, "changelist"), {"action": "requeue", "_selected_action": [recipient.pk]}, follow=True
    )

    assert response.status_code == 200
    recipient.refresh_from_db()
    assert recipient.status == "queued"
    assert list(recipient.events.values_list("event_type", flat=True)) == ["queued", "failed", "queued"]


def test_suppression_added_in_the_admin_goes_through_the_service(admin_client):
    response = admin_client.post(
        url(Suppression, "add"), {"address": "Someone@Remote.example", "reason": "manual", "detail": "asked us"}
    )

    assert response.status_code == 302
    assert Suppression.objects.get().address == "someone@remote.example"


def test_domain_page_makes_a_dkim_key_and_shows_the_records_to_publish(admin_client, alice):
    domain = Domain.objects.get(name="example.test")
    response = admin_client.post(
        url(Domain, "changelist"), {"action": "make_dkim_keys", "_selected_action": [domain.pk]}, follow=True
    )
    assert response.status_code == 200
    domain.refresh_from_db()
    assert domain.dkim_private_key.startswith("-----BEGIN PRIVATE KEY-----")

    page = admin_client.get(url(Domain, "change", domain.pk)).content.decode()
    assert f"{domain.dkim_selector}._domainkey.example.test." in page
    assert "v=DKIM1; k=rsa; p=" in page
    assert "PRIVATE KEY" not in page
