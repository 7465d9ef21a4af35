"""Risky attachments through the real MX and the pipeline: only known-bad mail is quarantined.

A script in a list post is delivered (at most flagged), a program is held back
on its own with the rest of the message delivered, a disguised one still
quarantines the message.
"""

import smtplib
from email.message import EmailMessage

import pytest

from inbound.models import InboundMessage
from mailboxes.models import Attachment, Folder, MailboxItem
from tests.inbound.test_virus import pdf_document, pe_executable

pytestmark = pytest.mark.django_db(transaction=True)

FIX_PARSER = b'#!/usr/bin/env python3\n"""Reproduces the parser bug."""\nimport sys\n\nprint(sys.argv)\n'
PATCH = b"diff --git a/parser.py b/parser.py\n--- a/parser.py\n+++ b/parser.py\n@@ -1 +1 @@\n-old\n+new\n"


def list_post(*attachments: tuple[str, bytes, str], subject="[dev] Parser crash on empty input") -> bytes:
    """A mailing-list post as Mailman hands it over: list headers, a text body, files attached."""
    message = EmailMessage()
    message["From"] = "Ann Coder <ann@contrib.example>"
    message["To"] = "dev@lists.example"
    message["Subject"] = subject
    message["Date"] = "Mon, 30 Nov 2026 09:00:00 +0000"
    message["Message-ID"] = "<post-1@contrib.example>"
    message["List-Id"] = "Developers <dev.lists.example>"
    message["List-Post"] = "<mailto:dev@lists.example>"
    message.set_content("The script below reproduces it; the patch fixes it.")
    for filename, content, content_type in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def send(mx_server, raw: bytes) -> InboundMessage:
    client = smtplib.SMTP(*mx_server, timeout=60)
    client.ehlo("mail.lists.example")
    client.sendmail("dev-bounces@lists.example", ["alice@example.test"], raw)
    client.quit()
    return InboundMessage.objects.get()


def attachments_of(user) -> dict[str, tuple[str, str]]:
    item = MailboxItem.objects.get(user=user)
    return {a.filename: (a.scan_status, a.scan_reason) for a in item.message.attachments.all()}


def test_a_list_post_with_a_python_script_attached_is_delivered_with_a_gentle_warning(mx_server, alice):
    job = send(
        mx_server,
        list_post(
            ("repro.py", FIX_PARSER, "text/x-python"),
            ("0001-parser-empty-input.patch", PATCH, "text/x-diff"),
            ("example.py", b"def main():\n    return 1\n", "text/x-python"),
        ),
    )

    assert job.status == InboundMessage.Status.DELIVERED
    assert MailboxItem.objects.get(user=alice).folder == Folder.INBOX
    assert attachments_of(alice) == {
        "repro.py": ("warning", "script"),
        "0001-parser-empty-input.patch": ("clean", ""),
        "example.py": ("clean", ""),
    }


def test_a_program_is_held_back_alone_and_the_message_delivered(mx_server, alice):
    job = send(
        mx_server,
        list_post(
            ("setup.exe", pe_executable(), "application/x-msdownload"), ("notes.pdf", pdf_document(), "application/pdf")
        ),
    )

    assert job.status == InboundMessage.Status.DELIVERED
    assert not job.virus_verdict["infected"]
    assert attachments_of(alice) == {"setup.exe": ("blocked", "program"), "notes.pdf": ("clean", "")}
    assert Attachment.objects.get(filename="setup.exe").is_available is False


def test_a_program_disguised_as_a_pdf_still_quarantines_the_message(mx_server, alice):
    job = send(mx_server, list_post(("invoice.pdf", pe_executable(), "application/pdf")))

    assert job.status == InboundMessage.Status.QUARANTINED
    assert job.virus_verdict["names"] == ["Exe.PE.Attachment"]
    assert not MailboxItem.objects.filter(user=alice).exists()
