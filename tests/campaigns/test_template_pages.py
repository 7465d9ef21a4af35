"""The template pages through the Django client: list, new, variant, editor, live preview, versions, test send."""

# ruff: noqa: F811 - the personas imported from template_fixtures are pytest fixtures, used as arguments

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from campaigns.models import Template, TemplateVersion
from campaigns.services.templates import create_template, save_template_version
from mailboxes.models import Message
from tests.campaigns.template_fixtures import (  # noqa: F401 - fixtures
    RECEIPT_HTML,
    RECEIPT_VARIABLES,
    alice,
    alice_client,
    bob,
    bob_client,
    mallory,
    mallory_client,
    receipt,
)

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def form_data(**fields) -> dict:
    """The editor's form as a browser posts it: the variables table as parallel columns."""
    variables = fields.pop("variables", RECEIPT_VARIABLES)
    data = {"subject": "Your order {{ order_id }}", "html": RECEIPT_HTML, "text": "", "comment": ""}
    data.update(
        var_name=[v["name"] for v in variables],
        var_type=[v["type"] for v in variables],
        var_required=["yes" if v.get("required") else "no" for v in variables],
        var_default=[_text(v["default"]) if "default" in v else "" for v in variables],
        var_example=[_text(v["example"]) if "example" in v else "" for v in variables],
    )
    data.update(fields)
    return data


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def edit_url(template) -> str:
    return reverse("campaigns:template_edit", args=[template.pk])


# --- who may enter ----------------------------------------------------------------


def test_an_end_user_is_refused_the_template_pages(bob_client, receipt):
    v = receipt.active_version_id
    urls = [
        ("get", reverse("campaigns:templates")),
        ("get", reverse("campaigns:template_new")),
        ("get", edit_url(receipt)),
        ("post", reverse("campaigns:template_preview")),
        ("get", reverse("campaigns:template_version", args=[receipt.pk, v])),
        ("get", reverse("campaigns:template_version_diff", args=[receipt.pk, v])),
        ("post", reverse("campaigns:template_version_activate", args=[receipt.pk, v])),
        ("post", reverse("campaigns:template_test", args=[receipt.pk])),
        ("post", reverse("campaigns:template_delete", args=[receipt.pk])),
    ]
    for method, url in urls:
        assert getattr(bob_client, method)(url).status_code == 403, url


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(reverse("campaigns:templates"))
    assert response.status_code == 302 and "/signin/" in response["Location"]


def test_mallory_gets_404_for_every_id_of_alices_workspace(mallory_client, receipt):
    v = receipt.active_version_id
    urls = [
        ("get", edit_url(receipt)),
        ("post", edit_url(receipt)),
        ("get", reverse("campaigns:template_new") + f"?from={receipt.pk}&locale=zh-hans"),
        ("get", reverse("campaigns:template_version", args=[receipt.pk, v])),
        ("get", reverse("campaigns:template_version_diff", args=[receipt.pk, v])),
        ("post", reverse("campaigns:template_version_activate", args=[receipt.pk, v])),
        ("post", reverse("campaigns:template_test", args=[receipt.pk])),
        ("post", reverse("campaigns:template_delete", args=[receipt.pk])),
    ]
    for method, url in urls:
        data = form_data() if method == "post" else None
        assert getattr(mallory_client, method)(url, data).status_code == 404, url
    assert receipt.versions.count() == 1 and Template.objects.filter(pk=receipt.pk).exists()
    assert not Message.objects.exists()
    listing = mallory_client.get(reverse("campaigns:templates"))
    assert "data-template-key" not in listing.content.decode()


def test_a_version_id_of_another_template_is_404(alice, alice_client, receipt):
    other = create_template(user=alice, key="welcome", stream="transactional", subject="Hi", html="Hi", variables=[])
    url = reverse("campaigns:template_version", args=[receipt.pk, other.active_version_id])
    assert alice_client.get(url).status_code == 404
    diff = reverse("campaigns:template_version_diff", args=[receipt.pk, receipt.active_version_id])
    assert alice_client.get(diff + f"?with={other.active_version_id}").status_code == 404


# --- list ------------------------------------------------------------------------------


