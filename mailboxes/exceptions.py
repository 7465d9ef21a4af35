"""Errors users can cause in their mailbox."""

from webmail.errors import Conflict, NotFound, UserError


class ItemNotFound(NotFound):
    code = "item_not_found"


class LabelNotFound(NotFound):
    code = "label_not_found"


class DraftNotFound(NotFound):
    code = "draft_not_found"


class FolderNotAllowed(UserError):
    code = "folder_not_allowed"


class InvalidLabel(UserError):
    code = "invalid_label"


class LabelExists(Conflict):
    code = "label_exists"


class HeaderInjection(UserError):
    code = "header_injection"


class SenderNotAllowed(UserError):
    code = "sender_not_allowed"
    status = 403


class NoRecipients(UserError):
    code = "no_recipients"


class TooManyRecipients(UserError):
    code = "too_many_recipients"


class MessageTooLarge(UserError):
    code = "message_too_large"
    status = 413


class UploadNotFound(NotFound):
    code = "attachment_not_found"


class UnverifiedSender(UserError):
    """Images cannot be always shown for a sender whose From address is not authenticated."""

    code = "unverified_sender"
