#!/usr/bin/env python
"""Tracking benchmark: what ``campaigns.tracking.instrument`` costs per message.

    python bench/tracking.py                    # 2,000 messages of a 20-link newsletter
    python bench/tracking.py --messages 10000 --links 40

A newsletter (a header, ``--links`` product blocks with a link, an image and
a paragraph each, a footer with mailto:, an anchor and the unsubscribe link)
is rendered by ``campaigns.rendering.render`` for ``--messages`` recipients
(own names, so each HTML differs, as in a campaign); then each HTML is
instrumented with clicks and opens, clicks only, opens only. Prints messages
per CPU-second (``time.process_time``: what one core does) and microseconds
per message for each, beside the cost of only scanning the same HTML with
Python's own ``html.parser`` (the parser that would keep the bytes exactly).
The campaign target is 1,000 messages a second on 2 cores: 2 ms of CPU per
message for everything (render, instrument, DKIM, SMTP).

A benchmark, not a test: it asserts nothing about time. No database is used.
"""

import argparse
import os
import secrets
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSS = (
    "body { font-family: Arial, sans-serif; color: #222; } .block { padding: 12px; border-bottom: 1px solid #eee; }"
    " .block a { color: #0a5; font-weight: bold; } .footer { font-size: 12px; color: #888; }"
    " @media (max-width: 600px) { .block { padding: 6px; } }"
)
HTML = (
    "<!doctype html><html><head><style>" + CSS + "</style></head><body><h1>Summer sale, {{ first }}!</h1>"
    "{% for n in range(links) %}<div class='block'><img src='https://cdn.shop.example/p/{{ n }}.jpg' alt=''>"
    "<a href='https://shop.example/products/{{ n }}?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=sale'>"
    "Product {{ n }}</a><p>A fine thing for the summer, {{ first }}: light, cheap and in stock today.</p></div>"
    "{% endfor %}<p class='footer'><a href='mailto:help@shop.example'>Write to us</a> · <a href='#top'>Top</a> ·"
    " <a href='{{ unsubscribe }}'>Unsubscribe</a></p></body></html>"
)


class _Scan(HTMLParser):
    def handle_starttag(self, tag, attrs):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--links", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_tracking_") as tmp:
        os.environ.update(
            DJANGO_SETTINGS_MODULE="webmail.settings", VAR_DIR=str(Path(tmp) / "var"), DEBUG="false",
            SECRET_KEY=secrets.token_urlsafe(50), WEBMAIL_BASE_URL="https://mail.shop.example",
        )  # fmt: skip
        os.environ.pop("CELERY_BROKER_URL", None)
        import django

        django.setup()
        run(args)


def run(args):
    from campaigns.rendering import render
    from campaigns.tracking import instrument
    from campaigns.unsubscribe import make_token, unsubscribe_url

    variables = [{"name": "first", "type": "string"}, {"name": "links", "type": "number"},
                 {"name": "unsubscribe", "type": "string"}]  # fmt: skip
    pages = [
        render(subject="Sale", html=HTML, text="Sale", variables=variables, values={
            "first": f"Reader {n}", "links": args.links,
            "unsubscribe": unsubscribe_url(make_token(domain_id=1, address=f"r{n}@example.com", recipient_id=n)),
        }).html
        for n in range(min(args.messages, 200))
    ]  # fmt: skip
    htmls = [pages[n % len(pages)] for n in range(args.messages)]
    print(f"{args.messages} messages of {len(htmls[0]):,} characters with {args.links} product links")
    cases = {
        "clicks and opens": {"opens": True, "clicks": True},
        "clicks only": {"opens": False, "clicks": True},
        "opens only": {"opens": True, "clicks": False},
    }
    for name, flags in cases.items():
        cpu = time.process_time()
        for n, html in enumerate(htmls):
            instrument(html, campaign_recipient=SimpleNamespace(pk=1_000_000 + n), **flags)
        report(name, args.messages, time.process_time() - cpu)
    cpu = time.process_time()
    for html in htmls:
        scan = _Scan()
        scan.feed(html)
        scan.close()
    report("html.parser scan only (for comparison)", args.messages, time.process_time() - cpu)


def report(name: str, count: int, cpu: float) -> None:
    print(f"  {name:42} {count / cpu:8,.0f} msg per CPU-second  {cpu / count * 1e6:7,.0f} µs per message")


if __name__ == "__main__":
    main()
