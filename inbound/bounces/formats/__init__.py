"""Readers for the bounce formats of particular MTAs and mail providers.

Each reader is ``read(letter: inbound.bounces.reading.Letter) -> Report | None``:
it returns None at once unless the letter is in its format (known by its
sender, subject, headers or wording), and otherwise the whole report. The
generic readers (``reading.generic_report``: ARF, RFC 3464, plain text) run
after all of these; a reader may call them and refine what they found.
A recipient's ``reason`` may be set where the format states it outright;
``parse_report`` classifies every recipient afterwards.

Readers are tried in the order of ``READERS``: the most specific first.
"""

from inbound.bounces.formats import (
    amazon,
    appliances,
    domino,
    esps,
    exchange,
    google,
    japanese,
    microsoft,
    others,
    providers,
    qmail,
    yahoo,
)
from inbound.bounces.formats.common import Report, hinted

READERS = []

# --- MTAs ---------------------------------------------------------------------------------
# Sorted by module name; each knows its format by marks no provider's report has.
READERS += [
    domino.read,
    exchange.read,  # on-premises Exchange; Office 365's reports are left to microsoft.read
    japanese.read,
    others.read,
    qmail.read,
]
# --- end of MTAs --------------------------------------------------------------------------

# --- providers: mail providers, ESPs and appliances ---------------------------------------
READERS += [
    amazon.read,
    google.read,
    microsoft.read,
    yahoo.read,
    providers.read,
    esps.read,
    appliances.read,
]
# --- end of providers ---------------------------------------------------------------------

# Codes that only one vendor writes name the reason wherever its reply is quoted (in any MTA's
# report), so they are read from every report, whichever reader found it.
VENDOR_CODES = (
    *google.VENDOR_CODES,
    *microsoft.VENDOR_CODES,
    *yahoo.VENDOR_CODES,
    *providers.VENDOR_CODES,
    *appliances.VENDOR_CODES,
)


def with_vendor_codes(report: Report | None) -> Report | None:
    """``report`` with the reason each recipient's vendor code states, where no reader set one."""
    return hinted(appliances.with_quoted_replies(report), VENDOR_CODES)