def test_the_list_shows_each_key_with_its_languages_stream_and_active_version(alice, alice_client, receipt):
    create_template(
        user=alice, key="order_receipt", locale="zh-hans", stream="transactional",
        subject="订单 {{ order_id }}", html="<p>{{ name }}</p>", variables=RECEIPT_VARIABLES,
    )  # fmt: skip
    create_template(user=alice, key="newsletter", stream="marketing", subject="News", html="<p>News</p>", variables=[])

    page = alice_client.get(reverse("campaigns:templates")).content.decode()

    row = re.search(r'<tr data-template-key="order_receipt">.*?</tr>', page, re.S).group(0)
    assert "default" in row and "zh-hans" in row and "v1" in row and "Transactional" in row
    assert 'data-template-key="newsletter"' in page
    assert page.index('"newsletter"') < page.index('"order_receipt"')


def test_the_filter_box_narrows_the_list_and_answers_htmx_with_the_rows_only(alice, alice_client, receipt):
    create_template(user=alice, key="newsletter", stream="marketing", subject="News", html="<p>News</p>", variables=[])

    response = alice_client.get(reverse("campaigns:templates"), {"q": "news"}, HTTP_HX_TARGET="template-rows", **HTMX)

    body = response.content.decode()
    assert body.lstrip().startswith('<div id="template-rows">')
    assert "newsletter" in body and "order_receipt" not in body
    assert "<html" not in body


def test_the_list_costs_the_same_queries_for_one_template_or_many(alice, alice_client, receipt):
    url = reverse("campaigns:templates")
    alice_client.get(url)  # warm the session and the language
    with CaptureQueriesContext(connection) as one:
        assert alice_client.get(url).status_code == 200
    for n in range(12):
        template = create_template(
            user=alice, key=f"key_{n}", locale="en" if n % 2 else "", stream="transactional",
            subject="S", html="<p>x</p>", variables=[],
        )  # fmt: skip
        save_template_version(user=alice, template_id=template.pk, subject="S2", html="<p>y</p>", text="", variables=[])
    with CaptureQueriesContext(connection) as many:
        assert alice_client.get(url).status_code == 200
    assert len(many) == len(one) <= 8 + 1, [q["sql"] for q in many.captured_queries]  # + 1: the user's preferences
    print(f"template list: {len(one)} queries for 1 template, {len(many)} for 13 keys / 13 variants")


# --- new template, new variant ---------------------------------------------------------------


def test_creating_a_template_makes_version_one_and_opens_the_editor(alice, alice_client):
    data = form_data(key="order_receipt", name="Order receipt", stream="transactional", locale="")
    response = alice_client.post(reverse("campaigns:template_new"), data)

    template = Template.objects.get(key="order_receipt")
    assert response.status_code == 302 and response["Location"] == edit_url(template)
    version = template.active_version
    assert version.number == 1 and version.created_by == alice
    assert version.variables == RECEIPT_VARIABLES  # typed: numbers, lists and booleans survive the form


def test_a_bad_key_is_shown_next_to_the_field_and_nothing_is_created(alice_client):
    response = alice_client.post(reverse("campaigns:template_new"), form_data(key="bad key", stream="transactional"))
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert not Template.objects.exists()


def test_a_template_that_does_not_render_keeps_the_form_and_lists_the_problems(alice_client):
    data = form_data(key="receipt", stream="transactional", html="<p>{{ name }}</p>\n<p>{{ coupon }}</p>")
    response = alice_client.post(reverse("campaigns:template_new"), data)

    body = response.content.decode()
    assert response.status_code == 400
    problems = re.search(r'<ul class="problems" id="problems-html".*?</ul>', body, re.S).group(0)
    assert 'data-variable="coupon"' in problems and "line 2" in problems
    assert "{{ coupon }}" in body  # what was typed is still there
    assert not Template.objects.exists()


def test_a_value_that_does_not_parse_as_its_type_is_a_problem_of_the_variables(alice_client):
    variables = [{"name": "items", "type": "list", "required": True, "example": "[not json"}]
    data = form_data(key="receipt", stream="transactional", html="{{ items }}", variables=variables)
    response = alice_client.post(reverse("campaigns:template_new"), data)
    problems = re.search(r'id="problems-variables".*?</ul>', response.content.decode(), re.S).group(0)
    assert 'data-variable="items"' in problems
    assert not Template.objects.exists()


