"""The message store.

Content is separated from mailbox state: a ``Message`` is one physical RFC 5322
message whose exact bytes live in a content-addressed ``Blob``; each user who
has it holds a ``MailboxItem`` with its own folder, labels, flags and thread.
"""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.bulk import insert_objects


class Folder(models.TextChoices):
    INBOX = "inbox", "Inbox"
    SENT = "sent", "Sent"
    DRAFTS = "drafts", "Drafts"
    ARCHIVE = "archive", "Archive"
    SPAM = "spam", "Spam"
    TRASH = "trash", "Trash"


class Blob(models.Model):
    """Bytes in the mail store, named by their SHA-256 so equal content is kept once."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.sha256[:12]}… ({self.size} bytes)"

    @property
    def storage_key(self) -> str:
        return f"blobs/{self.sha256[:2]}/{self.sha256[2:4]}/{self.sha256}"


class Message(models.Model):
    """One physical message; the raw bytes in ``blob`` are the source of truth."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        PARTIALLY_FAILED = "partially_failed", "Partially failed"
        FAILED = "failed", "Failed"
        RECEIVED = "received", "Received"

    class Stream(models.TextChoices):
        """What kind of sending an outgoing message is, which decides which suppression entries bind it.

        A person's own mail is tried anyway; a service's transactional mail is
        held to the global entries (hard bounces, complaints); marketing and
        other bulk mail to every scope that covers it.
        """

        PERSONAL = "personal", "Personal (a person writing)"
        TRANSACTIONAL = "transactional", "Transactional (a service's receipts, resets, notices)"
        BULK = "bulk", "Bulk or marketing"

    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="messages")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="authored_messages",
        help_text="The hosted user who wrote it, for mail sent from here.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    stream = models.CharField(max_length=13, choices=Stream.choices, default=Stream.PERSONAL)
    # Message-IDs are stored without angle brackets, as threading compares them.
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.JSONField(default=list, blank=True)
    subject = models.TextField(blank=True)
    from_name = models.CharField(max_length=300, blank=True)
    from_address = models.CharField(max_length=320, blank=True)
    to = models.JSONField(default=list, blank=True, help_text='[{"name": ..., "address": ...}]')
    cc = models.JSONField(default=list, blank=True)
    date = models.DateTimeField(null=True, blank=True, help_text="The Date header, if it parsed.")
    size = models.BigIntegerField()
    snippet = models.CharField(max_length=300, blank=True)
    has_attachments = models.BooleanField(default=False)
    headers = models.JSONField(default=dict, blank=True, help_text="Selected headers, decoded.")
    parse_defects = models.JSONField(default=list, blank=True)
    # What the author wrote, without the headers added in transit (``parsing.content_fingerprint``):
    # a received message repeating the Message-ID *and* this is a second copy of one the user holds.
    content_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When its sender was told that delivery to some recipient was still being tried (once per message).
    delay_notice_sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return self.subject or "(no subject)"

    @property
    def body_location(self) -> str:
        return self.blob.storage_key


class Recipient(models.Model):
    """One envelope recipient of an outgoing message, and where its delivery stands."""

    class Kind(models.TextChoices):
        TO = "to", "To"
        CC = "cc", "Cc"
        BCC = "bcc", "Bcc"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        DEFERRED = "deferred", "Deferred"
        BOUNCED = "bounced", "Bounced"
        SUPPRESSED = "suppressed", "Suppressed"
        FAILED = "failed", "Failed (dead letter)"

    class Queue(models.TextChoices):
        TRANSACTIONAL = "transactional", "Transactional"
        BULK = "bulk", "Bulk"

    PENDING_STATUSES = frozenset({Status.QUEUED, Status.SENDING, Status.DEFERRED})
    FINAL_STATUSES = frozenset({Status.SENT, Status.DELIVERED, Status.BOUNCED, Status.SUPPRESSED, Status.FAILED})
    FAILED_STATUSES = frozenset({Status.BOUNCED, Status.SUPPRESSED, Status.FAILED})

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="recipients")
    address = models.CharField(max_length=320)
    name = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=3, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The hosted user it was delivered to locally.",
    )
    domain = models.CharField(max_length=253, help_text="Destination domain, lower-case ASCII.")
    queue = models.CharField(max_length=16, choices=Queue.choices, default=Queue.TRANSACTIONAL)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Bounced if still undelivered by then.")
    # A worker's claim: while the lease runs nobody else touches the row; a
    # lease that runs out (a killed worker) is taken back by the reconciler.
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    enhanced_status = models.CharField(max_length=16, blank=True)
    response = models.TextField(blank=True, help_text="The remote server's reply or the local outcome.")
    remote_host = models.CharField(max_length=255, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True, help_text="The ESP's id, for its webhooks.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint("message", Lower("address"), name="recipient_unique_per_message"),
        ]
        indexes = [
            # What a claim reads: due rows in next_attempt_at order; the sent ones (most) stay out of it.
            models.Index(
                fields=["next_attempt_at", "id"],
                name="recipient_due",
                condition=models.Q(status__in=["queued", "deferred"]),
            ),
            models.Index(fields=["domain", "last_attempt_at"], name="recipient_domain_recent"),
            models.Index(fields=["provider_message_id"], name="recipient_provider_id"),
        ]

    def __str__(self):
        return f"{self.kind}: {self.address} ({self.status})"


