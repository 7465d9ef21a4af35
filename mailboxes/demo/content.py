"""What is in the demo mailboxes: conversations, outside mail, drafts, and each mailbox's state.

Times are ``(days ago, "HH:MM")``; within a conversation each message after
the first answers the one before it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from mailboxes.compose import OutgoingAttachment
from mailboxes.demo import attachments as files
from mailboxes.models import Folder

When = tuple[int, str]
MakeAttachment = Callable[[datetime], OutgoingAttachment]


@dataclass(frozen=True)
class Mail:
    """Written by a demo user and sent with ``send_message``."""

    sender: str
    at: When
    text: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    html: str = ""
    attachments: tuple[MakeAttachment, ...] = ()


@dataclass(frozen=True)
class Inbound:
    """Mail from outside: raw RFC 5322 bytes stored and placed like the MX does."""

    sender: tuple[str, str]
    at: When
    text: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    html: str = ""
    attachments: tuple[MakeAttachment, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    folder: str = Folder.INBOX
    authenticated: bool = True


@dataclass(frozen=True)
class Conversation:
    key: str
    subject: str
    messages: tuple[Mail | Inbound, ...]


@dataclass(frozen=True)
class Draft:
    sender: str
    at: When
    text: str
    subject: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    reply_to: str | None = None  # a conversation key: the draft answers its latest message


@dataclass(frozen=True)
class LabelSpec:
    name: str
    colour: str
    conversations: tuple[str, ...]


@dataclass(frozen=True)
class MailboxState:
    """What a user did with their mail. Everything received is read except ``unread``'s latest message."""

    labels: tuple[LabelSpec, ...] = ()
    unread: tuple[str, ...] = ()
    starred: tuple[str, ...] = ()
    archived: tuple[str, ...] = ()
    trashed: tuple[str, ...] = ()
    spam: tuple[str, ...] = ()


WORK, FAMILY, RECEIPTS = "#2563eb", "#16a34a", "#d97706"

# --- between colleagues --------------------------------------------------------

OFFSITE = Conversation(
    "offsite",
    "Team offsite in Lisbon: dates and budget",
    (
        Mail(
            "alice",
            (18, "09:12"),
            "Hi both,\n\nI'd like to lock in the dates for the offsite. The options are the 12th-14th "
            "or the 19th-21st of next month.\n\nI put a rough budget in the attached sheet: flights, "
            "hotel, one team dinner and airport transfers. Tell me which dates work and whether "
            "anything is missing.\n\nAlice",
            to=("bob", "carol"),
            attachments=(files.offsite_budget,),
        ),
        Mail(
            "bob",
            (18, "10:03"),
            "The 19th-21st works much better for me; the 12th clashes with the 2.3 release.\n\n"
            "Budget looks fine. Maybe add a co-working space for the second day? Hotel lobbies are "
            "terrible for whiteboarding.\n\nBob",
            to=("alice",),
            cc=("carol",),
        ),
        Mail(
            "carol",
            (18, "11:47"),
            "19th-21st for me too.\n\nGood idea, Bob. There's a nice co-working place near Cais do "
            "Sodré, I can ask them for a quote.\n\nCarol",
            to=("alice",),
            cc=("bob",),
        ),
        Mail(
            "alice",
            (17, "08:30"),
            "19th-21st it is! Carol, yes please, get the quote. I'm booking the hotel today.\n\nAlice",
            to=("bob", "carol"),
        ),
        Mail(
            "carol",
            (15, "16:20"),
            "The quote is in: EUR 45 per person for the day, coffee and lunch included. I booked it "
            "tentatively, we can cancel for free until the 10th.\n\nCarol",
            to=("alice",),
            cc=("bob",),
        ),
    ),
)

