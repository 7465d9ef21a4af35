"""The sending platform's data: templates and their versions, contacts, lists, imports, segments and campaigns.

Everything here belongs to a *workspace*, which is a hosted domain: the
marketers and services of ``shop.example`` share its templates and contacts,
and nobody else sees them (``campaigns.workspace``).
"""

from campaigns.models.campaigns import Campaign, CampaignRecipient, Segment
from campaigns.models.contacts import Contact, ContactImport, ContactList, ListMembership
from campaigns.models.results import CampaignHourlyTally, CampaignLinkTally, CampaignTally
from campaigns.models.templates import Template, TemplateSend, TemplateVersion

__all__ = [
    "Campaign",
    "CampaignHourlyTally",
    "CampaignLinkTally",
    "CampaignRecipient",
    "CampaignTally",
    "Contact",
    "ContactImport",
    "ContactList",
    "ListMembership",
    "Segment",
    "Template",
    "TemplateSend",
    "TemplateVersion",
]
