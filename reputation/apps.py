from django.apps import AppConfig


class ReputationConfig(AppConfig):
    name = "reputation"
    verbose_name = "Reputation and abuse"

    def ready(self):
        from delivery.services.events import events_recorded

        events_recorded.connect(count_outcomes, dispatch_uid="reputation.count_outcomes")


def count_outcomes(sender, events, **kwargs):
    """The reputation counters move with every delivery outcome, in the transaction that recorded it."""
    from reputation.services.figures import count_events

    count_events(events)
