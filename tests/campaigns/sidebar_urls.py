"""The project's URLs, plus the marketing sidebar's other sections where this branch does not have them yet.

templates/campaigns/base.html links to contacts, lists, imports and the
suppression list, which other parts of the marketing area provide. Until they
are merged, the template pages could not render in tests; each missing name
is routed to a plain 404 here. Once the real pages exist this adds nothing.
"""

from django.http import Http404
from django.urls import include, path

from campaigns import urls as campaigns_urls
from webmail import urls as project_urls

SIDEBAR = ("contacts", "lists", "imports", "suppressions")


def _names(patterns) -> set[str]:
    found = set()
    for pattern in patterns:
        if hasattr(pattern, "url_patterns"):
            found |= _names(pattern.url_patterns)
        elif pattern.name:
            found.add(pattern.name)
    return found


def _not_here_yet(request):
    raise Http404("This section is not part of this branch.")


_missing = [name for name in SIDEBAR if name not in _names(campaigns_urls.urlpatterns)]
_marketing = (
    [*campaigns_urls.urlpatterns, *(path(f"_missing/{name}/", _not_here_yet, name=name) for name in _missing)],
    "campaigns",
)
urlpatterns = [path("marketing/", include(_marketing)), *project_urls.urlpatterns]