def test_a_variant_starts_from_the_source_and_keeps_its_key_and_stream(alice, alice_client, receipt):
    url = reverse("campaigns:template_new") + f"?from={receipt.pk}&locale=zh-hans"
    page = alice_client.get(url).content.decode()
    assert "Your order {{ order_id }}" in page and 'value="zh-hans" selected' in page

    data = form_data(key="order_receipt", stream="marketing", locale="zh-hans", subject="您的订单 {{ order_id }}")
    response = alice_client.post(url, data)

    variant = Template.objects.get(key="order_receipt", locale="zh-hans")
    assert response.status_code == 302 and variant.active_version.subject == "您的订单 {{ order_id }}"
    assert variant.stream == "transactional"  # the key's stream: the form's hidden field cannot change it
    editor = alice_client.get(edit_url(variant)).content.decode()
    assert "Add a variant: 简体中文" not in editor and "Add a variant: English (en)" in editor


# --- editor and live preview ------------------------------------------------------------------


def test_the_editor_shows_the_preview_sandboxed_and_a_policy_without_inline_scripts(alice_client, receipt):
    response = alice_client.get(edit_url(receipt))
    body = response.content.decode()

    frame = re.search(r"<iframe [^>]*>", body).group(0)
    assert 'sandbox=""' in frame and "srcdoc=" in frame
    assert "Thank you, Ada!" in frame and "color: #0a7" in frame  # example values, CSS inlined
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "'unsafe-inline'" in policy.split("style-src")[1].split(";")[0]
    assert 'hx-trigger="input changed delay:400ms from:#template-form' in body
    assert "<script>" not in body


def test_saving_makes_version_two_and_an_identical_save_makes_none(alice_client, receipt):
    response = alice_client.post(edit_url(receipt), form_data(subject="Receipt {{ order_id }}", comment="shorter"))
    assert response.status_code == 302
    receipt.refresh_from_db()
    assert receipt.active_version.number == 2 and receipt.active_version.comment == "shorter"

    alice_client.post(edit_url(receipt), form_data(subject="Receipt {{ order_id }}"))
    assert receipt.versions.count() == 2
    page = alice_client.get(edit_url(receipt)).content.decode()
    assert "Nothing changed: version 2 stays active." in page