class Upload(models.Model):
    """A file a user uploaded to attach to a message they are writing."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads")
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="uploads")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return self.filename


class Label(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=7, default="#64748b", help_text="#rrggbb")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("user", Lower("name"), name="label_name_unique_per_user"),
        ]

    def __str__(self):
        return self.name


class Thread(models.Model):
    """A conversation in one user's mailbox; its counters are kept by the services."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="threads")
    subject = models.TextField(blank=True)
    # Normalised subject (no Re:/Fwd:/[list] prefixes, case-folded) for the
    # fallback used only when a message has no In-Reply-To/References.
    subject_key = models.CharField(max_length=255, blank=True)
    # True while the thread's first message is a reply whose parent we lack:
    # the parent may still arrive without headers and must join it.
    starts_with_reply = models.BooleanField(default=False)
    latest_at = models.DateTimeField(default=timezone.now)
    message_count = models.PositiveIntegerField(default=0)
    unread_count = models.PositiveIntegerField(default=0)
    # How many of its items are in the Inbox and awake (not snoozed): kept by database triggers
    # (migration 0018), never written by Python, so that the Inbox lists its conversations from
    # the partial index below instead of probing the items of every archived one.
    inbox_count = models.IntegerField(default=0, db_default=0, editable=False)
    # How many are starred outside the Trash (the star a list shows), kept by the same triggers.
    starred_count = models.IntegerField(default=0, db_default=0, editable=False)
    senders = models.JSONField(default=list, blank=True, help_text='[{"name": ..., "address": ...}] in order')
    addresses = models.JSONField(default=list, blank=True, help_text="Every participant address, lower-case.")
    snippet = models.CharField(max_length=300, blank=True)
    has_attachments = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    # Set by search on the conversations it lists (the matching excerpt). A default here spares the
    # list template a failed lookup per row (Django's template engine falls back to dir() on a miss).
    search_snippet = ""

    class Meta:
        indexes = [
            models.Index(fields=["user", "-latest_at"], name="thread_user_latest"),
            # The Inbox in its keyset order: only conversations with an Inbox item, whatever the archive holds.
            models.Index(
                fields=["user", "-latest_at", "-id"], name="thread_user_inbox", condition=models.Q(inbox_count__gt=0)
            ),
            models.Index(fields=["user", "subject_key"], name="thread_user_subject"),
        ]

    def __str__(self):
        return self.subject or "(no subject)"


