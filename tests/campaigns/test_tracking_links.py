"""Instrumenting a recipient's HTML: signed click redirects, the open pixel, and what is left alone."""

from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import lxml.html
import pytest

from campaigns.tracking import BadTrackingToken, click_url, instrument, open_url, read_click, read_open
from campaigns.unsubscribe import unsubscribe_url

RECIPIENT = SimpleNamespace(pk=48_213)
HTML = (
    "<!DOCTYPE html><html><head><style>@media (max-width: 600px) { p { margin: 0 } }</style></head><body>"
    '<p>Hello Zoë, <a href="https://shop.example/sale?utm_source=news&amp;utm_medium=email#top">the sale</a>'
    ' <a href="http://shop.example/plain">plain</a> <map><area href="https://shop.example/area"></map>'
    ' <a href="mailto:help@shop.example">write to us</a> <a href="#details">details</a>'
    ' <a href="tel:+123">call</a> <a href="{unsubscribe}">unsubscribe</a></p>'
    "</body></html>\n"
)


def message() -> str:
    """The test message, its unsubscribe link on the current base URL (as the renderer makes it)."""
    return HTML.replace("{unsubscribe}", unsubscribe_url("some-token"))


def hrefs(html: str) -> list[str]:
    return [element.get("href") for element in lxml.html.document_fromstring(html).iter("a", "area")]


def pixels(html: str) -> list[str]:
    return [img.get("src") for img in lxml.html.document_fromstring(html).iter("img")]


def test_http_links_become_signed_redirects_that_lead_to_the_link(settings):
    settings.WEBMAIL_BASE_URL = "https://mail.shop.example"

    out = instrument(message(), campaign_recipient=RECIPIENT, opens=False, clicks=True)

    sale, plain, area, *untouched = hrefs(out)
    targets = []
    for position, href in enumerate((sale, plain, area)):
        parts = urlsplit(href)
        assert f"{parts.scheme}://{parts.netloc}" == "https://mail.shop.example"
        assert parts.path.startswith("/t/c/")
        token = parts.path.removeprefix("/t/c/")
        assert len(token) < 150
        [url] = parse_qs(parts.query)["u"]
        click = read_click(token, url)
        assert (click.campaign_recipient_id, click.link) == (RECIPIENT.pk, position)
        targets.append(click.url)
    assert targets == [
        "https://shop.example/sale?utm_source=news&utm_medium=email#top",
        "http://shop.example/plain",
        "https://shop.example/area",
    ]
    assert untouched == ["mailto:help@shop.example", "#details", "tel:+123", unsubscribe_url("some-token")]


def test_the_rest_of_the_message_is_kept(settings):
    out = instrument(message(), campaign_recipient=RECIPIENT, opens=False, clicks=True)

    assert out.startswith("<!DOCTYPE html><html><head><style>@media (max-width: 600px)")
    assert "Hello Zoë, " in out
    assert out.endswith("</html>\n")
    assert pixels(out) == []


def test_a_pixel_is_added_only_when_opens_are_tracked():
    only_opens = instrument(message(), campaign_recipient=RECIPIENT, opens=True, clicks=False)
    both = instrument(message(), campaign_recipient=RECIPIENT, opens=True, clicks=True)
    neither = instrument(message(), campaign_recipient=RECIPIENT, opens=False, clicks=False)

    [src] = pixels(only_opens)
    assert pixels(both) == [src]
    assert read_open(urlsplit(src).path.removeprefix("/t/o/").removesuffix(".gif")) == RECIPIENT.pk
    assert hrefs(only_opens) == hrefs(message())  # links untouched without click tracking
    assert neither == message()


def test_a_document_without_a_doctype_gets_none():
    out = instrument("<html><body><p>Hi</p></body></html>", campaign_recipient=RECIPIENT, opens=True, clicks=True)

    assert out.startswith("<html><body><p>Hi</p><img ")


def test_another_url_under_a_valid_token_is_refused():
    link = urlsplit(click_url(campaign_recipient_id=RECIPIENT.pk, link=0, url="https://shop.example/sale"))
    token = link.path.removeprefix("/t/c/")

    assert read_click(token, "https://shop.example/sale").url == "https://shop.example/sale"
    for url in ("https://evil.example/", "https://shop.example/sale?x", ""):
        with pytest.raises(BadTrackingToken):
            read_click(token, url)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature changed
        lambda token: "W7F" + token[token.index(".") :],  # another recipient
        lambda token: token.replace(".0.", ".1.", 1),  # another link
        lambda token: token.split(".", 1)[1],  # a part missing
        lambda token: "",
    ],
)
def test_a_tampered_click_token_is_refused(tamper):
    link = urlsplit(click_url(campaign_recipient_id=RECIPIENT.pk, link=0, url="https://shop.example/sale"))
    token = link.path.removeprefix("/t/c/")

    with pytest.raises(BadTrackingToken):
        read_click(tamper(token), "https://shop.example/sale")


def test_a_tampered_or_foreign_open_token_is_refused():
    token = urlsplit(open_url(campaign_recipient_id=RECIPIENT.pk)).path.removeprefix("/t/o/").removesuffix(".gif")
    click_token = urlsplit(click_url(campaign_recipient_id=RECIPIENT.pk, link=0, url="https://a.example/"))

    for bad in (token[:-2] + "xx", "W7F" + token[3:], click_token.path.removeprefix("/t/c/"), "nothing"):
        with pytest.raises(BadTrackingToken):
            read_open(bad)
