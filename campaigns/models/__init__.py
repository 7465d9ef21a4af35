"""The sending platform's data: templates and their versions, contacts, lists and imports.

Everything here belongs to a *workspace*, which is a hosted domain: the
marketers and services of ``shop.example`` share its templates and contacts,
and nobody else sees them (``campaigns.workspace``).
"""

from campaigns.models.contacts import Contact, ContactImport, ContactList, ListMembership
from campaigns.models.templates import Template, TemplateSend, TemplateVersion

__all__ = [
    "Contact",
    "ContactImport",
    "ContactList",
    "ListMembership",
    "Template",
    "TemplateSend",
    "TemplateVersion",
]
