from django.apps import AppConfig


class ReputationConfig(AppConfig):
    name = "reputation"
    verbose_name = "Reputation and abuse"

    def ready(self):
        from delivery.services.events import events_recorded
        from reputation.signals import figures_changed

        events_recorded.connect(count_outcomes, dispatch_uid="reputation.count_outcomes")
        # The guardrails judge the subjects whose counts just committed, before the worker's next claim.
        figures_changed.connect(check_guardrails, dispatch_uid="reputation.check_guardrails")
        figures_changed.connect(check_senders_for_compromise, dispatch_uid="reputation.check_senders_for_compromise")


def count_outcomes(sender, events, **kwargs):
    """The reputation counters move with every delivery outcome, in the transaction that recorded it."""
    from reputation.services.figures import count_events

    count_events(events)


def check_guardrails(sender, subjects, now=None, worsened=None, volumes=None, **kwargs):
    from reputation.services.guardrails import on_figures_changed

    on_figures_changed(sender, subjects=subjects, now=now, worsened=worsened, volumes=volumes)


def check_senders_for_compromise(sender, subjects, now=None, worsened=None, **kwargs):
    """Outcomes just came back (a burst of unknown users shows here first): check the users who sent them.

    Only those with more than deliveries among them (``worsened``, when known): a delivery shows no sign, and
    the signs read at submission (volume, new recipients, networks, content) were checked there.
    """
    from reputation.services.compromise import evaluate_senders_after_outcomes

    changed = subjects if worsened is None else worsened
    evaluate_senders_after_outcomes(user_keys=[key for kind, key in changed if kind == "user"], now=now)
