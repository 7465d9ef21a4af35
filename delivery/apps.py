from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Outbound delivery"

    def ready(self):
        from delivery import signals  # noqa: F401 - connects the ESP webhook receivers
        from delivery.services.events import events_recorded
        from delivery.simulator import queue_follow_ups

        # The mailbox simulator answers complaint@ and ooto@ once their acceptance is recorded.
        events_recorded.connect(queue_follow_ups, dispatch_uid="delivery.simulator_follow_ups")
