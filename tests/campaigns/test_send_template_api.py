"""POST /api/emails/send-template and its batch form, end to end: through delivery to a loopback SMTP server."""

from email import message_from_bytes, policy

import dkim
import pytest

from accounts.dkim import dns_records
from accounts.services import ensure_dkim_key
from campaigns.models import TemplateSend
from campaigns.services.sending import rerender, send_template
from core.dns import get_resolver
from delivery.models import Suppression
from delivery.services import run_delivery, suppress_address
from mailboxes.models import MailboxItem, Message
from tests.api.conftest import assert_error, client_for
from tests.campaigns.template_factories import add_version, make_template
from tests.factories import UserFactory

URL = "/api/emails/send-template"
BATCH_URL = "/api/emails/send-template/batch"
VALUES = {"orderId": "12345", "amount": 99, "items": [{"name": "Tea <b>green</b>", "qty": 2}], "shipped": "2026-12-01"}


@pytest.fixture
def mallory(db):
    """Hostile, and of another workspace (domain): alice's templates must not exist for her."""
    return UserFactory(address="mallory@evil.test", display_name="Mallory")


def json_client(user):
    client = client_for(user)
    client.default_format = "json"
    return client


@pytest.fixture
def api(alice):
    return json_client(alice)


@pytest.fixture
def receipt(alice):
    return make_template()


@pytest.fixture
def signed_remote(remote_domain, dns_server):
    """example.test signs with DKIM and publishes its key on the loopback DNS server."""
    domain, _ = ensure_dkim_key(domain_name="example.test")
    for record in dns_records(domain):
        if "_domainkey" in record:
            dns_server.resolver.add(record.replace("\t", " "))
    return remote_domain


def _dnsfunc(name, timeout=5):
    answer = get_resolver().resolve(name.decode().rstrip("."), "TXT")
    return b"".join(b"".join(r.strings) for r in answer)


def _parts(raw: bytes) -> tuple[str, str, str]:
    """Subject, HTML and text of delivered bytes; text parts travel with CRLF line ends (RFC 5322), read as LF."""
    parsed = message_from_bytes(raw, policy=policy.default)
    text = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = parsed.get_body(("html",)).get_content().replace("\r\n", "\n")
    return str(parsed["Subject"]), html, text


def test_a_sent_template_is_delivered_dkim_signed_and_re_renders_to_the_same_parts(
    api, receipt, signed_remote, smtp_server
):
    response = api.post(URL, {"templateId": "order_receipt", "to": ["bob@remote.example"], "variables": VALUES})

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["templateVersion"] == 1
    message = Message.objects.get(pk=body["id"])
    assert message.stream == Message.Stream.TRANSACTIONAL
    run_delivery()
    [received] = smtp_server.messages
    assert dkim.verify(received.content, dnsfunc=_dnsfunc)
    subject, html, text = _parts(received.content)
    assert subject == "Receipt 12345"
    assert 'style="color: #123456;"' in html  # CSS inlined
    assert "@media (max-width: 600px)" in html  # kept in a <style> for phones
    assert "Tea &lt;b&gt;green&lt;/b&gt;" in html  # a variable's HTML is escaped
    assert "01 Dec 2026" in html and "99.00" in html
    assert "Tea <b>green</b>" in text  # the text part, generated from the HTML, is not HTML
    # A new active version later does not change what the sent message re-renders to.
    add_version(receipt, subject="New {{ orderId }}", html="<p>new</p>")
    send = TemplateSend.objects.get(message=message)
    assert send.version.number == 1
    assert send.variables["customer"] == {"name": "customer"}  # stored after defaults
    again = rerender(send)
    assert (again.subject, again.html, again.text) == (subject, html, text)


def test_template_sends_keep_no_sent_copy(api, receipt, alice):
    response = api.post(URL, {"templateId": "order_receipt", "to": ["bob@remote.example"], "variables": VALUES})

    assert response.status_code == 202
    assert not MailboxItem.objects.filter(user=alice).exists()


