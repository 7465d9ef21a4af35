"""Reading mailbox files for import: mbox (mboxrd) and Maildir trees in a .zip or .tar.

Everything here streams: an mbox is read line by line and each message is
handed on as soon as it ends; an archive's members are read one at a time.
Only one message is in memory at once.

What is kept of a message is its bytes as they were written, with three
exceptions, all undoing the container and not the message:

- the ``From `` separator line is dropped, and one ``>`` is taken off a body
  line that reads ``>From `` (``>>From ``…): mboxrd quoting. (Python's own
  ``mailbox`` module does not un-quote anything; an mboxo file's genuine
  ``>From `` line loses its ``>``, which is rarer than the quoted ones.)
- the local-mailbox headers that carry flags (``Status``, ``X-Status``,
  ``X-Mozilla-Status``…, ``X-Gmail-Labels``, ``X-Keywords``) are read and
  removed from the top header section: they are state, which our items keep.
- line endings become CRLF, the form mail has on the wire and in the store.
"""

import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath

from mailboxes.models import Folder

_FROM_LINE = re.compile(rb"^From \S+ +\w{3} \w{3} +\d")
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)
_LINE_END = re.compile(rb"\r?\n")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MAILDIR_INFO = re.compile(r"[:!;]2,([A-Za-z]*)$")
_STATE_HEADERS = frozenset(
    {b"status", b"x-status", b"x-mozilla-status", b"x-mozilla-status2", b"x-mozilla-keys", b"x-gmail-labels",
     b"x-keywords", b"x-gm-thrid", b"x-uid", b"content-length", b"lines"}
)  # fmt: skip

# Folder names as mail programs spell them (lower-case, without "INBOX." or "[Gmail]/").
_FOLDER_NAMES = {
    Folder.INBOX: {"inbox"},
    Folder.SENT: {"sent", "sent items", "sent messages", "sent mail", "outbox"},
    Folder.DRAFTS: {"drafts", "draft"},
    Folder.ARCHIVE: {"archive", "archives", "all mail"},
    Folder.TRASH: {"trash", "deleted items", "deleted messages", "deleted", "bin"},
    Folder.SPAM: {"spam", "junk", "junk e-mail", "junk email", "bulk mail"},
}
_BY_NAME = {name: folder for folder, names in _FOLDER_NAMES.items() for name in names}
# Gmail's system labels that are no folder and no label of ours.
_GMAIL_IGNORED = {"important", "opened", "unread", "starred", "archived", "chat"}


@dataclass
class Entry:
    """One message read from the file, with what its container said about it."""

    raw: bytes
    folder: str | None = None  # ours; None: the one the user chose for the file
    labels: list[str] = field(default_factory=list)
    is_read: bool = False
    is_starred: bool = False
    is_draft: bool = False
    is_trashed: bool = False
    received_at: datetime | None = None
    error: str = ""  # set when the message could not be read (too large): counted as failed


def map_folder(name: str) -> tuple[str, str]:
    """(our folder, a label or "") for a folder name of another mail program; unknown ones are archived with a label."""
    clean = name.strip().strip("./").replace(".", "/")
    for prefix in ("inbox/", "[gmail]/", "[google mail]/"):
        if clean.lower().startswith(prefix) and clean.lower() != prefix.rstrip("/"):
            clean = clean[len(prefix) :]
    folder = _BY_NAME.get(clean.lower())
    if folder is not None:
        return folder, ""
    return Folder.ARCHIVE, clean[:100]


def read_source(path: str, *, max_message_bytes: int) -> Iterator[Entry]:
    """Every message of an uploaded file: a .zip or .tar (Maildir trees, mbox files), else one mbox (or one .eml)."""
    if zipfile.is_zipfile(path):
        yield from _read_zip(path, max_message_bytes=max_message_bytes)
    elif tarfile.is_tarfile(path):
        yield from _read_tar(path, max_message_bytes=max_message_bytes)
    else:
        with open(path, "rb") as stream:
            yield from read_mbox(stream, max_message_bytes=max_message_bytes)


def count_source(path: str) -> int:
    """How many messages ``read_source`` will yield, read without keeping any."""
    return sum(1 for _ in read_source(path, max_message_bytes=0))


# --- mbox ------------------------------------------------------------------------------


