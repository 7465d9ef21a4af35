from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Outbound delivery"

    def ready(self):
        from delivery import signals  # noqa: F401 - connects the ESP webhook receivers
        from delivery.services.events import events_recorded
        from delivery.services.metrics import count_recorded_events
        from delivery.simulator import queue_follow_ups

        # The mailbox simulator answers complaint@ and ooto@ once their acceptance is recorded.
        events_recorded.connect(queue_follow_ups, dispatch_uid="delivery.simulator_follow_ups")
        # webmail_delivery_events_total, on commit (docs/METRICS-SENDING.md).
        events_recorded.connect(count_recorded_events, dispatch_uid="delivery.count_recorded_events")