def test_every_problem_is_answered_at_once(api, receipt):
    suppress_address(address="gone@remote.example", reason=Suppression.Reason.HARD_BOUNCE)

    response = api.post(
        URL,
        {
            "templateId": "order_receipt",
            "to": ["gone@remote.example", "not an address"],
            "cc": ["fine@remote.example"],
            "from": "someone-else@example.test",
            "variables": {"amount": "ninety", "shipped": "yesterday"},
        },
    )

    error = assert_error(response, 400, "invalid")
    details = error["details"]
    assert set(details) == {"to", "from", "variables.orderId", "variables.amount", "variables.shipped"}
    assert any("suppressed recipient" in m for m in details["to"])
    assert any("is not an email address" in m for m in details["to"])
    assert details["variables.orderId"] == ['Variable "orderId" is required.']
    assert details["variables.amount"] == ['Variable "amount" must be a number.']
    assert not Message.objects.exists()


def test_an_unknown_template_is_a_400_naming_it(api, receipt):
    error = assert_error(api.post(URL, {"templateId": "nope", "to": ["bob@remote.example"]}), 400, "invalid")

    assert error["details"] == {"templateId": ['There is no template "nope".']}


def test_mallory_cannot_send_another_workspaces_template(mallory, receipt):
    response = json_client(mallory).post(
        URL, {"templateId": "order_receipt", "to": ["bob@remote.example"], "variables": VALUES}
    )

    error = assert_error(response, 400, "invalid", field="templateId")
    assert error["details"]["templateId"] == ['There is no template "order_receipt".']  # as if it did not exist
    assert not Message.objects.exists()


def test_mallory_cannot_send_another_workspaces_template_in_a_batch(mallory, receipt):
    response = json_client(mallory).post(
        BATCH_URL, {"templateId": "order_receipt", "personalizations": [{"to": ["x@remote.example"]}]}
    )

    assert_error(response, 400, "invalid", field="templateId")


def test_a_retry_with_the_same_idempotency_key_sends_nothing_twice(api, receipt):
    request = {"templateId": "order_receipt", "to": ["bob@remote.example"], "variables": VALUES}

    first = api.post(URL, request, HTTP_IDEMPOTENCY_KEY="order-12345")
    add_version(receipt, subject="v2", html="<p>v2 {{ orderId }}</p>")  # a retry answers as the first time
    second = api.post(URL, request, HTTP_IDEMPOTENCY_KEY="order-12345")

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert Message.objects.count() == 1
    other = api.post(URL, {**request, "to": ["eve@remote.example"]}, HTTP_IDEMPOTENCY_KEY="order-12345")
    assert_error(other, 422, "idempotency_key_reused")


def test_a_batch_sends_one_message_per_personalization_with_its_own_variables(api, receipt, signed_remote, smtp_server):
    people = [{"to": [f"p{n}@remote.example"], "variables": {**VALUES, "orderId": f"order-{n}"}} for n in range(3)]

    response = api.post(BATCH_URL, {"templateId": "order_receipt", "personalizations": people})

    assert response.status_code == 202, response.content
    ids = [m["id"] for m in response.json()["messages"]]
    assert len(set(ids)) == 3
    run_delivery()
    delivered = {m.rcpt_tos[0]: m.content for m in smtp_server.messages}
    assert set(delivered) == {"p0@remote.example", "p1@remote.example", "p2@remote.example"}
    for n in range(3):
        raw = delivered[f"p{n}@remote.example"]
        assert dkim.verify(raw, dnsfunc=_dnsfunc)
        subject, html, text = _parts(raw)
        assert subject == f"Receipt order-{n}"
        assert str(message_from_bytes(raw, policy=policy.default)["To"]) == f"p{n}@remote.example"
        again = rerender(TemplateSend.objects.get(message_id=ids[n]))
        assert (again.subject, again.html, again.text) == (subject, html, text)


def test_a_batch_reports_every_personalizations_problems_by_index(api, receipt):
    people = [
        {"to": ["ok@remote.example"], "variables": VALUES},
        {"to": ["bad address"], "variables": {**VALUES, "amount": "x"}},
        {"to": [], "variables": {"amount": 1}},
    ]

    error = assert_error(api.post(BATCH_URL, {"templateId": "order_receipt", "personalizations": people}), 400)

    assert set(error["details"]) == {
        "personalizations.1.to",
        "personalizations.1.variables.amount",
        "personalizations.2.to",
        "personalizations.2.variables.orderId",
    }
    assert not Message.objects.exists()


