"""The mailbox simulator's addresses: which domain is reserved for it, and what each address stands for.

Pure names, no database: the delivery engine routes on them (``delivery.simulator``),
the DNS lookups of sender authentication and provider recognition answer for the
domain without asking (nothing about it may leave the machine), and hosting the
domain is refused.
"""

from enum import StrEnum

from django.conf import settings


class Outcome(StrEnum):
    """What a simulator address does with the mail it is sent (its local part, before any ``+tag``)."""

    SUCCESS = "success"  # accepted (250)
    BOUNCE = "bounce"  # refused for good, no such user (550 5.1.1)
    COMPLAINT = "complaint"  # accepted, then an ARF complaint comes back to the VERP return path
    OOTO = "ooto"  # accepted, then an RFC 3834 out-of-office reply comes back to the sender
    SUPPRESSED = "suppressed"  # refused as an address on the suppression list (550 5.1.1)


def simulator_domain() -> str:
    """The reserved domain, lower case without a trailing dot; "" when the simulator is off."""
    return (getattr(settings, "MAILBOX_SIMULATOR_DOMAIN", "") or "").strip().rstrip(".").lower()


def is_simulator_domain(name: str) -> bool:
    """``name`` is the simulator's domain or a name under it (``_dmarc.simulator.invalid``)."""
    domain = simulator_domain()
    name = (name or "").strip().rstrip(".").lower()
    return bool(domain) and (name == domain or name.endswith("." + domain))


def is_simulator_address(address: str) -> bool:
    return is_simulator_domain(address.strip().strip("<>").rpartition("@")[2])


def outcome_of(address: str) -> Outcome | None:
    """What mail to ``address`` does (``bounce+42@…`` bounces), or None: not an address the simulator knows."""
    local, _, domain = address.strip().strip("<>").rpartition("@")
    if not is_simulator_domain(domain) or domain.rstrip(".").lower() != simulator_domain():
        return None
    try:
        return Outcome(local.partition("+")[0].lower())
    except ValueError:
        return None


def tag_of(address: str) -> str:
    """The ``+tag`` of a simulator address ("" when it has none), as the sender wrote it."""
    return address.strip().strip("<>").rpartition("@")[0].partition("+")[2]