def read_mbox(stream, *, max_message_bytes: int, folder: str | None = None, labels=()) -> Iterator[Entry]:
    """The messages of an mbox file (binary stream). A file that does not start with ``From `` is one message.

    ``max_message_bytes`` 0 only counts (no bytes kept).
    """
    lines, size, from_line, previous_blank, started = [], 0, b"", True, False
    for line in stream:
        if line.startswith(b"From ") and (previous_blank or _FROM_LINE.match(line)) and (started or not lines):
            if started:
                yield _mbox_entry(lines, size, from_line, max_message_bytes, folder, labels)
            lines, size, from_line, started = [], 0, line, True
            previous_blank = False
            continue
        previous_blank = line in (b"\n", b"\r\n")
        size += len(line)
        if max_message_bytes and size <= max_message_bytes:
            lines.append(line)
        elif not max_message_bytes:
            lines = lines or [b""]  # counting: remember only that there was something
    if started or size:
        yield _mbox_entry(lines, size, from_line, max_message_bytes, folder, labels)


def _mbox_entry(lines, size, from_line, max_message_bytes, folder, labels) -> Entry:
    if not max_message_bytes:
        return Entry(raw=b"")
    if size > max_message_bytes:
        return Entry(raw=b"", error=f"a message of {size} bytes is larger than the limit")
    if lines and lines[-1] in (b"\n", b"\r\n"):
        lines = lines[:-1]  # the blank line that separates messages in an mbox
    raw = _QUOTED_FROM.sub(rb"\1", b"".join(lines))
    entry = Entry(raw=raw, folder=folder, labels=list(labels), received_at=_from_line_date(from_line))
    _read_state_headers(entry)
    return entry