ONBOARDING = Conversation(
    "onboarding",
    "Onboarding screens: first mockup",
    (
        Mail(
            "carol",
            (12, "14:40"),
            "Hi Alice, hi Bob,\n\nHere's a first take on the welcome screen of the new onboarding "
            "(mockup attached). Three steps, progress dots at the bottom, one clear button.\n\n"
            "Feedback welcome, especially on the copy.\n\nCarol",
            to=("alice", "bob"),
            html="<p>Hi Alice, hi Bob,</p><p>Here's a first take on the <b>welcome screen</b> of the new "
            "onboarding (mockup attached). Three steps, progress dots at the bottom, one clear button.</p>"
            "<p>Feedback welcome, especially on the copy.</p><p>Carol</p>",
            attachments=(files.onboarding_mockup_v1,),
        ),
        Mail(
            "bob",
            (12, "15:10"),
            "Looks clean! The progress dots are tiny on a phone though. Could they be twice the size?\n\nBob",
            to=("carol",),
            cc=("alice",),
        ),
        Mail(
            "alice",
            (11, "09:05"),
            "Love the direction. Agree with Bob about the dots. I'd also cut the copy to two lines: "
            "nobody reads four lines on a welcome screen.\n\nAlice",
            to=("carol",),
            cc=("bob",),
        ),
        Mail(
            "carol",
            (10, "17:30"),
            "Fair points, both. Version 2 attached: bigger dots, two lines of copy, slightly calmer "
            "colour. If nobody objects I'll hand it to the developers on Monday.\n\nCarol",
            to=("alice", "bob"),
            attachments=(files.onboarding_mockup_v2,),
        ),
    ),
)

LUNCH = Conversation(
    "lunch",
    "Lunch on Friday?",
    (
        Mail("bob", (9, "11:05"), "The ramen place on Rua Augusta has reopened. Friday at 12:30?", to=("alice",)),
        Mail("alice", (9, "11:20"), "Yes! Book for three, I'll ask Carol to come along.", to=("bob",)),
        Mail("bob", (9, "11:22"), "Done: table for three at 12:30. 🍜", to=("alice",)),
    ),
)

CONTRACT = Conversation(
    "contract",
    "Northwind contract renewal",
    (
        Mail(
            "alice",
            (7, "10:15"),
            "Hi Carol,\n\nNorthwind's contract is up for renewal at the end of the month. They are asking "
            "for 10% off in exchange for a two-year term. Can you check what we gave them last time?\n\n"
            "(Bob, you're in Bcc so you know this is coming. No action needed.)\n\nAlice",
            to=("carol",),
            bcc=("bob",),
        ),
        Mail(
            "carol",
            (7, "13:02"),
            "Last time it was 5% for one year. 10% for two years seems fair to me if they pay "
            "annually in advance. Want me to draft the offer?\n\nCarol",
            to=("alice",),
        ),
    ),
)

BIRTHDAY = Conversation(
    "birthday",
    "Surprise for Alice 🎂",
    (
        Mail(
            "carol",
            (5, "12:00"),
            "Psst, Alice's birthday is on Thursday. Cake from the bakery on the corner? I'm collecting "
            "money, EUR 10 each.",
            to=("bob",),
        ),
        Mail("bob", (5, "12:20"), "Count me in! She likes lemon cake. I'll bring candles.", to=("carol",)),
    ),
)

RETRO = Conversation(
    "retro",
    "Invitation: Sprint 14 retro",
    (
        Mail(
            "bob",
            (4, "16:00"),
            "Hi both,\n\nThe sprint 14 retro is in the calendar invite attached. Please bring one thing "
            "that went well and one thing you'd change.\n\nBob",
            to=("alice", "carol"),
            attachments=(files.retro_invite,),
        ),
        Mail("carol", (4, "16:31"), "Accepted. I'll bring cookies.", to=("bob",)),
    ),
)

RELEASE = Conversation(
    "release",
    "Release 2.3 is out 🎉",
    (
        Mail(
            "bob",
            (2, "18:05"),
            "2.3 went out this afternoon. Highlights:\n\n"
            "- search is about three times faster on large mailboxes\n"
            "- conversations are threaded even when a reply arrives before its parent\n"
            "- attachment previews for images and PDFs\n\n"
            "Thanks everyone for the testing last week.\n\nBob",
            to=("alice", "carol"),
        ),
        Mail("alice", (2, "18:40"), "Fantastic work, Bob. Drinks are on me on Friday!", to=("bob", "carol")),
        Mail(
            "carol",
            (1, "09:10"),
            "Congratulations! I'm writing the announcement post today. Could you send me a screenshot "
            "of the new search?",
            to=("bob",),
            cc=("alice",),
        ),
        Mail(
            "bob",
            (0, "08:05"),
            "Here you go. The yellow rows are the matches.",
            to=("carol",),
            cc=("alice",),
            attachments=(files.search_screenshot,),
        ),
    ),
)

