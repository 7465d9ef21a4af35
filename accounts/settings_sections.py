"""The sections of the settings pages, in the order of their navigation.

Each section is its own page (its own URL and view, in the app that owns the feature); its
template extends ``accounts/settings/base.html``, which draws this navigation. A section whose
URL is not installed is left out of the navigation.
"""

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    url_name: str


SECTIONS = [
    Section("general", _("General"), "accounts:settings_general"),
    Section("security", _("Sign-in and security"), "accounts:settings_security"),
    Section("identities", _("Addresses and signatures"), "mailboxes:identities"),
    Section("filters", _("Filters and blocked senders"), "rules:filters"),
    Section("vacation", _("Vacation reply"), "rules:vacation"),
    Section("forwarding", _("Forwarding"), "rules:forwarding"),
    Section("import-export", _("Import and export"), "mailboxes:import_export"),
    Section("tokens", _("API tokens"), "accounts:api_tokens"),
]


def settings_context(user, current: str) -> dict:
    """What ``accounts/settings/base.html`` needs besides the sidebar: the navigation and the current section."""
    from mailboxes.views.common import sidebar_context  # the mailbox views import accounts

    sections = []
    for section in SECTIONS:
        try:
            sections.append({"slug": section.slug, "title": section.title, "url": reverse(section.url_name)})
        except NoReverseMatch:
            continue
    titles = {s["slug"]: s["title"] for s in sections}
    return {
        **sidebar_context(user),
        "settings_sections": sections,
        "settings_current": current,
        "title": titles.get(current, _("Settings")),
    }
