"""The site's URLs, plus placeholders for marketing sidebar links this branch does not route yet.

``templates/campaigns/base.html`` links to ``campaigns:templates`` and ``campaigns:suppressions``,
which other parts of issue 13 add. See ``contacts_support.sidebar_routes``.
"""

from django.http import HttpResponse
from django.urls import URLResolver, include, path

import campaigns.urls
import webmail.urls

SIDEBAR = {"templates": "templates/", "suppressions": "suppressions/"}


def _names(patterns) -> set[str]:
    names = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            names |= _names(pattern.url_patterns)
        elif pattern.name:
            names.add(pattern.name)
    return names


def placeholder(request):
    return HttpResponse("")


_missing = [name for name in SIDEBAR if name not in _names(campaigns.urls.urlpatterns)]
_marketing = [*campaigns.urls.urlpatterns, *(path(SIDEBAR[name], placeholder, name=name) for name in _missing)]

urlpatterns = [
    path("marketing/", include((_marketing, "campaigns"))),
    *(p for p in webmail.urls.urlpatterns if getattr(p, "namespace", None) != "campaigns"),
]
