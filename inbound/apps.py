from django.apps import AppConfig


class InboundConfig(AppConfig):
    name = "inbound"
    verbose_name = "Inbound mail"

    def ready(self):
        from inbound import signals  # noqa: F401 - connects the ESP inbound webhook receiver