# --- from outside --------------------------------------------------------------

PYCON = Conversation(
    "pycon",
    "PyCon Lisbon: your talk has been accepted",
    (
        Inbound(
            ("PyCon Lisbon Programme Committee", "programme@pycon-lisbon.example"),
            (6, "15:00"),
            "Dear Alice Martin and Bob Kowalski,\n\nWe are delighted to tell you that your talk "
            '"One mailbox, many views: separating content from state" has been accepted for '
            "PyCon Lisbon.\n\nPlease confirm your attendance by replying to this message within "
            "two weeks. Slides are due the day before the conference.\n\nSee you in Lisbon!\n"
            "The Programme Committee",
            to=("alice",),
            cc=("bob",),
        ),
        Mail(
            "alice",
            (6, "15:25"),
            "We got in!! 🎉 I'll confirm for both of us. Shall we do a first run-through of the slides "
            "after the retro?\n\nAlice",
            to=("bob",),
        ),
        Mail("bob", (6, "16:02"), "Amazing! Yes, let's. I'll start on the architecture diagrams.", to=("alice",)),
    ),
)

HUBFORGE_HTML = """\
<div style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#1f2328">
<p><b>{author}</b> {action} <a href="https://hubforge.example/demo/webmail/issues/42">demo/webmail#42</a></p>
<div style="border:1px solid #d0d7de;border-radius:6px;padding:12px">{body}</div>
<p style="color:#656d76;font-size:12px">Reply to this email directly or
<a href="https://hubforge.example/demo/webmail/issues/42">view it on Hubforge</a>.
You are receiving this because you are subscribed to this thread.</p>
</div>"""

HUBFORGE_HEADERS = (
    ("List-ID", "demo/webmail <webmail.demo.hubforge.example>"),
    ("List-Unsubscribe", "<https://hubforge.example/notifications/unsubscribe/42>"),
    ("X-Hubforge-Reason", "subscribed"),
)


def _hubforge(author: str, action: str, body: str, at: When) -> Inbound:
    return Inbound(
        (f"{author} (Hubforge)", "notifications@hubforge.example"),
        at,
        f"{author} {action} demo/webmail#42\n\n{body}\n\n-- \nView it on Hubforge: "
        "https://hubforge.example/demo/webmail/issues/42",
        to=("bob",),
        html=HUBFORGE_HTML.format(author=author, action=action, body=body.replace("\n\n", "<br><br>")),
        headers=HUBFORGE_HEADERS,
    )


HUBFORGE = Conversation(
    "hubforge",
    "[demo/webmail] Threads split when a reply arrives before its parent (#42)",
    (
        _hubforge(
            "dana-reyes",
            "opened",
            "When the reply is delivered a few seconds before the original, the two end up in separate "
            "conversations.\n\nSteps: send A, reply B to A, deliver B first. Expected one thread.",
            (3, "10:12"),
        ),
        _hubforge(
            "kenji",
            "commented on",
            "I can reproduce this. The reply creates a thread holding the parent's Message-ID, but the "
            "parent doesn't look it up. Working on a fix.",
            (3, "14:50"),
        ),
        _hubforge("kenji", "closed", "Closed as completed via #57.", (2, "09:30")),
    ),
)

NEWSLETTER_HTML = """\
<div style="max-width:600px;margin:auto;font-family:Georgia,serif;color:#111827">
<img src="https://weeklybyte.example/logo.png" alt="The Weekly Byte" width="180">
<h1 style="font-size:22px">{title}</h1>
{items}
<p style="font-size:12px;color:#6b7280">You subscribed to The Weekly Byte.
<a href="https://weeklybyte.example/unsubscribe?u=alice">Unsubscribe</a></p>
</div>"""


