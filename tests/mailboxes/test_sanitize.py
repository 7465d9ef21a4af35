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
    ],
)
def test_active_content_is_removed(dirty):
    clean = sanitize_html(dirty).lower()
    for bad in ("<script", "onerror", "javascript:", "<iframe", "<form", "<input", "<svg", "<style", "<object"):
        assert bad not in clean
    assert "alert(1)" not in clean


def test_script_and_style_text_does_not_leak_into_the_page():
    clean = sanitize_html("<style>p { color: red }</style><p>Hello</p><script>var x = 1;</script>")
    assert clean == "<p>Hello</p>"


def test_formatting_links_and_safe_styles_stay():
    clean = sanitize_html('<p style="color: red; position: fixed"><b>Hi</b> <a href="https://example.org">site</a></p>')
    assert '<a href="https://example.org">site</a>' in clean
    assert "<b>Hi</b>" in clean
    assert "color: red" in clean and "position" not in clean


def test_remote_images_are_blocked_unless_allowed():
    html = '<img src="https://tracker.example/p.gif" alt="logo"><img src="cid:part1">'
    blocked = sanitize_html(html)
    assert ' src="https://tracker' not in blocked
    assert 'data-remote-src="https://tracker.example/p.gif"' in blocked
    assert 'src="cid:part1"' in blocked
    assert 'src="https://tracker.example/p.gif"' in sanitize_html(html, allow_remote_images=True)


def test_a_message_cannot_smuggle_its_own_data_remote_src():
    assert "data-remote-src" not in sanitize_html('<img data-remote-src="https://x.example/a.gif">')


def test_empty_html_is_empty():
    assert sanitize_html("") == ""
