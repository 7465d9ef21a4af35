"""A newsletter's <style> blocks survive sanitising, minus anything that fetches, escapes or covers.

Samples in tests/samples/newsletters: templates shaped like Mailchimp's and Substack's, and
one made only of hostile CSS.
"""

from pathlib import Path

import pytest

from mailboxes.sanitize import sanitize_html, sanitize_stylesheet

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "newsletters"


def sample(name: str) -> str:
    return (SAMPLES / f"{name}.html").read_text()


def styles_of(html: str) -> str:
    assert html.startswith("<style>"), html[:80]
    return html[len("<style>") : html.index("</style>")]


def test_a_mailchimp_newsletter_keeps_its_rules_media_queries_tables_and_ids():
    html = sanitize_html(sample("mailchimp"), keep_styles=True).html
    css = styles_of(html)
    assert "#templateHeader { background-color:#1B4F72;" in css
    assert ".mcnButton { background-color:#E67E22; border-radius:3px;" in css
    assert "@media only screen and (max-width: 480px) {" in css and ".mcnImage { width:100% !important }" in css
    assert ".mcnPreviewText { display:none !important }" in css  # hiding a part of the message is fine
    assert 'id="templateHeader"' in html and 'bgcolor="#E67E22"' in html and 'width="564"' in html
    assert 'style="padding: 18px; color: #202020;' in html
    assert html.count("<style>") == 1


def test_a_substack_post_keeps_its_look():
    css = styles_of(sanitize_html(sample("substack"), keep_styles=True).html)
    assert '.post-title { font-family: "SF Pro Display", -apple-system, system-ui, sans-serif; font-size: 32px' in css
    assert "blockquote { border-left: 4px solid #FF6719;" in css
    assert "@media (prefers-color-scheme: dark) { .post-title { color: #eeeeee } }" in css


def test_newsletter_css_loads_nothing_remote():
    for name in ("mailchimp", "substack"):
        clean = sanitize_html(sample(name), keep_styles=True)
        for bad in ("@import", "@font-face", "url(", "fonts.googleapis", "mcusercontent.example", "list-manage"):
            assert bad not in clean.html, (name, bad)
    assert sanitize_html(sample("mailchimp"), keep_styles=True).remote_images_blocked


@pytest.mark.parametrize(
    "bad",
    ["evil.example", "url(", "javascript:", "expression", "behavior", "binding", "position", "fixed", "sticky",
     "z-index", "2147483647", "image(", "image-set", "cursor", "content:", "@import", "@font-face", "@namespace",
     "@keyframes", "<script", "alert", "\\"],
)  # fmt: skip
def test_hostile_css_is_removed(bad):
    assert bad not in sanitize_html(sample("hostile"), keep_styles=True).html


def test_hostile_css_keeps_what_is_harmless():
    css = styles_of(sanitize_html(sample("hostile"), keep_styles=True).html)
    assert ".d { color: navy }" in css
    assert ".f { width: 100%; height: 100%; background-color: #fff }" in css  # an overlay no more: no position


def test_rules_for_the_whole_document_cannot_hide_the_message():
    css = sanitize_stylesheet(
        "body { display: none; background-color: #eee; color: #111 } html { height: 0; overflow: hidden }"
        " * { display: none !important } :root { font-size: 0 } body { font-size: 16px } div * { display: none }"
        " .hidden { display: none }"
    )
    assert css == "body { background-color: #eee; color: #111 }\nbody { font-size: 16px }\n.hidden { display: none }"


@pytest.mark.parametrize(
    "css",
    [
        ".x { background: \\75 rl(https://evil.example/a.png) }",  # an escaped url( is still a url
        ".x { background: u\\72 l('https://evil.example/a.png') }",
        ".x { color: red; background: URL(https://evil.example/a.png) }",
        ".x { width: calc(1px + url(x)) }",
        ".x { background: cross-fade(url(a.png), url(b.png), 50%) }",
        ".x { font-family: 'a\\3c /style\\3e ' }",
        "@media (min-width: url(x)) { .x { color: red } }",
        "@supports (color: red) { .x { background: url(a) } }",
        ".x { font-family: 'unterminated",
    ],
)
def test_css_that_could_fetch_or_break_out_is_dropped(css):
    kept = sanitize_stylesheet(css)
    assert "url" not in kept.lower() and "evil" not in kept and "\\" not in kept and "<" not in kept
    assert "background" not in kept and "cross-fade" not in kept and "unterminated" not in kept


def test_styles_are_kept_only_when_asked():
    dirty = "<style>.a { color: red }</style><p class='a' id='x'>Hi</p>"
    assert sanitize_html(dirty).html == '<p class="a">Hi</p>'
    assert sanitize_html(dirty, keep_styles=True).html == '<style>.a { color: red }</style><p class="a" id="x">Hi</p>'


def test_several_style_blocks_become_one_and_styles_in_dropped_elements_go():
    html = sanitize_html(
        "<style>.a{color:red}</style><p>x</p><style>.b{color:blue}</style><svg><style>.c{color:green}</style></svg>"
        "<noscript><style>.d{color:pink}</style></noscript>",
        keep_styles=True,
    ).html
    assert html == "<style>.a { color:red }\n.b { color:blue }</style><p>x</p>"
