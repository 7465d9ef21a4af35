"""What every page of the marketing area shares: who may enter, and in which workspace."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from campaigns.workspace import is_marketer, workspace_of
from webmail.errors import NotFound


def marketer_required(view):
    """Signed-in marketers (and admins) with a workspace; ``request.workspace`` is set for the view."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_marketer(request.user):
            raise PermissionDenied("The marketing area is for marketers.")
        request.workspace = workspace_of(request.user)
        if request.workspace is None:
            raise PermissionDenied("Your account has no hosted domain to work in.")
        return view(request, *args, **kwargs)

    return wrapper


def not_found_is_404(view):
    """A selector's ``NotFound`` (another workspace's id, or none) is the page's 404."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.message) from exc

    return wrapper
