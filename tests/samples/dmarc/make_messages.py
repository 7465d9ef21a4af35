"""Builds the report mails (*.eml) from the XML files beside them, as each reporter packs and labels them.

Run from the repository root: ``python tests/samples/dmarc/make_messages.py``. The output is deterministic
(fixed boundaries, zip and gzip timestamps), so the committed .eml files only change when this does.
"""

import gzip
import io
import zipfile
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

HERE = Path(__file__).parent
GOOGLE = "google.com!example.org!1772409600!1772495999"
MICROSOFT = "enterprise.protection.outlook.com!example.org!1772409600!1772496000"
YAHOO = "yahoo.com!example.org!1772409600!1772495999"
MAILHOST = "reports.mailhost.example!example.org!1772409600!1772495999"


def zipped(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(f"{name}.xml", date_time=(2026, 3, 3, 4, 12, 40))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, (HERE / f"{name}.xml").read_bytes())
    return buffer.getvalue()


def gzipped(name: str) -> bytes:
    return gzip.compress((HERE / f"{name}.xml").read_bytes(), mtime=0)


def report_mail(sender, subject, message_id, date, body, attachment, filename, content_type, boundary) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "dmarc-reports@example.org"
    message["Subject"] = subject
    message["Message-ID"] = message_id
    message["Date"] = date
    message.set_content(body)
    maintype, subtype = content_type.split("/")
    if maintype == "text":  # the email package takes text as str, and would send it as it is: base64 as reporters do
        message.add_attachment(attachment.decode(), subtype=subtype, filename=filename, cte="base64")
    else:
        message.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    message.set_boundary(boundary)
    return message.as_bytes(policy=SMTP)


def samples() -> dict[str, bytes]:
    return {
        "google_zip.eml": report_mail(
            "noreply-dmarc-support@google.com",
            "Report domain: example.org Submitter: google.com Report-ID: 14210917750388264921",
            "<14210917750388264921@google.com>",
            "Tue, 03 Mar 2026 04:12:41 -0800",
            "This is an aggregate report from google.com.\n",
            zipped(GOOGLE), f"{GOOGLE}.zip", "application/zip", "000000000000d1b2c3e40a6e5f11",
        ),
        "microsoft_gzip.eml": report_mail(
            "DMARC Aggregate Report <dmarcreport@microsoft.com>",
            "Report Domain: example.org Submitter: enterprise.protection.outlook.com "
            "Report-ID: 9f2c61a04b7e4d0c8d1f3b5a6e7c8d90",
            "<DM6PR11MB4595.namprd11.prod.outlook.com@microsoft.com>",
            "Tue, 3 Mar 2026 13:05:22 +0000",
            "This is a DMARC aggregate report from Microsoft Corporation. For Emails received between "
            "2026-03-02 00:00:00 UTC to 2026-03-03 00:00:00 UTC.\n",
            gzipped(MICROSOFT), f"{MICROSOFT}.xml.gz", "application/gzip", "_000_DM6PR11MB4595namprd11prod_",
        ),
        "yahoo_octet_stream.eml": report_mail(
            "Yahoo DMARC Report <dmarchelp@yahooinc.com>",
            "Report Domain: example.org Submitter: Yahoo Report-ID: <1772496423.571044>",
            "<1772496423.571044@dmarc.yahoo.com>",
            "Tue, 3 Mar 2026 00:07:03 +0000",
            "\n",
            gzipped(YAHOO), f"{YAHOO}.xml.gz", "application/octet-stream",
            "----=_Part_1462207_1110417405.1772496423571",
        ),
        "dmarcbis_plain_xml.eml": report_mail(
            "DMARC reports <dmarc-noreply@reports.mailhost.example>",
            "Report Domain: example.org Submitter: reports.mailhost.example Report-ID: example.org-1772409600-3",
            "<example.org-1772409600-3@reports.mailhost.example>",
            "Tue, 3 Mar 2026 01:00:00 +0100",
            "Aggregate DMARC report (draft-ietf-dmarc-aggregate-reporting) attached.\n",
            (HERE / f"{MAILHOST}.xml").read_bytes(), f"{MAILHOST}.xml", "text/xml", "=_report_3",
        ),
    }  # fmt: skip


if __name__ == "__main__":
    for name, data in samples().items():
        (HERE / name).write_bytes(data)
        print(name, len(data))
