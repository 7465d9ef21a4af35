"""Transports for tests that need delivery itself to break."""

from delivery.transports.base import Transport


class CrashingTransport(Transport):
    """A bug in delivery code: raises instead of reporting outcomes."""

    name = "crashing"

    def deliver(self, *, domain, envelopes, on_result=None):
        raise RuntimeError("simulated bug in the transport")
