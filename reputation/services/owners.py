"""Who answers for a reputation subject (told of its warnings and pauses), and how it is named in a notice."""

from django.contrib.auth import get_user_model

from accounts.roles import MARKETERS_GROUP
from reputation.models import Subject


def owners(kind: str, key: str) -> list:
    """Who is told about a subject: the user; a domain's marketers; a campaign's creator (none for the others)."""
    users = get_user_model().objects.filter(is_active=True)
    if kind == Subject.USER:
        return list(users.filter(pk=int(key))) if key.isdigit() else []
    if kind == Subject.DOMAIN:
        return list(users.filter(groups__name=MARKETERS_GROUP, username__iendswith="@" + key).order_by("pk"))
    if kind == Subject.CAMPAIGN:
        from campaigns.models import Campaign  # campaigns know nothing of reputation

        campaign = Campaign.objects.select_related("created_by").filter(pk=int(key)).first() if key.isdigit() else None
        creator = campaign.created_by if campaign is not None else None
        return [creator] if creator is not None and creator.is_active else []
    return []


def describe_subject(kind: str, key: str) -> str:
    if kind == Subject.USER:
        user = get_user_model().objects.filter(pk=int(key)).first() if key.isdigit() else None
        return f"the account {user.username}" if user else f"user #{key}"
    if kind == Subject.DOMAIN:
        return f"the domain {key}"
    if kind == Subject.CAMPAIGN:
        from campaigns.models import Campaign

        campaign = Campaign.objects.filter(pk=int(key)).first() if key.isdigit() else None
        return f'the campaign "{campaign.name}"' if campaign else f"campaign #{key}"
    return f"the {key} {Subject(kind).label.lower()}"
