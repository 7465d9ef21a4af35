from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from mailboxes.blobstore import read_blob
from mailboxes.models import Folder, MailboxItem, Message, Upload
from mailboxes.parsing import parse_message
from mailboxes.services.undo import send_due_messages
from mailboxes.services.uploads import create_upload
from tests.factories import deliver, deliver_scanned, raw_email
from tests.inbound.test_risky_attachments import list_post
from tests.inbound.test_virus import pdf_document, pe_executable

pytestmark = pytest.mark.django_db


def _form(**values):
    data = {"to": "", "cc": "", "bcc": "", "subject": "", "body": "", "draft_id": "", "in_reply_to": ""}
    data.update(values)
    return data


def _send(client, **values):
    return client.post(reverse("mailboxes:send"), _form(**values))


def _due_now(item_id):
    MailboxItem.objects.filter(pk=item_id).update(send_at=timezone.now() - timedelta(seconds=1))


def test_compose_page_has_a_csrf_protected_form(alice_client):
    html = alice_client.get(reverse("mailboxes:compose")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in html and 'id="compose-form"' in html


def test_send_waits_for_the_undo_window_then_delivers(alice_client, alice, bob, django_capture_on_commit_callbacks):
    response = _send(alice_client, to="Bob <bob@example.test>", subject="Lunch?", body="At noon.")
    assert response.status_code == 302
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    assert draft.send_at is not None
    assert not MailboxItem.objects.filter(user=bob).exists()

    page = alice_client.get(response["Location"]).content.decode()
    assert "data-undo-toast" in page

    assert alice_client.post(reverse("mailboxes:send_now", args=[draft.pk])).json() == {"sent": False}
    _due_now(draft.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_client.post(reverse("mailboxes:send_now", args=[draft.pk])).json() == {"sent": True}
    draft.refresh_from_db()
    assert draft.folder == Folder.SENT and draft.send_at is None
    received = MailboxItem.objects.get(user=bob)
    assert received.message.subject == "Lunch?" and received.folder == Folder.INBOX
    # Only once, whoever asks next.
    assert alice_client.post(reverse("mailboxes:send_now", args=[draft.pk])).json() == {"sent": False}
    assert send_due_messages() == 0


def test_the_periodic_sweep_sends_what_the_page_did_not(alice_client, alice, bob, django_capture_on_commit_callbacks):
    _send(alice_client, to="bob@example.test", subject="Swept")
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    _due_now(draft.pk)
    with django_capture_on_commit_callbacks(execute=True):
        assert send_due_messages() == 1
    assert MailboxItem.objects.get(user=bob).message.subject == "Swept"


def test_undo_brings_the_message_back_as_a_draft(alice_client, alice, bob):
    _send(alice_client, to="bob@example.test", subject="Oops", body="Wrong person")
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    response = alice_client.post(reverse("mailboxes:undo", args=[draft.pk]))
    assert response.status_code == 302 and f"draft={draft.pk}" in response["Location"]
    draft.refresh_from_db()
    assert draft.send_at is None
    _due_now(draft.pk)
    MailboxItem.objects.filter(pk=draft.pk).update(send_at=None)
    assert send_due_messages() == 0
    assert not MailboxItem.objects.filter(user=bob).exists()
    page = alice_client.get(response["Location"]).content.decode()
    assert "Wrong person" in page and 'value="bob@example.test"' in page


def test_undo_after_sending_is_refused(alice_client, alice, bob):
    _send(alice_client, to="bob@example.test", subject="Gone")
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    _due_now(draft.pk)
    send_due_messages()
    response = alice_client.post(reverse("mailboxes:undo", args=[draft.pk]), follow=True)
    assert "Too late" in response.content.decode()


def test_undo_and_send_now_of_another_users_message(alice_client, mallory_client, alice, bob):
    _send(alice_client, to="bob@example.test", subject="Mine")
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    assert mallory_client.post(reverse("mailboxes:undo", args=[draft.pk])).status_code == 404
    _due_now(draft.pk)
    assert mallory_client.post(reverse("mailboxes:send_now", args=[draft.pk])).json() == {"sent": False}


def test_a_bad_address_is_shown_in_the_form_and_nothing_is_lost(alice_client, alice):
    response = _send(alice_client, to="bob@", subject="Keep me", body="Precious words")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "Precious words" in html and 'value="Keep me"' in html
    assert 'aria-invalid="true"' in html


def test_sending_without_recipients_is_an_error_but_the_draft_is_kept(alice_client, alice):
    response = _send(alice_client, subject="Nobody", body="text")
    assert response.status_code == 400
    assert "at least one recipient" in response.content.decode()
    assert MailboxItem.objects.filter(user=alice, folder=Folder.DRAFTS, send_at__isnull=True).count() == 1


def test_header_injection_in_subject_is_refused(alice_client, alice):
    response = _send(alice_client, to="bob@example.test", subject="Hi\r\nBcc: victim@example.org")
    assert response.status_code == 400


def test_send_needs_csrf(csrf_client, alice):
    assert csrf_client.post(reverse("mailboxes:send"), _form(to="bob@example.test")).status_code == 403


def test_autosave_creates_then_updates_one_draft(alice_client, alice):
    url = reverse("mailboxes:save_draft")
    first = alice_client.post(url, _form(subject="Plans", body="v1"), HTTP_HX_REQUEST="true")
    assert first.status_code == 200 and "Draft saved" in first.content.decode()
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    assert f'value="{draft.pk}"' in first.content.decode()  # the form learns its draft id (out of band)
    alice_client.post(url, _form(subject="Plans", body="v2", draft_id=draft.pk), HTTP_HX_REQUEST="true")
    assert MailboxItem.objects.filter(user=alice, folder=Folder.DRAFTS).count() == 1
    assert parse_message(read_blob(MailboxItem.objects.get(pk=draft.pk).message.blob)).text.strip() == "v2"


def test_autosave_with_a_half_typed_address_says_so(alice_client, alice):
    response = alice_client.post(reverse("mailboxes:save_draft"), _form(to="bo@"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Not saved" in response.content.decode()


def test_save_draft_button_and_resume(alice_client, alice):
    response = alice_client.post(reverse("mailboxes:save_draft"), _form(to="carol@example.test", subject="Later"))
    assert response.status_code == 302
    page = alice_client.get(response["Location"]).content.decode()
    assert 'value="Later"' in page and 'value="carol@example.test"' in page


def test_someone_elses_draft_cannot_be_opened_or_saved(alice_client, mallory_client, alice):
    alice_client.post(reverse("mailboxes:save_draft"), _form(subject="Private"))
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    assert mallory_client.get(reverse("mailboxes:compose"), {"draft": draft.pk}).status_code == 404
    response = mallory_client.post(reverse("mailboxes:save_draft"), _form(subject="Hijack", draft_id=draft.pk))
    assert response.status_code == 404
    assert MailboxItem.objects.get(pk=draft.pk).message.subject == "Private"


def test_discard_removes_the_draft(alice_client, alice):
    alice_client.post(reverse("mailboxes:save_draft"), _form(subject="Bin me"))
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    assert alice_client.post(reverse("mailboxes:discard"), {"draft_id": draft.pk}).status_code == 302
    assert not MailboxItem.objects.filter(pk=draft.pk).exists()


def test_reply_prefills_and_threads(alice_client, alice, bob):
    original = deliver(
        raw_email(subject="Budget", sender="Bob <bob@example.test>", to="alice@example.test",
                  message_id="<budget-1@example.test>", body="Line one\nLine two"),
        alice,
    )[0]  # fmt: skip
    page = alice_client.get(reverse("mailboxes:compose"), {"reply": original.pk}).content.decode()
    assert 'value="Re: Budget"' in page and "&gt; Line one" in page
    assert 'value="&quot;Bob&quot; &lt;bob@example.test&gt;"' in page
    _send(alice_client, to="bob@example.test", subject="Re: Budget", body="OK", in_reply_to=original.pk)
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    _due_now(draft.pk)
    send_due_messages()
    sent = MailboxItem.objects.get(pk=draft.pk)
    assert sent.message.in_reply_to == "budget-1@example.test"
    assert sent.message.references == ["budget-1@example.test"]
    assert sent.thread_id == original.thread_id


def test_reply_all_leaves_out_my_own_address(alice_client, alice):
    original = deliver(
        raw_email(subject="Team", sender="Bob <bob@example.test>",
                  to="alice@example.test, carol@example.test", extra_headers="Cc: dave@remote.example"),
        alice,
    )[0]  # fmt: skip
    page = alice_client.get(reverse("mailboxes:compose"), {"reply_all": original.pk}).content.decode()
    to_value = page.split('id="id_to" name="to" value="')[1].split('"')[0]
    assert "bob@example.test" in to_value and "carol@example.test" in to_value
    assert "alice@example.test" not in to_value
    assert "dave@remote.example" in page.split('id="id_cc" name="cc" value="')[1].split('"')[0]


def test_forward_carries_the_attachments(alice_client, alice):
    raw = (
        b"From: Bob <bob@remote.example>\r\nTo: alice@example.test\r\nSubject: Report\r\n"
        b"Message-ID: <rep-1@remote.example>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nAttached.\r\n'
        b'--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="q3.pdf"\r\n\r\n'
        b"%PDF-1.4 fake\r\n--B--\r\n"
    )
    original = deliver(raw, alice)[0]
    page = alice_client.get(reverse("mailboxes:compose"), {"forward": original.pk}).content.decode()
    assert 'value="Fwd: Report"' in page and "q3.pdf" in page and "Forwarded message" in page
    upload = Upload.objects.get(user=alice, filename="q3.pdf")
    _send(alice_client, to="carol@example.test", subject="Fwd: Report", body="FYI", attachment=[upload.pk])
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    assert [a.filename for a in draft.message.attachments.all()] == ["q3.pdf"]


def test_forward_leaves_out_an_attachment_held_back_by_the_scanner(alice_client, alice):
    raw = list_post(
        ("setup.exe", pe_executable(), "application/x-msdownload"), ("q3.pdf", pdf_document(), "application/pdf")
    )
    original = deliver_scanned(raw, alice)[0]

    page = alice_client.get(reverse("mailboxes:compose"), {"forward": original.pk}).content.decode()

    assert "q3.pdf" in page and "setup.exe" not in page
    assert list(Upload.objects.filter(user=alice).values_list("filename", flat=True)) == ["q3.pdf"]


def test_replying_to_someone_elses_message_is_404(mallory_client, inbox_item):
    assert mallory_client.get(reverse("mailboxes:compose"), {"reply": inbox_item.pk}).status_code == 404
    response = mallory_client.post(
        reverse("mailboxes:send"), _form(to="x@remote.example", subject="s", in_reply_to=inbox_item.pk)
    )
    assert response.status_code == 404


def test_upload_returns_json_and_respects_the_size_limit(alice_client, alice, settings):
    response = alice_client.post(
        reverse("mailboxes:upload"), {"file": SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain")}
    )
    assert response.status_code == 201
    assert response.json()["filename"] == "notes.txt" and response.json()["size"] == 5
    settings.MAIL_MAX_MESSAGE_BYTES = 4
    too_big = alice_client.post(reverse("mailboxes:upload"), {"file": SimpleUploadedFile("big.bin", b"12345")})
    assert too_big.status_code == 413 and "error" in too_big.json()
    assert alice_client.post(reverse("mailboxes:upload"), {}).status_code == 400


def test_someone_elses_upload_cannot_be_attached(mallory_client, alice, mallory):
    upload = create_upload(user=alice, filename="secret.txt", content=b"secret")
    response = mallory_client.post(
        reverse("mailboxes:send"), _form(to="mallory@example.test", subject="steal", attachment=[upload.pk])
    )
    assert response.status_code == 404
    assert not Message.objects.filter(sender=mallory, status=Message.Status.QUEUED).exists()


def test_address_suggestions_come_from_correspondents(alice_client, alice, inbox_item):
    response = alice_client.get(reverse("mailboxes:suggest"), {"q": "carol@example.test, bo"})
    assert response.json()["suggestions"] == [
        {"name": "Bob Builder", "address": "bob@remote.example", "value": '"Bob Builder" <bob@remote.example>'}
    ]


def test_the_delayed_task_does_nothing_before_the_window_ends(
    alice_client, alice, bob, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _send(alice_client, to="bob@example.test", subject="Patience")
    assert len(callbacks) == 1  # the delayed task, run at once here (eager) and finding it not yet due
    assert not MailboxItem.objects.filter(user=bob).exists()


def test_without_an_undo_window_the_task_sends_at_once(
    alice_client, alice, bob, settings, django_capture_on_commit_callbacks
):
    settings.WEBMAIL_UNDO_SECONDS = 0
    with django_capture_on_commit_callbacks(execute=True):
        _send(alice_client, to="bob@example.test", subject="Now")
    assert MailboxItem.objects.get(user=bob).message.subject == "Now"


def test_rich_text_is_sanitised_and_sent_as_an_html_part(alice_client, alice):
    html = (
        '<p>Hi <b>Bob</b></p><script>alert(1)</script><img src="https://t.example/x.gif"><a href="javascript:x">j</a>'
    )
    _send(alice_client, to="bob@example.test", subject="Rich", body="Hi Bob", rich="1", html=html)
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    parsed = parse_message(read_blob(draft.message.blob))
    assert "<b>Bob</b>" in parsed.html
    assert "script" not in parsed.html and "t.example" not in parsed.html and "javascript" not in parsed.html
    assert parsed.text.strip() == "Hi Bob"
    page = alice_client.get(reverse("mailboxes:compose"), {"draft": draft.pk}).content.decode()
    assert "<b>Bob</b>" in page and "data-rich-toggle checked" in page


def test_html_is_ignored_unless_rich_text_is_on(alice_client, alice):
    _send(alice_client, to="bob@example.test", subject="Plain", body="plain", html="<b>x</b>")
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    assert parse_message(read_blob(draft.message.blob)).html == ""


def test_the_undo_toast_follows_the_user_to_other_pages(alice_client, alice, bob):
    _send(alice_client, to="bob@example.test", subject="Pending")
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    page = alice_client.get(reverse("mailboxes:folder", args=["sent"])).content.decode()
    assert f'data-send-now="/mail/outbox/{draft.pk}/send-now/"' in page
    alice_client.post(reverse("mailboxes:undo", args=[draft.pk]))
    assert "data-undo-toast" not in alice_client.get(reverse("mailboxes:inbox")).content.decode()


def test_a_scheduled_draft_that_became_unsendable_stays_a_draft(alice_client, alice):
    _send(alice_client, to="bob@example.test", subject="Soon empty")
    draft = MailboxItem.objects.get(user=alice, folder=Folder.DRAFTS)
    # Edited in another tab meanwhile: no recipient left.
    alice_client.post(reverse("mailboxes:save_draft"), _form(subject="Soon empty", draft_id=draft.pk))
    _due_now(draft.pk)
    assert alice_client.post(reverse("mailboxes:send_now", args=[draft.pk])).json() == {"sent": False}
    draft.refresh_from_db()
    assert draft.folder == Folder.DRAFTS and draft.send_at is None
