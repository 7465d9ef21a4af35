"""Errors a user can cause.

Services raise these; one API exception handler and one view helper map them
to 4xx responses and form errors. ``field`` names the input at fault, so the
message can be shown next to it; ``code`` is stable for API clients.
"""


class UserError(Exception):
    code = "invalid"
    status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(UserError):
    """The object does not exist or belongs to someone else: both look the same."""

    code = "not_found"
    status = 404


class Conflict(UserError):
    code = "conflict"
    status = 409
