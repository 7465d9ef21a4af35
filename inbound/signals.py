"""django-anymail's inbound webhook signal: mail received by an ESP enters the same pipeline."""

from anymail.signals import inbound
from django.dispatch import receiver

from inbound.services.reception import accept_message


@receiver(inbound, dispatch_uid="inbound.esp_inbound")
def on_esp_inbound(sender, event, esp_name, **kwargs):
    message = event.message
    accept_message(
        raw=message.as_bytes(),
        mail_from=message.envelope_sender or "",
        rcpt_tos=[message.envelope_recipient] if message.envelope_recipient else [a.addr_spec for a in message.to],
        client_ip=None,
        helo="",
        source=f"anymail:{esp_name}",
    )
