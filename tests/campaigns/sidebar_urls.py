"""The site's URLs, plus a 404 under each marketing sidebar name that no merged part defines yet.

Each part of the marketing area (templates, contacts, lists, imports,
suppressions) is built on its own branch, and ``campaigns/base.html`` links to
them all. Until every part is merged, the pages of one part could not render
their sidebar; with them all merged this adds nothing.
"""

from django.http import Http404
from django.urls import NoReverseMatch, include, path, reverse

from campaigns import urls as marketing
from webmail import urls as site

SIDEBAR = ("templates", "contacts", "lists", "imports", "suppressions")


def _defined(name: str) -> bool:
    try:
        reverse(f"campaigns:{name}", urlconf=site)
    except NoReverseMatch:
        return False
    return True


def _not_merged(request):
    raise Http404("This part of the marketing area is on another branch.")


_missing = [path(f"not-merged/{name}/", _not_merged, name=name) for name in SIDEBAR if not _defined(name)]

urlpatterns = [
    path("marketing/", include(([*marketing.urlpatterns, *_missing], "campaigns"))),
    *(p for p in site.urlpatterns if getattr(p, "namespace", None) != "campaigns"),
]