def _newsletter(issue: int, title: str, items: list[tuple[str, str]], at: When) -> Conversation:
    text = "\n\n".join(f"{heading}\n{summary}" for heading, summary in items)
    html = "".join(f"<h2 style='font-size:17px'>{h}</h2><p>{s}</p>" for h, s in items)
    mail = Inbound(
        ("The Weekly Byte", "digest@weeklybyte.example"),
        at,
        f"{title}\n\n{text}\n\nUnsubscribe: https://weeklybyte.example/unsubscribe?u=alice",
        to=("alice",),
        html=NEWSLETTER_HTML.format(title=title, items=html),
        headers=(
            ("List-ID", "The Weekly Byte <weekly.weeklybyte.example>"),
            ("List-Unsubscribe", "<https://weeklybyte.example/unsubscribe?u=alice>"),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ("Precedence", "bulk"),
        ),
    )
    return Conversation(f"byte-{issue}", f"The Weekly Byte #{issue}: {title}", (mail,))


BYTE_212 = _newsletter(
    212,
    "SQLite in production, really?",
    [
        ("SQLite in production", "WAL mode, one writer and a lot of readers: where it shines and where it doesn't."),
        ("Reading: the JWZ threading algorithm", "Twenty-five years old and still how your mail client works."),
        ("Tool of the week", "A tiny HTTP debugging proxy you can run from one file."),
    ],
    (13, "07:00"),
)
BYTE_213 = _newsletter(
    213,
    "Postgres tricks you will use on Monday",
    [
        ("SKIP LOCKED queues", "Why job queues in Postgres are fine at a few thousand jobs a second."),
        ("Partial indexes", "Index only the rows you actually query, and watch the size drop."),
        ("From the archive", "Content-addressed storage, explained with a shoebox of photos."),
    ],
    (6, "07:00"),
)

INVOICE = Conversation(
    "invoice",
    "Your CloudNest invoice CN-104219",
    (
        Inbound(
            ("CloudNest Billing", "billing@cloudnest.example"),
            (10, "06:15"),
            "Hello Alice,\n\nThank you for using CloudNest. Your invoice CN-104219 for EUR 82.90 is "
            "attached. It has been paid with the card ending 4242; there is nothing you need to do.\n\n"
            "CloudNest Billing",
            to=("alice",),
            attachments=(files.cloudnest_invoice,),
        ),
    ),
)

LAKE = Conversation(
    "lake",
    "Photos from the lake",
    (
        Inbound(
            ("Tom Martin", "tom@martin-family.example"),
            (8, "19:40"),
            "Hi sis,\n\nWhat a weekend! Here's the sunset from the jetty. Mum wants a print for the "
            "kitchen. Same time next year?\n\nTom",
            to=("alice",),
            attachments=(files.lake_photo,),
        ),
    ),
)

MUM = Conversation(
    "mum",
    "周末回家吃饭吗？",
    (
        Inbound(
            ("张丽华", "lihua.zhang@family.example"),
            (3, "20:15"),
            "小卡：\n\n这个周末回家吃饭吗？爸爸说想给你做你最爱吃的红烧肉。"
            "如果你能来，周六中午十二点左右到就好。\n\n最近降温了，记得多穿点衣服。\n\n妈妈",
            to=("carol",),
            headers=(("Content-Language", "zh-CN"),),
        ),
    ),
)

SHIPPING = Conversation(
    "shipping",
    "Your order #PC-88213 has shipped",
    (
        Inbound(
            ("Papercraft Supplies", "orders@papercraft.example"),
            (6, "13:10"),
            "Good news, Carol! Your order #PC-88213 is on its way.\n\n"
            "2 x A5 dotted notebook, 1 x brush pen set\nTotal: EUR 34.80\n\n"
            "Track your parcel: https://papercraft.example/track/PC-88213",
            to=("carol",),
            html="<div style='font-family:Helvetica,Arial,sans-serif'><h2>Good news, Carol!</h2>"
            "<p>Your order <b>#PC-88213</b> is on its way.</p><table cellpadding='6'>"
            "<tr><td>2 × A5 dotted notebook</td><td>EUR 23.80</td></tr>"
            "<tr><td>1 × brush pen set</td><td>EUR 11.00</td></tr>"
            "<tr><td><b>Total</b></td><td><b>EUR 34.80</b></td></tr></table>"
            "<p><a href='https://papercraft.example/track/PC-88213'>Track your parcel</a></p></div>",
        ),
    ),
)

SIGN_IN = Conversation(
    "sign-in",
    "[Hubforge] A new sign-in to your account",
    (
        Inbound(
            ("Hubforge", "noreply@hubforge.example"),
            (0, "07:45"),
            "Hi alice-martin,\n\nWe noticed a new sign-in to your Hubforge account from Firefox on "
            "Linux (Lisbon, Portugal).\n\nIf this was you, you can ignore this message. If not, "
            "reset your password at https://hubforge.example/settings/security right away.\n\n"
            "The Hubforge team",
            to=("alice",),
        ),
    ),
)

