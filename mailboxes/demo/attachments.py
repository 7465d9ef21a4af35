"""The demo's attachments. Each takes the time of the message it rides on."""

from datetime import datetime, timedelta

from mailboxes.compose import OutgoingAttachment
from mailboxes.demo.files import Canvas, calendar_invite, simple_pdf
from mailboxes.demo.people import ALICE, BOB, CAROL, DOMAIN

SLATE_LIGHT, SLATE, SLATE_DARK = "#cbd5e1", "#94a3b8", "#0f172a"


def _mockup_png(*, accent: str, tint: str, dot_radius: int, copy_lines: int) -> bytes:
    """A phone-sized onboarding screen: app bar, illustration, copy, progress dots, button."""
    c = Canvas(240, 420, "#f8fafc")
    c.rect(0, 0, 240, 48, accent)
    c.rect(16, 18, 96, 12, "#ffffff")
    c.circle(120, 150, 62, tint)
    c.circle(120, 150, 34, accent)
    c.rect(40, 236, 160, 14, SLATE_DARK)
    for line in range(copy_lines):
        width = 184 if line % 2 == 0 else 150
        c.rect((240 - width) // 2, 264 + line * 16, width, 8, SLATE)
    for n, x in enumerate((100, 120, 140)):
        c.circle(x, 336, dot_radius, accent if n == 0 else SLATE_LIGHT)
    c.rect(24, 362, 192, 40, accent)
    c.rect(90, 378, 60, 8, "#ffffff")
    return c.png()


def onboarding_mockup_v1(at: datetime) -> OutgoingAttachment:
    png = _mockup_png(accent="#2563eb", tint="#dbeafe", dot_radius=3, copy_lines=4)
    return OutgoingAttachment("onboarding-welcome-v1.png", "image/png", png)


def onboarding_mockup_v2(at: datetime) -> OutgoingAttachment:
    png = _mockup_png(accent="#4f46e5", tint="#e0e7ff", dot_radius=5, copy_lines=2)
    return OutgoingAttachment("onboarding-welcome-v2.png", "image/png", png)


def lake_photo(at: datetime) -> OutgoingAttachment:
    """Sunset over a lake, in flat colours."""
    c = Canvas(320, 200, "#0f172a")
    c.vertical_gradient(0, 124, "#7c3aed", "#fb923c")
    c.circle(214, 112, 24, "#fde68a")
    for row in range(40):  # two hills, drawn as shrinking spans
        c.rect(0, 84 + row, 90 + row * 3, 1, "#312e81")
        c.rect(250 - row * 2, 96 + row, 120 + row * 4, 1, "#3730a3")
    c.vertical_gradient(124, 76, "#1e3a8a", "#0f172a")
    for n in range(6):  # the sun's reflection
        c.rect(196 + (n % 2) * 6, 130 + n * 10, 30 - n * 4, 3, "#fcd34d")
    return OutgoingAttachment("lake-sunset.png", "image/png", c.png())


def search_screenshot(at: datetime) -> OutgoingAttachment:
    """The 2.3 release: a mailbox with a search bar and highlighted results."""
    c = Canvas(320, 200, "#ffffff")
    c.rect(0, 0, 72, 200, "#f1f5f9")
    for n in range(5):
        c.rect(12, 40 + n * 22, 48 - (n % 3) * 8, 8, SLATE)
    c.rect(84, 12, 224, 20, "#e2e8f0")
    c.rect(92, 18, 80, 8, "#475569")
    for n in range(6):
        y = 46 + n * 24
        c.rect(84, y, 224, 20, "#fef9c3" if n in (0, 2) else "#ffffff")
        c.rect(90, y + 6, 50, 8, SLATE_DARK)
        c.rect(148, y + 6, 120 - (n % 2) * 30, 8, SLATE)
        c.rect(84, y + 21, 224, 1, "#e2e8f0")
    return OutgoingAttachment("search-2.3.png", "image/png", c.png())


def offsite_budget(at: datetime) -> OutgoingAttachment:
    rows = [
        "Item,Quantity,Unit cost (EUR),Total (EUR)",
        "Return flights,3,180.00,540.00",
        "Hotel (double rooms per night),6,95.00,570.00",
        "Team dinner,1,210.00,210.00",
        "Airport transfers,2,40.00,80.00",
        "Total,,,1400.00",
    ]
    return OutgoingAttachment("offsite-budget.csv", "text/csv", ("\r\n".join(rows) + "\r\n").encode())


def retro_invite(at: datetime) -> OutgoingAttachment:
    start = (at + timedelta(days=2)).replace(hour=15, minute=0, second=0, microsecond=0)
    ics = calendar_invite(
        uid=f"retro-{start:%Y%m%d}@{DOMAIN}",
        summary="Sprint 14 retro",
        start=start,
        end=start + timedelta(minutes=45),
        location="Big meeting room",
        description="One thing that went well\\, one thing to change.",
        organizer=(BOB.name, BOB.address),
        attendees=[(ALICE.name, ALICE.address), (CAROL.name, CAROL.address)],
        stamp=at,
    )
    return OutgoingAttachment("invite.ics", "text/calendar", ics)


def cloudnest_invoice(at: datetime) -> OutgoingAttachment:
    lines = [
        "CloudNest Hosting Ltd.",
        "",
        "INVOICE CN-104219",
        f"Date: {at:%d %B %Y}",
        f"Bill to: {ALICE.name}, Demo Ltd., {ALICE.address}",
        "",
        "Managed Postgres (small), 1 month ........ EUR 49.00",
        "Object storage, 120 GB ................... EUR  6.00",
        "Bandwidth, 310 GB ........................ EUR 12.40",
        "",
        "Subtotal ................................. EUR 67.40",
        "VAT 23% .................................. EUR 15.50",
        "Total .................................... EUR 82.90",
        "",
        "Paid by card ending 4242. Thank you for your business!",
    ]
    pdf = simple_pdf(lines, title="CloudNest invoice CN-104219")
    return OutgoingAttachment("CloudNest-invoice-CN-104219.pdf", "application/pdf", pdf)