def test_a_batch_retry_with_the_same_idempotency_key_sends_nothing_twice(api, receipt):
    people = [{"to": [f"p{n}@remote.example"], "variables": VALUES} for n in range(3)]
    request = {"templateId": "order_receipt", "personalizations": people}

    first = api.post(BATCH_URL, request, HTTP_IDEMPOTENCY_KEY="batch-1")
    second = api.post(BATCH_URL, request, HTTP_IDEMPOTENCY_KEY="batch-1")

    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert Message.objects.count() == 3


def test_a_batch_over_1000_recipients_is_refused(api, receipt):
    people = [{"to": [f"p{n}@remote.example", f"q{n}@remote.example"], "variables": VALUES} for n in range(501)]

    error = assert_error(api.post(BATCH_URL, {"templateId": "order_receipt", "personalizations": people}), 400)

    assert "personalizations" in error["details"]


@pytest.mark.parametrize(
    ("asked", "picked"),
    [("zh-hans", "zh-hans"), ("zh-Hans", "zh-hans"), ("zh-tw", "zh"), ("zh", "zh"), ("fr", ""), ("", "")],
)
def test_the_variant_is_the_exact_locale_then_its_language_then_the_default(alice, asked, picked):
    for locale in ("", "zh", "zh-hans"):
        make_template(locale=locale, subject=f"[{locale}] {{{{ orderId }}}}")

    message = send_template(
        user=alice, template_key="order_receipt", variables=VALUES, to=["bob@remote.example"], locale=asked
    )

    assert message.subject == f"[{picked}] 12345"
    assert message.template_send.locale == asked
    assert message.template_send.version.template.locale == picked


def test_the_message_admin_page_shows_the_pinned_version_and_variables(api, receipt, admin_client):
    body = api.post(URL, {"templateId": "order_receipt", "to": ["bob@remote.example"], "variables": VALUES}).json()

    page = admin_client.get(f"/admin/mailboxes/message/{body['id']}/change/")

    assert page.status_code == 200
    content = page.content.decode()
    assert "order_receipt" in content
    assert "version 1" in content
    assert "12345" in content


def test_attachments_are_uploads_as_for_a_plain_send_and_only_the_senders_own(api, receipt, alice, bob):
    from mailboxes.services.uploads import create_upload

    mine = create_upload(
        user=alice, filename="invoice.pdf", content=b"%PDF-1.4 invoice", content_type="application/pdf"
    )
    theirs = create_upload(user=bob, filename="x.pdf", content=b"%PDF-1.4 x", content_type="application/pdf")
    request = {"templateId": "order_receipt", "to": ["bob@remote.example"], "variables": VALUES}

    response = api.post(URL, {**request, "attachments": [mine.pk]})

    assert response.status_code == 202, response.content
    [attachment] = Message.objects.get(pk=response.json()["id"]).attachments.all()
    assert attachment.filename == "invoice.pdf"
    refused = api.post(URL, {**request, "attachments": [theirs.pk]})
    assert refused.status_code in (400, 404)
    assert Message.objects.count() == 1


def test_a_batch_message_hides_its_bcc_and_names_its_cc(api, receipt, signed_remote, smtp_server):
    person = {"to": ["Zoë Ä <to@remote.example>"], "cc": ["cc@remote.example"], "bcc": ["hidden@remote.example"]}

    response = api.post(
        BATCH_URL,
        {"templateId": "order_receipt", "personalizations": [{**person, "variables": {**VALUES, "orderId": "订单 1"}}]},
    )

    assert response.status_code == 202, response.content
    run_delivery()
    delivered = {m.rcpt_tos[0]: m.content for m in smtp_server.messages}
    assert set(delivered) == {"to@remote.example", "cc@remote.example", "hidden@remote.example"}
    for raw in delivered.values():
        assert b"hidden@" not in raw
        assert dkim.verify(raw, dnsfunc=_dnsfunc)
        parsed = message_from_bytes(raw, policy=policy.default)
        assert parsed["To"].addresses[0].display_name == "Zoë Ä"
        assert str(parsed["Cc"]) == "cc@remote.example"
        assert str(parsed["Subject"]) == "Receipt 订单 1"
        assert "订单 1" in parsed.get_body(("plain",)).get_content()
