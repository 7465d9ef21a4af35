"""Bounces and complaints that arrive at our VERP return paths, turned into delivery events.

- ``reading``: ``parse_report``, a message → a ``Report`` (None when it is
  neither a bounce nor a complaint), each failed recipient classified by
  ``core.bounce_reasons``;
- ``formats``: readers for the formats of particular MTAs and providers,
  asked before the generic (RFC 3464, ARF, plain-text) readers;
- ``applying``: ``handle_report``, a report → delivery events, suppression and
  the sender's notice.
"""

from inbound.bounces.applying import handle_report
from inbound.bounces.reading import Report, ReportedRecipient, parse_report

__all__ = ["Report", "ReportedRecipient", "handle_report", "parse_report"]