class ThreadKey(models.Model):
    """A Message-ID known to belong to a thread: its messages' own IDs and every ID they reference.

    A message joins the thread holding any of its keys, so a reply that arrives
    before its parent still meets it, and two threads sharing a key merge.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="keys")
    message_key = models.CharField(max_length=998)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "message_key"], name="threadkey_unique_per_user"),
        ]

    def __str__(self):
        return self.message_key


class MailboxItem(models.Model):
    """A message as one user sees it: folder, labels, flags, thread.

    A user holds at most one received and one sent copy of a message (both when
    writing to oneself), each with independent state.
    """

    class Origin(models.TextChoices):
        RECEIVED = "received", "Received"
        SENT = "sent", "Sent"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mailbox_items")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="items")
    # RESTRICT: a thread cannot vanish under its items, but deleting a user takes both.
    thread = models.ForeignKey(Thread, on_delete=models.RESTRICT, related_name="items")
    origin = models.CharField(max_length=8, choices=Origin.choices)
    folder = models.CharField(max_length=10, choices=Folder.choices)
    previous_folder = models.CharField(
        max_length=10, choices=Folder.choices, blank=True, help_text="Where Restore puts it back."
    )
    is_read = models.BooleanField(default=False)
    is_starred = models.BooleanField(default=False)
    labels = models.ManyToManyField(Label, blank=True, related_name="items")
    received_at = models.DateTimeField(default=timezone.now)
    # A draft the user has sent, held back until then so that "Undo" can take it back.
    send_at = models.DateTimeField(null=True, blank=True)
    # send_at was picked by the user ("Schedule send"), not the undo window: no Undo toast, listed in Scheduled.
    send_scheduled = models.BooleanField(default=False)

    # Snoozed: out of the Inbox until then (mailboxes.services.snooze wakes it).
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # When it last woke from a snooze: its conversation is listed as of then (``refresh_thread``).
    woke_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # How many labels it carries: kept by database triggers on the labels' table (migration 0019),
    # never written by Python, so that a list page looks up labels only for items that have some.
    label_count = models.IntegerField(default=0, db_default=0, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "message", "origin"], name="item_one_copy_per_origin"),
        ]
        indexes = [
            models.Index(fields=["user", "folder", "-received_at"], name="item_user_folder_recent"),
            models.Index(fields=["thread", "received_at"], name="item_thread_time"),
            models.Index(fields=["send_at"], name="item_send_due", condition=models.Q(send_at__isnull=False)),
            models.Index(
                fields=["snoozed_until"], name="item_snooze_due", condition=models.Q(snoozed_until__isnull=False)
            ),
            # Unread counts read only the unread rows, however big the mailbox.
            models.Index(
                fields=["user", "folder", "is_starred"], name="item_user_unread", condition=models.Q(is_read=False)
            ),
            # The star of each conversation in a list: only starred rows, probed by thread.
            models.Index(
                fields=["user", "thread"],
                name="item_user_starred",
                condition=models.Q(is_starred=True) & ~models.Q(folder="trash"),
            ),
            # The labels of each conversation in a list: only labelled rows, probed by thread (id for the join).
            models.Index(
                fields=["thread", "id"],
                name="item_thread_labelled",
                condition=models.Q(label_count__gt=0) & ~models.Q(folder="trash"),
            ),
        ]

    def __str__(self):
        return f"{self.user} / {self.folder} / {self.message}"


class Attachment(models.Model):
    class ScanStatus(models.TextChoices):
        NOT_SCANNED = "not_scanned", "Not scanned"
        CLEAN = "clean", "Clean"
        WARNING = "warning", "Delivered with a warning"
        BLOCKED = "blocked", "Held back"  # the message was delivered, this attachment cannot be downloaded
        INFECTED = "infected", "Infected"

    class ScanReason(models.TextChoices):
        """Why an attachment is held back or comes with a warning, told to the recipient.

        The values are the virus scanner's (``inbound.filters.virus.ATTACHMENT_REASONS``).
        """

        NONE = "", ""
        PROGRAM = "program", _("it is a program or a file type that runs programs, and could harm your computer")
        SCRIPT = "script", _("it is a script: run it only if you trust the sender")
        MACRO = "macro", _("it is a document with macros, which can run code when it is opened")
        ACTIVE_CONTENT = "active_content", _("it opens or builds other files when it is opened")

    # Unavailable to download: held back by the scanner.
    UNAVAILABLE = frozenset({ScanStatus.BLOCKED, ScanStatus.INFECTED})

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    blob = models.ForeignKey(Blob, on_delete=models.PROTECT, related_name="attachments")
    position = models.PositiveSmallIntegerField(help_text="Order among the message's attachments.")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.BigIntegerField()
    content_id = models.CharField(max_length=255, blank=True)
    is_inline = models.BooleanField(default=False)
    scan_status = models.CharField(max_length=12, choices=ScanStatus.choices, default=ScanStatus.NOT_SCANNED)
    scan_reason = models.CharField(max_length=20, choices=ScanReason.choices, blank=True, default=ScanReason.NONE)

    class Meta:
        ordering = ["message", "position"]
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="attachment_position_unique"),
        ]

    def __str__(self):
        return self.filename

    @property
    def sha256(self) -> str:
        return self.blob_id

    @property
    def is_available(self) -> bool:
        """Whether it may be downloaded or previewed (not held back by the virus scanner)."""
        return self.scan_status not in self.UNAVAILABLE


class MailboxChange(models.Model):
    """An append-only feed of what changed in a user's mailbox, read by whoever needs to follow it.

    Each change is recorded here in the same transaction as the change itself,
    so the search indexer and the push watcher (each keeping its own cursor)
    see every change, eventually. Ids are taken at insert, not at commit: a
    follower must not take "highest id seen" as "everything below was seen"
    (both remember the ids they passed that were not there yet). Push follows
    ``NEW`` for notices and any kind for refreshes; search follows them all.
    """

    class Kind(models.TextChoices):
        NEW = "new", "New message"
        UPDATED = "updated", "Content changed"  # a draft saved again
        STATE = "state", "Folder, labels or flags changed"
        DELETED = "deleted", "Deleted"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    item_id = models.BigIntegerField(help_text="MailboxItem id (not a key: the item may be gone later).")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "id"], name="change_user_cursor")]

    def __str__(self):
        return f"{self.kind} item {self.item_id}"

    @classmethod
    def record(cls, *, user_id: int, item_ids, kind: str) -> None:
        """One change of ``kind`` per item, in one INSERT; call it inside the transaction that made the change."""
        insert_objects([cls(user_id=user_id, item_id=pk, kind=kind) for pk in dict.fromkeys(item_ids)])

    @classmethod
    def record_items(cls, items, *, kind: str) -> None:
        """``record`` for saved items of any users: one change of ``kind`` per item, in one INSERT."""
        unique = {item.pk: item for item in items}.values()
        insert_objects([cls(user_id=item.user_id, item_id=item.pk, kind=kind) for item in unique])


class ImportJob(models.Model):
    """A mailbox file (mbox, or a Maildir tree in a .zip/.tar) a user uploaded, imported in the background.

    ``done`` counts the messages handled so far (imported, skipped as already held, or failed), in the
    file's order: a job resumed after a crash skips that many and carries on.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Finished")
        FAILED = "failed", _("Failed")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_jobs")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    filename = models.CharField(max_length=255)
    upload_key = models.CharField(max_length=255, help_text="The uploaded file in default storage, until done.")
    size = models.BigIntegerField(default=0)
    folder = models.CharField(
        max_length=10, choices=Folder.choices, default=Folder.INBOX, help_text="Where a plain mbox file goes."
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0, help_text="Already in the mailbox.")
    failed = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first few problems, for the user.")
    # A run's claim, renewed by each batch: a run whose worker died is taken over once it runs out.
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "-created_at"], name="importjob_user_recent")]

    def __str__(self):
        return f"{self.filename} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(100, self.done * 100 // self.total) if self.total else 0

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class UndoableAction(models.Model):
    """What one action of a user changed, so that "Undo" can put each item back exactly.

    ``changes`` maps an item id to ``{field: [before, after]}`` (``label:<id>``
    for a label added or removed). Undo restores only the fields still as the
    action left them, and deletes the row: it works once, for a short while
    (``WEBMAIL_ACTION_UNDO_SECONDS``).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20)
    changes = models.JSONField(default=dict)
    # Spam training to put back: {message_id: "spam" | "ham" | null}, as it was before.
    training = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return f"{self.kind} by {self.user_id} at {self.created_at:%Y-%m-%d %H:%M:%S}"


class Identity(models.Model):
    """How one of the user's own addresses signs its mail: display name and signature.

    One row per owned ``accounts.Address`` (primary or alias), created the first time the user's
    identities are read (``mailboxes.services.identities.identities_of``).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identities")
    address = models.OneToOneField("accounts.Address", on_delete=models.CASCADE, related_name="identity")
    display_name = models.CharField(max_length=200, blank=True, help_text="Empty: the user's own name.")
    signature = models.TextField(blank=True, max_length=2000, help_text="Plain text, added below the message.")
    is_default = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(is_default=True), name="identity_one_default_per_user"
            ),
        ]

    def __str__(self):
        return str(self.address)