DESK_SALE = Conversation(
    "desk-sale",
    "Flash sale: 40% off ergonomic chairs, today only",
    (
        Inbound(
            ("DeskHaus", "news@deskhaus.example"),
            (11, "12:00"),
            "Your back deserves better. 40% off every ergonomic chair until midnight.\n\n"
            "Shop now: https://deskhaus.example/sale",
            to=("alice",),
            headers=(("List-Unsubscribe", "<https://deskhaus.example/unsubscribe>"), ("Precedence", "bulk")),
        ),
    ),
)

GIFT_CARD = Conversation(
    "gift-card",
    "Congratulations!!! You have been selected for a $500 gift card",
    (
        Inbound(
            ("Prize Center", "winner@prize-center.example"),
            (2, "03:12"),
            "CONGRATULATIONS! You were selected to receive a $500 gift card. Claim it within 24 hours: "
            "http://prize-center.example/claim?id=88121",
            to=("bob",),
            folder=Folder.SPAM,
            authenticated=False,
        ),
    ),
)

OVERDUE = Conversation(
    "overdue",
    "URGENT: your invoice is overdue, action required",
    (
        Inbound(
            ("Accounts Department", "accounts@invoices-secure.example"),
            (1, "05:40"),
            "Dear customer, your invoice is overdue. Log in at http://invoices-secure.example/login "
            "within 24 hours to avoid suspension of your account.",
            to=("carol",),
            authenticated=False,
        ),
    ),
)

CONVERSATIONS = (
    OFFSITE,
    ONBOARDING,
    LUNCH,
    CONTRACT,
    BIRTHDAY,
    RETRO,
    RELEASE,
    PYCON,
    HUBFORGE,
    BYTE_212,
    BYTE_213,
    INVOICE,
    LAKE,
    MUM,
    SHIPPING,
    SIGN_IN,
    DESK_SALE,
    GIFT_CARD,
    OVERDUE,
)

DRAFTS = (
    Draft(
        "alice",
        (0, "07:30"),
        "Hi both,\n\nA first sketch for Q3, to discuss at the offsite:\n\n1. Mobile app beta\n"
        "2. Shared mailboxes for teams\n3. ",
        subject="Q3 roadmap (draft)",
        to=("bob", "carol"),
    ),
    Draft(
        "bob",
        (14, "18:10"),
        "Ideas for the afternoon: a walking tour of Alfama, or the tile museum? I'd vote for",
        to=("alice", "carol"),
        reply_to="offsite",
    ),
)

STATES = {
    "alice": MailboxState(
        labels=(
            LabelSpec("Work", WORK, ("offsite", "onboarding", "contract", "retro", "release", "pycon")),
            LabelSpec("Family", FAMILY, ("lake",)),
            LabelSpec("Receipts", RECEIPTS, ("invoice",)),
            LabelSpec("Newsletters", "#7c3aed", ("byte-212", "byte-213")),
            LabelSpec("Travel", "#0891b2", ("offsite",)),
        ),
        unread=("release", "sign-in", "byte-213", "retro"),
        starred=("offsite", "lake", "pycon"),
        archived=("byte-212",),
        trashed=("desk-sale",),
    ),
    "bob": MailboxState(
        labels=(
            LabelSpec("Work", WORK, ("offsite", "onboarding", "contract", "retro", "release", "pycon")),
            LabelSpec("Hubforge", "#0f766e", ("hubforge",)),
            LabelSpec("Personal", "#db2777", ("birthday", "lunch")),
        ),
        unread=("hubforge", "onboarding"),
        starred=("hubforge", "pycon"),
    ),
    "carol": MailboxState(
        labels=(
            LabelSpec("Work", WORK, ("offsite", "onboarding", "contract", "retro", "release")),
            LabelSpec("Family", FAMILY, ("mum",)),
            LabelSpec("Receipts", RECEIPTS, ("shipping",)),
        ),
        unread=("release", "mum"),
        starred=("mum", "contract"),
        spam=("overdue",),
    ),
}
