"""Newsletters as the MX would have placed them, and a loopback image server (tests of HTML display)."""

import itertools
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from inbound.auth.results import AuthenticationResults, DKIMResult, DMARCResult, SPFResult
from inbound.models import InboundMessage
from mailboxes.models import Folder
from tests.factories import deliver

_ids = itertools.count(1)
NEWSLETTER = """<html><head><style>
.header {{ background-color: #ff6600; color: #ffffff; padding: 20px }}
.pixel {{ position: fixed; z-index: 9999 }}
@media only screen and (max-width: 480px) {{ .header {{ padding: 8px !important }} }}
</style></head><body><table width="600" bgcolor="#ffffff"><tr><td class="header">Weekly news</td></tr>
<tr><td><img src="{image}" alt="Hero" width="40" height="20"></td></tr>
<tr><td>Read the whole issue on our site.</td></tr></table></body></html>"""
IMAGE = "https://images.news.example/hero.png"


def newsletter(*, sender: str = "news@news.example", image: str = IMAGE, subject: str = "Weekly news") -> bytes:
    lines = [
        f"From: The News <{sender}>", "To: alice@example.test", f"Subject: {subject}",
        f"Message-ID: <news-{next(_ids)}@news.example>", "Date: Mon, 01 Jun 2026 10:00:00 +0000", "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8", "", NEWSLETTER.format(image=image),
    ]  # fmt: skip
    return "\r\n".join(lines).encode()


def received(user, *, dmarc="pass", folder=Folder.INBOX, sender="news@news.example", **kwargs):
    """A newsletter in ``user``'s mailbox with the authentication results the inbound pipeline records."""
    item = deliver(newsletter(sender=sender, **kwargs), user, folder=folder)[0]
    domain = sender.split("@")[1]
    passed = dmarc == "pass"
    auth = AuthenticationResults(
        spf=SPFResult("pass" if passed else "fail", domain, "mailfrom"),
        helo_spf=SPFResult("none", f"mx.{domain}", "helo"),
        dkim=[DKIMResult("pass" if passed else "fail", domain, "s1")],
        dmarc=DMARCResult(dmarc, domain, "reject", "none" if passed else "reject"),
    ).as_dict()
    InboundMessage.objects.create(
        blob=item.message.blob, mail_from=sender, rcpt_tos=[user.email], auth=auth, message=item.message,
        status=InboundMessage.Status.DELIVERED,
    )  # fmt: skip
    return item


def _png(width: int, height: int, rgb=(255, 102, 0)) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class ImageServer:
    """An HTTP server on loopback that serves one PNG and counts who asked (a "remote" image)."""

    def __init__(self):
        png, hits = _png(40, 20), []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(png)))
                self.end_headers()
                self.wfile.write(png)

            def log_message(self, *args):
                pass

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