class Correspondent(models.Model):
    """Someone the user wrote to or heard from: what compose's address suggestions read.

    Kept by the send and placement services (``mailboxes.services.correspondents``) so a
    suggestion reads the user's own rows only (index ``user, address``), never the mailbox.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=320, help_text="Lower-case.")
    name = models.CharField(max_length=300, blank=True)
    sent_count = models.PositiveIntegerField(default=0)
    received_count = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "address"], name="correspondent_unique_per_user"),
        ]

    def __str__(self):
        return self.address


class TrustedImageSender(models.Model):
    """ "Always show images from this sender": one user's trust in one From address.

    Only honoured for mail whose From address is authenticated (see ``mailboxes.images``):
    anyone can write any From, so trusting an address must not let a forger load a tracker.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=320, help_text="The From address, lower-case.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "address"], name="trusted_image_sender_unique"),
        ]

    def __str__(self):
        return f"{self.user_id}: {self.address}"


class MailboxCounter(models.Model):
    """How many items a user has in one folder, starred or under one label: kept by database triggers.

    ``key`` is a folder's value, ``"starred"`` (starred items outside the Trash) or ``"label:<id>"``
    (items carrying the label, outside the Trash). ``unread_awake`` counts the unread items that are
    not snoozed (what the sidebar shows). Triggers on ``MailboxItem`` and its labels keep the rows as
    any write changes an item's folder, flags, snooze or labels, including bulk ``update()`` and
    cascading deletes (migration 0017); ``manage.py recount_mailboxes`` rebuilds them from the items.
    Nothing in Python writes them but the recount.
    """

    STARRED = "starred"
    LABEL_PREFIX = "label:"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=40)
    total = models.BigIntegerField(default=0)
    unread = models.BigIntegerField(default=0)
    unread_awake = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="counter_one_per_user_key")]

    def __str__(self):
        return f"{self.user_id} / {self.key}: {self.unread}/{self.total}"
