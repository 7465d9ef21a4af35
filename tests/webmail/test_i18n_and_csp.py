import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db

LOCALE = Path(settings.BASE_DIR) / "locale"
TEMPLATES = Path(settings.BASE_DIR) / "templates"


def _entries(po: Path):
    text = po.read_text(encoding="utf-8")
    for block in text.split("\n\n"):
        msgid = re.search(r'^msgid "(.*)"', block, re.M)
        msgstr = re.search(r'^msgstr "(.*)"((?:\n".*")*)', block, re.M)
        if msgid and msgstr:
            yield msgid.group(1), msgstr.group(1) + msgstr.group(2), "#, fuzzy" in block


def test_simplified_chinese_is_complete():
    entries = list(_entries(LOCALE / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    assert len(entries) > 100
    untranslated = [msgid for msgid, msgstr, _ in entries if msgid and not msgstr.strip('"\n')]
    fuzzy = [msgid for msgid, _, is_fuzzy in entries if msgid and is_fuzzy]
    assert untranslated == [] and fuzzy == []


@pytest.mark.skipif(not shutil.which("msgfmt"), reason="gettext not installed")
def test_committed_catalogs_compile_and_match_their_sources(tmp_path):
    for po in LOCALE.glob("*/LC_MESSAGES/django.po"):
        out = tmp_path / "django.mo"
        subprocess.run(["msgfmt", "--check-format", "-o", str(out), str(po)], check=True)  # noqa: S603, S607
        assert out.read_bytes() == po.with_suffix(".mo").read_bytes(), f"run compilemessages: {po}"


def test_the_interface_speaks_chinese(alice_client, inbox_item):
    alice_client.post(reverse("set_language"), {"language": "zh-hans", "next": "/mail/"})
    html = alice_client.get(reverse("mailboxes:inbox")).content.decode()
    assert '<html lang="zh-hans">' in html
    assert "收件箱" in html and "写邮件" in html


def test_every_page_has_a_strict_content_security_policy(alice_client, inbox_item):
    for url in [reverse("mailboxes:inbox"), reverse("mailboxes:compose"), reverse("accounts:login")]:
        policy = alice_client.get(url)["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "object-src 'none'" in policy


def test_no_template_has_inline_script_or_style_or_event_handlers():
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template
        assert not re.search(r"\son[a-z]+\s*=", text), template
        assert not re.search(r'\sstyle="', text), template
        if template.name != "body.html":  # the message frame has its own policy
            assert "<style" not in text, template


def test_htmx_is_served_from_here(alice_client):
    html = alice_client.get(reverse("mailboxes:inbox")).content.decode()
    assert re.search(r'<script src="/static/vendor/htmx\.min\.js"', html)
    assert "://" not in "".join(re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html))
    assert (Path(settings.BASE_DIR) / "static" / "vendor" / "htmx.min.js").stat().st_size > 10000


def test_api_docs_pages_may_have_inline_styles_but_never_inline_scripts(client):
    from webmail.csp import INLINE_STYLE_POLICY

    assert "style-src 'self' 'unsafe-inline'" in INLINE_STYLE_POLICY
    assert "script-src 'self';" in INLINE_STYLE_POLICY
    policy = client.get("/api/docs")["Content-Security-Policy"]
    assert policy == INLINE_STYLE_POLICY  # even for a 404 here, before the API exists
    assert "unsafe-inline" not in client.get(reverse("accounts:login"))["Content-Security-Policy"]
