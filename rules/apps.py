from django.apps import AppConfig


class RulesConfig(AppConfig):
    """What a user asks to happen to their mail on arrival: filters, blocked senders, vacation replies, forwarding."""

    name = "rules"
    verbose_name = "Mail rules"
