"""``Authorization: Bearer TOKEN`` with a user's API token (see ``accounts.services``).

Wrong tokens are counted per client address (``API_TOKEN_MAX_FAILURES`` in
``API_TOKEN_FAILURE_WINDOW`` seconds, in the shared cache); past the limit a wrong
token is answered 429 instead of 401. A valid token is always accepted: it cannot be
guessed, so refusing it would only let a stranger on the same address lock a service out.
"""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.services import authenticate_api_token
from core import ratelimit
from webmail.clients import client_address


def _refuse(request, message: str) -> exceptions.APIException:
    """The error for a wrong token: 401, or 429 once this client has sent too many."""
    limit = ratelimit.Limit("api-token", settings.API_TOKEN_MAX_FAILURES, settings.API_TOKEN_FAILURE_WINDOW)
    counted = [(limit, client_address(request))]
    now = ratelimit.clock()
    if ratelimit.exceeded(counted, now=now):
        return exceptions.Throttled(wait=limit.retry_after(now))
    ratelimit.count_failure(counted, now=now)
    return exceptions.AuthenticationFailed(message)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # not ours: the session may still authenticate
        if len(header) != 2:
            raise _refuse(request, "The Authorization header must be 'Bearer TOKEN'.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise _refuse(request, "Invalid token.") from exc
        record = authenticate_api_token(token)
        if record is None:
            raise _refuse(request, "Invalid or revoked token.")
        return record.user, record

    def authenticate_header(self, request):
        # Makes DRF answer 401 (with WWW-Authenticate) rather than 403 to a request without credentials.
        return f'{self.keyword} realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API token: `Authorization: Bearer wm_…`."}
