"""Errors a user can cause in their mail rules."""

from webmail.errors import NotFound, UserError


class FilterNotFound(NotFound):
    code = "filter_not_found"


class BlockedSenderNotFound(NotFound):
    code = "blocked_sender_not_found"


class ForwardingAddressNotFound(NotFound):
    code = "forwarding_address_not_found"


class InvalidFilter(UserError):
    code = "invalid_filter"


class InvalidCriteria(InvalidFilter):
    """A filter's search query that does not parse; ``position`` is the 0-based offset of the fault."""

    code = "invalid_criteria"

    def __init__(self, message: str, *, position: int = 0):
        super().__init__(message, field="query")
        self.position = position


class InvalidSender(UserError):
    code = "invalid_sender"


class InvalidVacationReply(UserError):
    code = "invalid_vacation_reply"


class InvalidForwardingAddress(UserError):
    code = "invalid_forwarding_address"


class ForwardingNotVerified(UserError):
    code = "forwarding_not_verified"


class InvalidVerificationLink(NotFound):
    code = "invalid_verification_link"
