"""Receivers for django-anymail's webhook signals: the ESP's way into our delivery events."""

from anymail.signals import tracking
from django.dispatch import receiver

from delivery.services.webhooks import record_esp_event


@receiver(tracking, dispatch_uid="delivery.esp_tracking")
def on_esp_tracking(sender, event, esp_name, **kwargs):
    record_esp_event(esp_name=esp_name, event=event)
