"""User roles.

An end user is any active user. Marketers belong to the ``Marketers`` group
(campaign permissions attach to it). Admins are Django staff superusers.
"""

from enum import StrEnum


class Role(StrEnum):
    END_USER = "end_user"
    MARKETER = "marketer"
    ADMIN = "admin"


MARKETERS_GROUP = "Marketers"
