import pytest

from mailboxes.sanitize import sanitize_html


@pytest.mark.parametrize(
    "dirty",
    [
        "<script>alert(1)</script>",
        '<img src="x" onerror="alert(1)">',
        '<a href="javascript:alert(1)">x</a>',
        '<a href="data:text/html,<script>alert(1)</script>">x</a>',
        '<iframe src="https://evil.example"></iframe>',
        '<form action="https://evil.example"><input name="password"></form>',
        "<svg><script>alert(1)</script></svg>",
        '<p style="background:url(javascript:alert(1))">x</p>',
        "<style>body{display:none}</style>",
        '<object data="x.swf"></object>',
        '<base href="https://evil.example/"><meta http-equiv="refresh" content="0;url=https://evil.example/">',
        "<script>alert(1)",  # never closed
        "<xml><script>alert(1)</script></xml><math><mi>alert(1)</mi></math>",
    ],
)
def test_active_content_is_removed(dirty):
    clean = sanitize_html(dirty).html.lower()
    for bad in ("<script", "onerror", "javascript:", "<iframe", "<form", "<input", "<svg", "<style", "<object",
                "<base", "<meta", "evil.example"):  # fmt: skip
        assert bad not in clean
    assert "alert(1)" not in clean


def test_script_and_style_text_does_not_leak_into_the_page():
    clean = sanitize_html("<style>p { color: red }</style><p>Hello</p><script>var x = 1;</script>")
    assert clean.html == "<p>Hello</p>"


def test_formatting_links_and_safe_styles_stay():
    clean = sanitize_html(
        '<p style="color: red; position: fixed"><b>Hi</b> <a href="https://example.org">site</a></p>'
    ).html
    assert '<a href="https://example.org" target="_blank" rel="noopener noreferrer nofollow">site</a>' in clean
    assert "<b>Hi</b>" in clean
    assert "color: red" in clean and "position" not in clean


def test_remote_images_are_removed_unless_allowed_and_say_so():
    html = '<img src="https://tracker.example/p.gif" alt="logo"><img src="//tracker.example/q.gif">'
    blocked = sanitize_html(html)
    assert "tracker.example" not in blocked.html
    assert '<img alt="logo">' in blocked.html
    assert blocked.remote_images_blocked
    shown = sanitize_html(html, allow_remote_images=True)
    assert 'src="https://tracker.example/p.gif"' in shown.html and 'src="//tracker.example/q.gif"' in shown.html
    assert not shown.remote_images_blocked
    assert not sanitize_html("<p>No images</p>").remote_images_blocked


def test_cid_images_point_at_the_url_given_for_their_part_or_go():
    html = '<img src="cid:logo%40mail.example"><img src="cid:unknown">'
    urls = {"logo@mail.example": "/attachments/signed?x=1&y=2"}
    assert sanitize_html(html, cid_url=urls.get).html == '<img src="/attachments/signed?x=1&amp;y=2"><img>'
    assert sanitize_html(html).html == "<img><img>"


@pytest.mark.parametrize(
    "src", ["data:image/png;base64,iVBORw0KGgo=", "/relative.png", "javascript:alert(1)", "file:///etc/passwd"]
)
def test_images_from_anywhere_else_are_dropped(src):
    safe = sanitize_html(f'<img src="{src}" alt="x">', allow_remote_images=True)
    assert safe.html == '<img alt="x">'


def test_a_message_cannot_smuggle_its_own_data_remote_src():
    assert "data-remote-src" not in sanitize_html('<img data-remote-src="https://x.example/a.gif">').html


@pytest.mark.parametrize(
    "declaration",
    [
        "background-image: url('https://tracker.example/css.png')",
        "background-color: red; background: url(https://tracker.example/a.png)",
        "list-style-type: image-set('https://tracker.example/a.png' 1x)",
        "width: expression(alert(1))",
        "color: r\\65 d; border: 1px solid u\\72 l(https://tracker.example/b.png)",
        "cursor: url(https://tracker.example/c.cur), auto",
        "position: fixed; top: 0",
    ],
)
def test_css_that_fetches_or_escapes_the_message_is_removed(declaration):
    clean = sanitize_html(f'<p style="{declaration}">x</p>').html
    for bad in ("url", "tracker.example", "image-set", "expression", "position", "cursor", "\\"):
        assert bad not in clean


def test_harmless_css_is_kept():
    clean = sanitize_html('<div style="padding: 4px; border: 1px solid #ccc; font-weight: bold">x</div>').html
    assert "padding: 4px" in clean and "border: 1px solid #ccc" in clean and "font-weight: bold" in clean


@pytest.mark.parametrize("href", ["cid:part1", "/relative", "#top", "ftp://example.org/x", "data:text/plain,x"])
def test_links_keep_only_web_and_mail_addresses(href):
    assert sanitize_html(f'<a href="{href}">x</a>').html == "<a>x</a>"


def test_bare_addresses_become_safe_links_except_in_code():
    clean = sanitize_html("<p>See https://example.org/report</p><pre>http://example.org/raw</pre>").html
    assert (
        '<a href="https://example.org/report" target="_blank" rel="noopener noreferrer nofollow">'
        "https://example.org/report</a>" in clean
    )
    assert "<pre>http://example.org/raw</pre>" in clean


def test_empty_html_is_empty():
    assert sanitize_html("") == ("", False)
