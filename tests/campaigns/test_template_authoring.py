"""Template authoring services: versions, rollback, refusals, variants, diff, test send, delete, scoping."""

# ruff: noqa: F811 - the personas imported from template_fixtures are pytest fixtures, used as arguments

import pytest

from campaigns import rendering
from campaigns.models import Template, TemplateSend, TemplateVersion
from campaigns.services.templates import (
    activate_template_version,
    create_template,
    delete_template,
    diff_template_versions,
    save_template_version,
    send_template_test,
)
from delivery.services import run_delivery
from mailboxes.blobstore import read_blob
from mailboxes.models import Folder, MailboxItem, Message
from mailboxes.parsing import parse_message
from tests.campaigns.template_fixtures import (  # noqa: F401 - fixtures
    RECEIPT_HTML,
    RECEIPT_VARIABLES,
    alice,
    bob,
    mallory,
    receipt,
)
from webmail.errors import Conflict, NotFound, UserError

pytestmark = pytest.mark.django_db


def save(user, template, **changes):
    """Save the active version's content with ``changes``."""
    active = template.active_version
    fields = {"subject": active.subject, "html": active.html, "text": active.text, "variables": active.variables}
    return save_template_version(user=user, template_id=template.pk, **{**fields, **changes})


def reload(template) -> Template:
    return Template.objects.select_related("active_version").get(pk=template.pk)


# --- versions ------------------------------------------------------------------


def test_a_new_template_starts_at_version_one_active_in_the_workspace(alice, receipt):
    version = receipt.active_version
    assert (version.number, version.created_by, receipt.domain.name) == (1, alice, "shop.test")
    assert receipt.versions.count() == 1


def test_each_save_adds_the_next_numbered_version_and_makes_it_active(alice, receipt):
    v2 = save(alice, receipt, subject="Receipt for {{ order_id }}", comment="shorter subject")
    v3 = save(alice, reload(receipt), html=RECEIPT_HTML + "<p>Bye</p>")

    assert [v2.number, v3.number] == [2, 3]
    assert reload(receipt).active_version == v3
    assert v2.comment == "shorter subject"
    first = TemplateVersion.objects.get(template=receipt, number=1)
    assert first.subject == "Your order {{ order_id }}"  # older versions are left as they were
    assert list(receipt.versions.values_list("number", flat=True)) == [3, 2, 1]


def test_a_save_identical_to_the_active_version_makes_no_version(alice, receipt):
    same = save(alice, receipt)
    assert same == receipt.active_version
    assert receipt.versions.count() == 1


def test_rollback_activates_the_old_version_without_writing_a_new_one(alice, receipt):
    v1 = receipt.active_version
    save(alice, receipt, subject="Receipt {{ order_id }}")

    activate_template_version(user=alice, version_id=v1.pk)

    template = reload(receipt)
    assert template.active_version == v1
    assert template.versions.count() == 2
    # Editing after a rollback continues the numbering, from the active content.
    v3 = save(alice, template, comment="after rollback", html=RECEIPT_HTML + "<hr>")
    assert v3.number == 3 and v3.subject == v1.subject


def test_a_template_that_does_not_render_is_refused_with_every_problem(alice, receipt):
    with pytest.raises(rendering.RenderError) as caught:
        save(alice, receipt, subject="{{ order_id ", html="<p>{% if %}</p>")

    assert {p.part for p in caught.value.problems} == {"subject", "html"}
    assert receipt.versions.count() == 1
    assert reload(receipt).active_version.number == 1  # a broken version never becomes active


def test_an_unknown_variable_is_refused_naming_it_and_its_line(alice, receipt):
    with pytest.raises(rendering.RenderError) as caught:
        save(alice, receipt, html="<p>{{ name }}</p>\n<p>{{ coupon }}</p>")
    [problem] = caught.value.problems
    assert (problem.variable, problem.line, problem.part) == ("coupon", 2, "html")


def test_an_example_of_the_wrong_type_is_refused(alice, receipt):
    variables = [{**RECEIPT_VARIABLES[0]}, {"name": "order_id", "type": "number", "required": True, "example": "x"}]
    with pytest.raises(rendering.RenderError) as caught:
        save(alice, receipt, variables=variables, html="{{ name }} {{ order_id }}")
    assert any(p.variable == "order_id" for p in caught.value.problems)


def test_hostile_template_is_refused_and_nothing_is_saved(alice, receipt):
    with pytest.raises(rendering.RenderError):
        save(alice, receipt, html="{{ ''.__class__.__mro__ }}")
    assert receipt.versions.count() == 1


def test_bad_declarations_are_refused(alice):
    with pytest.raises(rendering.RenderError) as caught:
        create_template(
            user=alice, key="welcome", stream="transactional", subject="Hi", html="<p>Hi</p>",
            variables=[{"name": "not a name\r\n", "type": "string", "required": True, "example": "x"}],
        )  # fmt: skip
    assert caught.value.problems
    assert not Template.objects.exists()


# --- keys, locales and streams ---------------------------------------------------


def test_key_must_be_a_slug(alice):
    with pytest.raises(UserError) as caught:
        create_template(user=alice, key="order receipt!", stream="transactional", subject="x", html="x", variables=[])
    assert caught.value.field == "key"


def test_a_chinese_variant_shares_the_key_and_the_stream(alice, receipt):
    variant = create_template(
        user=alice, key="order_receipt", locale="zh_Hans", stream="transactional",
        subject="您的订单 {{ order_id }}", html="<p>谢谢 {{ name }}</p>", variables=RECEIPT_VARIABLES,
    )  # fmt: skip
    assert variant.locale == "zh-hans"
    assert sorted(Template.objects.filter(key="order_receipt").values_list("locale", flat=True)) == ["", "zh-hans"]