def _from_line_date(line: bytes) -> datetime | None:
    parts = line.decode("ascii", "replace").split(None, 2)
    if len(parts) < 3:
        return None
    try:
        return datetime.strptime(" ".join(parts[2].split()[:5]), "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def _read_state_headers(entry: Entry) -> None:
    """Take the flag headers out of the message into the entry, and make its line endings CRLF."""
    raw = entry.raw
    end = _HEADER_END.search(raw)
    head, body = (raw[: end.start()], raw[end.start() :]) if end else (raw, b"")
    kept, values, current = [], {}, None
    for line in _LINE_END.split(head):
        if line[:1] in (b" ", b"\t") and current is not None:
            if current[0] in _STATE_HEADERS:
                values[current[0]] += b" " + line.strip()
                continue
            kept.append(line)
            continue
        name = line.split(b":", 1)[0].strip().lower()
        current = (name, line)
        if b":" in line and name in _STATE_HEADERS:
            values.setdefault(name, line.split(b":", 1)[1].strip())  # an export's own come first
        else:
            kept.append(line)
    entry.raw = _LINE_END.sub(b"\r\n", b"\r\n".join(kept) + body)
    status = values.get(b"status", b"").decode("ascii", "replace").upper()
    x_status = values.get(b"x-status", b"").decode("ascii", "replace").upper()
    entry.is_read = entry.is_read or "R" in status
    entry.is_starred = entry.is_starred or "F" in x_status
    entry.is_trashed = entry.is_trashed or "D" in x_status
    entry.is_draft = entry.is_draft or "T" in x_status
    mozilla = values.get(b"x-mozilla-status", b"").decode("ascii", "replace").strip()
    if re.fullmatch(r"[0-9A-Fa-f]{1,4}", mozilla):
        bits = int(mozilla, 16)
        entry.is_read = entry.is_read or bool(bits & 0x1)
        entry.is_starred = entry.is_starred or bool(bits & 0x4)
        entry.is_trashed = entry.is_trashed or bool(bits & 0x8)
    if b"x-gmail-labels" in values:
        _read_gmail_labels(entry, values[b"x-gmail-labels"].decode("utf-8", "replace"))


def _read_gmail_labels(entry: Entry, header: str) -> None:
    """Gmail's export names each message's labels; its system labels are folders and flags."""
    names = [name.strip().strip('"') for name in header.split(",") if name.strip()]
    lowered = {name.lower() for name in names}
    entry.is_read = "unread" not in lowered
    entry.is_starred = entry.is_starred or "starred" in lowered
    for folder in (Folder.TRASH, Folder.SPAM, Folder.DRAFTS, Folder.SENT, Folder.INBOX):
        if lowered & _FOLDER_NAMES[folder]:
            entry.folder = folder
            break
    else:
        entry.folder = Folder.ARCHIVE
    for name in names:
        low = name.lower()
        if low in _GMAIL_IGNORED or low in _BY_NAME or low.startswith(("category ", "imap_")):
            continue
        entry.labels.append(name[:100])


# --- Maildir and archives -----------------------------------------------------------------


def _maildir_place(member: str) -> tuple[str, str, str] | None:
    """For a Maildir file in an archive: (folder name, "cur"/"new", file name); None for anything else."""
    parts = PurePosixPath(member).parts
    if len(parts) < 2 or parts[-2] not in ("cur", "new"):
        return None
    folder = parts[-3] if len(parts) >= 3 and parts[-3].startswith(".") else "inbox"
    return folder, parts[-2], parts[-1]


def _maildir_entry(data: bytes, member: str, place, *, max_message_bytes: int) -> Entry:
    folder_name, subdir, name = place
    folder, label = map_folder(folder_name)
    if not max_message_bytes:
        return Entry(raw=b"")
    if len(data) > max_message_bytes:
        return Entry(raw=b"", error=f"{member}: {len(data)} bytes, larger than the limit")
    entry = Entry(raw=data, folder=folder, labels=[label] if label else [])
    info = _MAILDIR_INFO.search(name)
    flags = info.group(1) if info and subdir == "cur" else ""
    entry.is_read, entry.is_starred = "S" in flags, "F" in flags
    entry.is_trashed, entry.is_draft = "T" in flags, "D" in flags
    stamp = name.split(".", 1)[0]
    if stamp.isdigit():
        entry.received_at = datetime.fromtimestamp(int(stamp), tz=UTC)
    _read_state_headers(entry)
    return entry


def _archive_mbox(stream, member: str, *, max_message_bytes: int) -> Iterator[Entry]:
    """An mbox file inside an archive (Thunderbird's "Sent", "Trash"…: its name is the folder), or one .eml."""
    name = PurePosixPath(member).name
    folder, label = map_folder(name.removesuffix(".mbox")) if not name.endswith(".eml") else (None, "")
    # Copied to a temporary file first: an archive member's stream cannot be looked at twice.
    with tempfile.TemporaryFile() as copy:
        shutil.copyfileobj(stream, copy, 1024 * 1024)
        copy.seek(0)
        if copy.read(5) != b"From " and not name.endswith(".eml"):
            return  # not mail (an index, a note)
        copy.seek(0)
        yield from read_mbox(copy, max_message_bytes=max_message_bytes, folder=folder, labels=[label] if label else [])


def _skipped_member(name: str) -> bool:
    base = PurePosixPath(name).name
    in_tmp = "tmp" in PurePosixPath(name).parts[:-1]  # a Maildir's tmp/: messages still being written
    return base.startswith(".") or base.endswith((".msf", ".dat", ".json", ".html", ".txt")) or in_tmp


def _read_zip(path: str, *, max_message_bytes: int) -> Iterator[Entry]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if info.is_dir() or _skipped_member(info.filename):
                continue
            place = _maildir_place(info.filename)
            with archive.open(info) as stream:
                if place is not None:
                    data = stream.read(max_message_bytes + 1) if max_message_bytes else b""
                    yield _maildir_entry(data, info.filename, place, max_message_bytes=max_message_bytes)
                else:
                    yield from _archive_mbox(stream, info.filename, max_message_bytes=max_message_bytes)


def _read_tar(path: str, *, max_message_bytes: int) -> Iterator[Entry]:
    with tarfile.open(path) as archive:
        for info in archive:
            if not info.isfile() or _skipped_member(info.name):
                continue
            stream = archive.extractfile(info)
            if stream is None:
                continue
            place = _maildir_place(info.name)
            if place is not None:
                data = stream.read(max_message_bytes + 1) if max_message_bytes else b""
                yield _maildir_entry(data, info.name, place, max_message_bytes=max_message_bytes)
            else:
                yield from _archive_mbox(stream, info.name, max_message_bytes=max_message_bytes)