def test_the_preview_renders_the_unsaved_form_with_the_examples(alice_client):
    response = alice_client.post(reverse("campaigns:template_preview"), form_data(subject="Hi {{ name }}"), **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "Hi Ada" in body and "<li>Tea</li>" in body.replace("&lt;", "<").replace("&gt;", ">")
    assert 'id="problems-html" data-problems="html" hx-swap-oob="true"' in body  # stale problems are cleared


def test_the_preview_lists_problems_next_to_their_fields(alice_client):
    data = form_data(subject="{{ order_id", html="<p>{{ name }}</p>\n\n<p>{{ coupon }}</p>")
    body = alice_client.post(reverse("campaigns:template_preview"), data, **HTMX).content.decode()

    assert "<iframe" not in body
    html_problems = re.search(r'id="problems-html"[^>]*>.*?</ul>', body, re.S).group(0)
    assert 'data-variable="coupon"' in html_problems or "line 1" in body
    subject_problems = re.search(r'id="problems-subject"[^>]*>.*?</ul>', body, re.S).group(0)
    assert "line 1" in subject_problems


def test_the_preview_names_a_missing_variable_and_its_line(alice_client):
    data = form_data(html="<p>{{ name }}</p>\n\n<p>{{ coupon }}</p>")
    body = alice_client.post(reverse("campaigns:template_preview"), data, **HTMX).content.decode()
    html_problems = re.search(r'id="problems-html"[^>]*>.*?</ul>', body, re.S).group(0)
    assert 'data-variable="coupon"' in html_problems and "line 3" in html_problems


def test_a_variable_name_with_a_line_break_is_a_problem_not_a_preview(alice_client):
    variables = [{"name": "na\r\nme", "type": "string", "required": True, "example": "x"}]
    body = alice_client.post(reverse("campaigns:template_preview"), form_data(variables=variables), **HTMX).content
    problems = re.search(r'id="problems-variables"[^>]*>.*?</ul>', body.decode(), re.S).group(0)
    assert "<li" in problems and "<iframe" not in body.decode()


def test_a_script_in_an_example_value_never_reaches_the_page_as_markup(alice_client):
    variables = [{"name": "name", "type": "string", "required": True, "example": "<script>alert(1)</script>"}]
    data = form_data(subject="Hi", html="<p>{{ name }}</p>", variables=variables)
    body = alice_client.post(reverse("campaigns:template_preview"), data, **HTMX).content.decode()
    assert "<script" not in body
    assert "&amp;lt;script&amp;gt;" in body  # escaped by the template, then again inside srcdoc


# --- versions: preview, compare, rollback, test send, delete ---------------------------------------


def test_version_history_compare_and_rollback(alice, alice_client, receipt):
    v1 = receipt.active_version
    alice_client.post(edit_url(receipt), form_data(html=RECEIPT_HTML.replace("Thank you", "Thanks")))
    v2 = TemplateVersion.objects.get(template=receipt, number=2)

    editor = alice_client.get(edit_url(receipt)).content.decode()
    assert re.search(r'<tr data-version="2" class="active-version">', editor)
    assert reverse("campaigns:template_version_diff", args=[receipt.pk, v1.pk]) in editor

    preview = alice_client.get(reverse("campaigns:template_version", args=[receipt.pk, v1.pk])).content.decode()
    assert "Thank you, Ada!" in preview and "Make active" in preview

    diff = alice_client.get(reverse("campaigns:template_version_diff", args=[receipt.pk, v1.pk])).content.decode()
    assert '<span class="diff-removed">− &lt;h1&gt;Thank you, {{ name }}!&lt;/h1&gt;</span>' in diff
    assert '<span class="diff-added">+ &lt;h1&gt;Thanks, {{ name }}!&lt;/h1&gt;</span>' in diff

    response = alice_client.post(reverse("campaigns:template_version_activate", args=[receipt.pk, v1.pk]))
    assert response.status_code == 302
    receipt.refresh_from_db()
    assert receipt.active_version == v1 and receipt.versions.count() == 2
    assert v2.pk in receipt.versions.values_list("pk", flat=True)


def test_send_test_answers_htmx_with_a_toast_naming_the_own_address(alice, alice_client, receipt):
    response = alice_client.post(reverse("campaigns:template_test", args=[receipt.pk]), **HTMX)

    assert response.status_code == 200
    assert json.loads(response["HX-Trigger"]) == {"toast": "Test sent to alice@shop.test"}
    message = Message.objects.get()
    assert message.subject == "[Test] Your order A-1001"
    assert list(message.recipients.values_list("address", flat=True)) == ["alice@shop.test"]


def test_send_test_of_an_older_version_from_its_page(alice, alice_client, receipt):
    v1 = receipt.active_version
    alice_client.post(edit_url(receipt), form_data(subject="Second {{ order_id }}"))
    page = alice_client.get(reverse("campaigns:template_version", args=[receipt.pk, v1.pk])).content.decode()
    assert f'hx-vals=\'{{"version": "{v1.pk}"}}\'' in page

    response = alice_client.post(reverse("campaigns:template_test", args=[receipt.pk]), {"version": v1.pk}, **HTMX)

    assert response.status_code == 200
    assert Message.objects.get().subject == "[Test] Your order A-1001"


def test_send_test_without_htmx_comes_back_to_the_editor_with_a_message(alice_client, receipt):
    response = alice_client.post(reverse("campaigns:template_test", args=[receipt.pk]), follow=True)
    assert response.redirect_chain[-1][0] == edit_url(receipt)
    assert "Test sent to alice@shop.test" in response.content.decode()


def test_deleting_a_template_never_sent(alice_client, receipt):
    response = alice_client.post(reverse("campaigns:template_delete", args=[receipt.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("campaigns:templates")
    assert not Template.objects.exists()


@pytest.fixture
def back_to_english():
    """LocaleMiddleware leaves the request's language active in this thread: later tests must not inherit it."""
    yield
    translation.deactivate()


def test_pages_speak_chinese(alice_client, receipt, back_to_english):
    alice_client.cookies["django_language"] = "zh-hans"
    page = alice_client.get(edit_url(receipt), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "预览" in page and "发送测试邮件给我" in page