def test_a_variant_with_another_stream_is_refused(alice, receipt):
    with pytest.raises(UserError) as caught:
        create_template(
            user=alice, key="order_receipt", locale="en", stream="marketing", subject="x", html="x", variables=[]
        )
    assert caught.value.field == "stream"
    assert Template.objects.count() == 1


def test_the_same_key_and_locale_twice_is_a_conflict(alice, receipt):
    with pytest.raises(Conflict):
        create_template(user=alice, key="order_receipt", stream="transactional", subject="x", html="x", variables=[])


def test_another_workspace_may_use_the_same_key(mallory, receipt):
    theirs = create_template(user=mallory, key="order_receipt", stream="marketing", subject="x", html="x", variables=[])
    assert theirs.domain.name == "evil.test"


# --- diff ---------------------------------------------------------------------------


def test_diff_shows_the_changed_lines_of_each_part(alice, receipt):
    v1 = receipt.active_version
    variables = [*RECEIPT_VARIABLES[:2], {**RECEIPT_VARIABLES[2], "example": 12}, RECEIPT_VARIABLES[3]]
    html = RECEIPT_HTML.replace("Thank you, {{ name }}!", "Thanks a lot, {{ name }}!")
    v2 = save(alice, receipt, html=html, variables=variables)

    diffs = {d.part: d for d in diff_template_versions(v1, v2)}

    assert not diffs["subject"].changed and not diffs["text"].changed
    html_lines = [(line.kind, line.text) for line in diffs["html"].lines]
    assert ("removed", "<h1>Thank you, {{ name }}!</h1>") in html_lines
    assert ("added", "<h1>Thanks a lot, {{ name }}!</h1>") in html_lines
    assert ("context", '<p>Order {{ order_id }}: <span class="total">{{ amount }}</span></p>') in html_lines
    changed = [(line.kind, line.text) for line in diffs["variables"].lines if line.kind in ("added", "removed")]
    assert [kind for kind, _ in changed] == ["removed", "added"]
    assert '"example": 99.5' in changed[0][1] and '"example": 12' in changed[1][1]


# --- test send -------------------------------------------------------------------------


def test_a_test_send_reaches_only_the_marketers_own_mailbox(alice, bob, receipt, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = send_template_test(user=alice, template_id=receipt.pk)
    run_delivery(message_id=message.pk)

    assert list(message.recipients.values_list("address", flat=True)) == ["alice@shop.test"]
    assert message.stream == Message.Stream.TRANSACTIONAL
    inbox = MailboxItem.objects.get(user=alice, folder=Folder.INBOX)
    parsed = parse_message(read_blob(inbox.message.blob))
    assert parsed.subject == "[Test] Your order A-1001"
    assert "Thank you, Ada!" in parsed.html and "<li>Cups</li>" in parsed.html
    assert "color: #0a7" in parsed.html  # the CSS was inlined, as real sends get it
    assert "A-1001" in parsed.text
    assert not MailboxItem.objects.filter(user=bob).exists()
    assert not TemplateSend.objects.exists()  # a test is not a send of the template


def test_a_test_send_of_an_inactive_version_uses_that_version(alice, receipt):
    v1 = receipt.active_version
    save(alice, receipt, subject="Second subject {{ order_id }}")

    message = send_template_test(
        user=alice, template_id=receipt.pk, version_id=v1.pk, values={**_examples(), "order_id": "Z"}
    )

    assert message.subject == "[Test] Your order Z"
    assert reload(receipt).active_version.number == 2  # sending a test activates nothing


def _examples():
    return rendering.example_values(RECEIPT_VARIABLES)


# --- delete ------------------------------------------------------------------------------


def test_a_template_never_sent_can_be_deleted_with_its_versions(alice, receipt):
    save(alice, receipt, subject="v2 {{ order_id }}")
    delete_template(user=alice, template_id=receipt.pk)
    assert not Template.objects.exists() and not TemplateVersion.objects.exists()


def test_a_template_with_sends_is_kept(alice, receipt):
    message = send_template_test(user=alice, template_id=receipt.pk)
    TemplateSend.objects.create(message=message, version=receipt.active_version, variables=_examples())

    with pytest.raises(Conflict):
        delete_template(user=alice, template_id=receipt.pk)
    assert Template.objects.filter(pk=receipt.pk).exists()


# --- ownership -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda user, t: save_template_version(
            user=user, template_id=t.pk, subject="x", html="x", text="", variables=[]
        ),
        lambda user, t: activate_template_version(user=user, version_id=t.active_version_id),
        lambda user, t: send_template_test(user=user, template_id=t.pk),
        lambda user, t: send_template_test(user=user, template_id=t.pk, version_id=t.active_version_id),
        lambda user, t: delete_template(user=user, template_id=t.pk),
    ],
    ids=["save", "activate", "test-send", "test-send-version", "delete"],
)
def test_mallory_finds_nothing_of_alices_workspace(mallory, receipt, call):
    with pytest.raises(NotFound):
        call(mallory, receipt)
    template = reload(receipt)
    assert template.versions.count() == 1 and template.active_version.number == 1
    assert not Message.objects.exists()


def test_a_version_of_another_template_is_not_found_for_a_test_send(alice, receipt):
    other = create_template(user=alice, key="welcome", stream="transactional", subject="Hi", html="Hi", variables=[])
    with pytest.raises(NotFound):
        send_template_test(user=alice, template_id=receipt.pk, version_id=other.active_version_id)
