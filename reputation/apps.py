from django.apps import AppConfig


class ReputationConfig(AppConfig):
    name = "reputation"
    verbose_name = "Reputation and abuse"

    def ready(self):
        from delivery.services.events import events_recorded

        events_recorded.connect(count_outcomes, dispatch_uid="reputation.count_outcomes")

        from reputation.signals import figures_changed

        # The guardrails judge the subjects whose counts just committed, before the worker's next claim.
        figures_changed.connect(check_guardrails, dispatch_uid="reputation.check_guardrails")


def count_outcomes(sender, events, **kwargs):
    """The reputation counters move with every delivery outcome, in the transaction that recorded it."""
    from reputation.services.figures import count_events

    count_events(events)


def check_guardrails(sender, subjects, now=None, **kwargs):
    from reputation.services.guardrails import on_figures_changed

    on_figures_changed(sender, subjects=subjects, now=now)
