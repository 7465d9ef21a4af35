from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    name = "delivery"
    verbose_name = "Outbound delivery"

    def ready(self):
        from delivery import signals  # noqa: F401 - connects the ESP webhook receivers
