"""Virus scanners: a built-in one that needs no service, and a ClamAV (clamd) adapter.

Configured by ``INBOUND_VIRUS_SCANNER`` (shaped like ``CACHES``)::

    INBOUND_VIRUS_SCANNER = {"BACKEND": "inbound.filters.virus.ClamdScanner",
                             "OPTIONS": {"URL": "tcp://clamav:3310"}}

A scanner never raises. A verdict with ``error`` set means the message was not
(fully) scanned: ``infected`` is then False, and the caller decides. The
inbound pipeline should treat it as a temporary failure (defer and retry)
rather than deliver unscanned mail, so a clamd outage delays mail instead of
letting malware through.

Each finding says what to do about it, as Gmail does: ``quarantine`` the whole
message only for what is known bad (EICAR, clamd signatures, executables
disguised by name or type, archive bombs, encrypted archives holding
executables); ``block`` just the attachment for merely risky types (programs,
macros, active content); ``warn`` and deliver it for scripts (a ``.py`` or a
``.sh`` in a list post is no virus).
"""

import bz2
import io
import logging
import lzma
import re
import socket
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

from inbound.filters import build_backend
from mailboxes.parsing import ParsedMessage, parse_message

logger = logging.getLogger(__name__)

__all__ = [
    "BuiltinScanner",
    "ClamdScanner",
    "VirusScanner",
    "VirusVerdict",
    "get_virus_scanner",
]

DEFAULT_BACKEND = "inbound.filters.virus.BuiltinScanner"

# Split so that this source file is not itself the test file to other scanners.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
_EICAR_TEXT = EICAR.decode("ascii")

# Verdict names, in ClamAV's style.
EICAR_NAME = "Eicar-Test-Signature"
ARCHIVE_BOMB = "Archive.Bomb"
EXE_PE = "Exe.PE.Attachment"
EXE_DOS = "Exe.DOS.Attachment"
EXE_ELF = "Exe.ELF.Attachment"
EXE_MACHO = "Exe.MachO.Attachment"
EXE_JAVA = "Exe.JavaClass.Attachment"
EXE_DEX = "Exe.DEX.Attachment"
EXE_LNK = "Exe.LNK.Attachment"
SCRIPT_SHEBANG = "Script.Shebang.Attachment"
SCRIPT_WSH = "Script.WSH.Attachment"
SCRIPT_ENCODED = "Script.Encoded.Attachment"
SCRIPT_HTA = "Script.HTA.Attachment"
SCRIPT_POWERSHELL = "Script.PowerShell.Attachment"
SCRIPT_BATCH = "Script.Batch.Attachment"
HTML_SMUGGLING = "Html.Smuggling.Attachment"
MACRO_OOXML = "Doc.Macro.OOXML"
MACRO_OLE2 = "Doc.Macro.OLE2"
PDF_LAUNCH = "Doc.PDF.Launch"
DANGEROUS_EXTENSION = "Heuristics.Executable.Extension"
RTLO_FILENAME = "Heuristics.Filename.RTLO"
DOUBLE_EXTENSION = "Heuristics.Filename.DoubleExtension"
TYPE_MISMATCH = "Heuristics.Filename.TypeMismatch"
ENCRYPTED_EXECUTABLE = "Heuristics.Encrypted.Executable"

# What a finding asks for, the strongest first.
QUARANTINE = "quarantine"  # the whole message is kept out of every mailbox
BLOCK = "block"  # the message is delivered, that attachment held back
WARN = "warn"  # the message and the attachment are delivered, with a warning
ACTIONS = (QUARANTINE, BLOCK, WARN)

# Why an attachment is held back or comes with a warning, for the recipient
# (``mailboxes.models.Attachment.ScanReason``), by finding name.
PROGRAM, SCRIPT, MACRO, ACTIVE_CONTENT = "program", "script", "macro", "active_content"
ATTACHMENT_REASONS = {
    **dict.fromkeys([EXE_PE, EXE_DOS, EXE_ELF, EXE_MACHO, EXE_JAVA, EXE_DEX, EXE_LNK, DANGEROUS_EXTENSION], PROGRAM),
    **dict.fromkeys([SCRIPT_SHEBANG, SCRIPT_WSH, SCRIPT_ENCODED, SCRIPT_HTA, SCRIPT_POWERSHELL, SCRIPT_BATCH], SCRIPT),
    **dict.fromkeys([MACRO_OOXML, MACRO_OLE2], MACRO),
    **dict.fromkeys([PDF_LAUNCH, HTML_SMUGGLING], ACTIVE_CONTENT),
}

# Names a mail client or Windows runs (or installs) when opened, whatever is inside.
DANGEROUS_EXTENSIONS = frozenset(
    [
        "exe",
        "scr",
        "pif",
        "com",
        "cpl",
        "msi",
        "msp",
        "msc",
        "jar",
        "js",
        "jse",
        "vbs",
        "vbe",
        "wsf",
        "wsh",
        "wsc",
        "hta",
        "bat",
        "cmd",
        "ps1",
        "psm1",
        "lnk",
        "reg",
        "scf",
        "application",
        "gadget",
        "appx",
        "appxbundle",
        "msix",
        "appref-ms",
        "chm",
        "dll",
        "sct",
        "jnlp",
        "xll",
        "shb",
        # Disk images: opened with a double click, and their contents escape Windows' download marking.
        "iso",
        "img",
        "vhd",
        "vhdx",
    ]
)
# Names of harmless documents: an executable called so (or a dangerous name after one) is disguised.
DOCUMENT_EXTENSIONS = frozenset(
    "pdf doc docx xls xlsx ppt pptx odt ods odp rtf txt csv md jpg jpeg png gif bmp tif tiff webp heic svg "  # noqa: SIM905
    "mp3 mp4 m4a wav avi mov mkv html htm eml zip rar 7z".split()
)
# Declared types of harmless documents: an executable sent as one is disguised. (Not text/*: scripts travel so.)
DOCUMENT_TYPES = ("application/pdf", "image/", "audio/", "video/", "application/msword", "application/rtf",
                  "application/vnd.ms-", "application/vnd.openxmlformats",
                  "application/vnd.oasis.opendocument")  # fmt: skip

_CHUNK = 64 * 1024
_OUTPUT_STEP = 256 * 1024
_TEXT_SNIFF = 256 * 1024  # script heuristics look at this much of a file
_LNK_HEADER = bytes.fromhex("4c0000000114020000000000c000000000000046")
_MACHO = (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
_OLE2 = bytes.fromhex("d0cf11e0a1b11ae1")
_VBA_PROJECT = "_VBA_PROJECT".encode("utf-16-le")
_WSH_MARKERS = (
    b"wscript.shell",
    b"wscript.createobject",
    b"wscript.echo",
    b"wscript.sleep",
    b"shell.application",
    b"scripting.filesystemobject",
    b"adodb.stream",
    b'activexobject("wscript',
    b"activexobject('wscript",
    b'activexobject("scripting',
    b"activexobject('scripting",
    b'activexobject("shell',
    b"activexobject('shell",
)
_POWERSHELL_LAUNCH = re.compile(
    rb"powershell(?:\.exe)?\b[^\n]{0,200}?(?:\s-e(?:nc|ncodedcommand)?\s|-w(?:indowstyle)?\s+hidden|-nop\b)"
)
_POWERSHELL_DOWNLOAD = re.compile(rb"(?:\biex\b|invoke-expression)[^\n]{0,400}?(?:downloadstring|frombase64string)")
_DOWNLOAD_THEN_IEX = re.compile(rb"(?:downloadstring|net\.webclient)[^\n]{0,400}?(?:\biex\b|invoke-expression)")


@dataclass(frozen=True)
class VirusVerdict:
    """The outcome of scanning one message.

    ``infected`` means quarantine: some finding's action is ``quarantine``, and
    ``names`` are those findings' names. ``error`` set means not (fully)
    scanned: treat it as a temporary failure. ``findings`` say where each name
    was found and what to do: ``{"name", "where", "attachment", "action"}``,
    ``attachment`` the index in ``ParsedMessage.attachments`` (None for the
    body or the whole message). ``notes`` are things worth telling an operator
    that are not infections (encrypted archives, unsupported formats, limits
    reached). Every field is JSON-safe.
    """

    infected: bool
    names: list[str]
    scanner: str
    error: str = ""
    findings: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing found, and all of it scanned."""
        return not self.infected and not self.error and not self.findings

    def attachment_actions(self) -> dict[int, tuple[str, str]]:
        """``{attachment index: (action, reason)}`` for the attachments to block or warn about.

        The strongest action per attachment, with the reason (``ATTACHMENT_REASONS``) of the first finding asking
        for it. A message with a ``quarantine`` finding is not delivered at all: those are left out.
        """
        found = {}
        for finding in self.findings:
            index, action = finding.get("attachment"), finding.get("action", QUARANTINE)
            if index is None or action == QUARANTINE:
                continue
            if index not in found or ACTIONS.index(action) < ACTIONS.index(found[index][0]):
                found[index] = (action, ATTACHMENT_REASONS.get(finding["name"], PROGRAM))
        return found


class VirusScanner:
    """The scanner contract: ``scan`` returns a verdict and never raises."""

    name = "base"

    def scan(self, *, raw: bytes, parsed: ParsedMessage) -> VirusVerdict:
        raise NotImplementedError

    def close(self) -> None:
        """Release connections (nothing to release by default)."""


def get_virus_scanner() -> VirusScanner:
    """The configured scanner (``INBOUND_VIRUS_SCANNER``), the built-in one by default."""
    config = getattr(settings, "INBOUND_VIRUS_SCANNER", None) or {}
    return build_backend(config, default_backend=DEFAULT_BACKEND)


# --- the built-in scanner -----------------------------------------------------------


@dataclass(frozen=True)
class ScanLimits:
    max_scan_bytes: int = 64 * 1024 * 1024  # decompressed in total per message; the rest is not scanned
    max_file_bytes: int = 16 * 1024 * 1024  # decompressed per archive member; a longer one is scanned in part
    max_total_uncompressed: int = 256 * 1024 * 1024  # archive contents (declared or real) above: a bomb
    max_ratio: int = 100  # uncompressed : compressed above which a member over ratio_floor is a bomb
    ratio_floor: int = 1024 * 1024
    max_depth: int = 5  # archives (and attached messages) within each other
    max_entries: int = 2000  # archive members in one message


class _Scan:
    """What one scan has found and spent so far."""

    def __init__(self, limits: ScanLimits):
        self.limits = limits
        self.findings: list[dict] = []
        self.notes: list[str] = []
        self.inflated = 0  # bytes decompressed so far
        self.declared = 0  # archive members' declared sizes so far
        self.entries = 0
        self.bomb = False

    def found(self, name: str, where: str, attachment: int | None, action: str = QUARANTINE) -> None:
        finding = {"name": name, "where": where, "attachment": attachment, "action": action}
        if finding not in self.findings:
            self.findings.append(finding)

    def note(self, text: str) -> None:
        if text not in self.notes and len(self.notes) < 50:
            self.notes.append(text)

    def found_bomb(self, where: str, attachment: int | None, why: str) -> None:
        self.bomb = True
        self.found(ARCHIVE_BOMB, where, attachment)
        self.note(f"{where}: {why}")

    @property
    def budget(self) -> int:
        return max(0, self.limits.max_scan_bytes - self.inflated)


class BuiltinScanner(VirusScanner):
    """Finds the EICAR test file, executables and scripts by content, Office macros and archive bombs.

    Looks inside attachments, attached messages and archives (zip, gzip, bzip2,
    xz, tar; nested up to ``MAX_DEPTH``). No signature database: it is a policy
    filter for what mail should never carry, not a replacement for ClamAV.

    Quarantined: EICAR, archive bombs, a right-to-left override in a file name,
    and executables disguised: by content under a document's name or type
    (``invoice.pdf`` that is a PE file), by a double extension
    (``invoice.pdf.exe``), by a dangerous name sent as a document type, or
    inside an encrypted archive. Blocked (the attachment only): programs
    honestly named, Office macros, PDF launch actions, HTML smuggling. Warned
    about: scripts recognised by content (shebang, WSH, PowerShell, batch…)
    under a name that does not run them.

    Options: ``MAX_SCAN_BYTES``, ``MAX_FILE_BYTES``, ``MAX_TOTAL_UNCOMPRESSED``,
    ``MAX_RATIO``, ``RATIO_FLOOR``, ``MAX_DEPTH``, ``MAX_ENTRIES`` (see
    ``ScanLimits``); ``BLOCK_MACROS`` (default True) and
    ``BLOCK_DANGEROUS_EXTENSIONS`` (default True: ``.exe``, ``.js``, ``.lnk``…
    are blocked by name too, even where the content cannot be recognised).
    """

    name = "builtin"

    def __init__(self, *, BLOCK_MACROS=True, BLOCK_DANGEROUS_EXTENSIONS=True, **limits):
        self.block_macros = BLOCK_MACROS
        self.block_extensions = BLOCK_DANGEROUS_EXTENSIONS
        self.limits = ScanLimits(**{key.lower(): value for key, value in limits.items()})

    def scan(self, *, raw: bytes, parsed: ParsedMessage) -> VirusVerdict:
        state = _Scan(self.limits)
        try:
            if EICAR in raw:  # also when the parser could not make sense of the message
                state.found(EICAR_NAME, "message", None)
            self._scan_message(state, parsed, where="", depth=0, attachment=None)
        except Exception as exc:  # a bug here must not lose mail: report it as unscanned
            logger.exception("built-in virus scan failed")
            return VirusVerdict(
                infected=False, names=[], scanner=self.name, error=f"scan failed: {exc.__class__.__name__}: {exc}"
            )
        names = list(dict.fromkeys(f["name"] for f in state.findings if f["action"] == QUARANTINE))
        return VirusVerdict(
            infected=bool(names), names=names, scanner=self.name, findings=state.findings, notes=state.notes
        )

    # -- messages and parts --

    def _scan_message(self, state: _Scan, parsed: ParsedMessage, *, where: str, depth: int, attachment) -> None:
        if _EICAR_TEXT in parsed.text or _EICAR_TEXT in parsed.html:
            state.found(EICAR_NAME, f"{where}body" if where else "body", attachment)
        for index, part in enumerate(parsed.attachments):
            if state.bomb:
                return
            position = index if attachment is None else attachment
            label = f"{where}{part.filename}"
            if part.content_type in ("message/rfc822", "message/global"):
                if EICAR in part.content:
                    state.found(EICAR_NAME, label, position)
                if depth >= self.limits.max_depth:
                    state.found_bomb(label, position, "attached messages nested too deeply")
                    return
                inner = parse_message(part.content)
                self._scan_message(state, inner, where=f"{label} › ", depth=depth + 1, attachment=position)
                continue
            self._check_name(state, part.filename, label, position, declared_type=part.content_type)
            self._inspect(
                state,
                part.content,
                name=part.filename,
                where=label,
                depth=depth,
                attachment=position,
                declared_type=part.content_type,
            )

    def _check_name(self, state: _Scan, name: str, where: str, attachment, *, declared_type: str = "") -> None:
        if "\u202e" in name:  # right-to-left override: "invoice\u202efdp.exe" shows as "invoiceexe.pdf"
            state.found(RTLO_FILENAME, where, attachment)
        extensions = _extensions(name)
        if not (self.block_extensions and extensions and extensions[-1] in DANGEROUS_EXTENSIONS):
            return
        if len(extensions) > 1 and extensions[-2] in DOCUMENT_EXTENSIONS:
            state.found(DOUBLE_EXTENSION, where, attachment)
        elif declared_type.startswith(DOCUMENT_TYPES):
            state.found(TYPE_MISMATCH, where, attachment)
        else:
            state.found(DANGEROUS_EXTENSION, where, attachment, BLOCK)

    def _inspect(
        self, state: _Scan, data: bytes, *, name: str, where: str, depth: int, attachment, declared_type: str = ""
    ) -> None:
        """Look at one file's content: what it really is, whatever it is called."""
        if EICAR in data:
            state.found(EICAR_NAME, where, attachment)
        kind = _sniff(data)
        if kind in _EXECUTABLE_NAMES:
            disguised = _last_extension(name) in DOCUMENT_EXTENSIONS or declared_type.startswith(DOCUMENT_TYPES)
            state.found(_EXECUTABLE_NAMES[kind], where, attachment, QUARANTINE if disguised else BLOCK)
            return
        if kind in ("zip", "tar", "gzip", "bzip2", "xz"):
            if depth >= self.limits.max_depth:
                state.found_bomb(where, attachment, "archives nested too deeply")
                return
            if kind == "zip":
                self._scan_zip(state, data, where=where, depth=depth, attachment=attachment)
            elif kind == "tar":
                self._scan_tar(state, data, where=where, depth=depth, attachment=attachment)
            else:
                inner = self._inflate(state, data, kind, where=where, attachment=attachment)
                if inner is not None:
                    inner_name = re.sub(r"\.(gz|tgz|bz2|tbz2?|xz|txz)$", "", name, flags=re.IGNORECASE)
                    inner_where = f"{where} › {inner_name or 'content'}"
                    self._inspect(
                        state, inner, name=inner_name, where=inner_where, depth=depth + 1, attachment=attachment
                    )
            return
        if kind == "ole2":
            if self.block_macros and _VBA_PROJECT in data:
                state.found(MACRO_OLE2, where, attachment, BLOCK)
            return
        if kind == "pdf":
            if b"/Launch" in data:
                state.found(PDF_LAUNCH, where, attachment, BLOCK)
            return
        if kind in ("rar", "7z", "iso"):  # formats the standard library cannot open
            state.note(f"{where}: {kind} content is not scanned by the built-in scanner")
            return
        self._inspect_text(state, data, where=where, attachment=attachment)

    def _inspect_text(self, state: _Scan, data: bytes, *, where: str, attachment) -> None:
        """Scripts, recognised by what they say: a warning. (Named to run on a double click, the name blocks them.)"""
        head = data[:_TEXT_SNIFF]
        if b"\x00" in head[:4096] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return  # binary, and not a UTF-16 text
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            head = head.decode("utf-16", "replace").encode("ascii", "ignore")
        head = head.lower()
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if stripped.startswith(b"#!") and stripped[2:3] in (b"/", b" "):
            name = SCRIPT_SHEBANG
        elif b"<hta:application" in head:
            name = SCRIPT_HTA
        elif b"#@~^" in head:  # VBScript.Encode / JScript.Encode
            name = SCRIPT_ENCODED
        elif any(marker in head for marker in _WSH_MARKERS) or (b"<job" in head and b"<script" in head):
            name = SCRIPT_WSH
        elif _POWERSHELL_LAUNCH.search(head) or _POWERSHELL_DOWNLOAD.search(head) or _DOWNLOAD_THEN_IEX.search(head):
            name = SCRIPT_POWERSHELL
        elif stripped.startswith(b"@echo off"):
            name = SCRIPT_BATCH
        elif b"new blob(" in head and (b"mssaveoropenblob" in head or b".download" in head) and b"atob(" in head:
            # An HTML page that assembles and saves a file on opening.
            state.found(HTML_SMUGGLING, where, attachment, BLOCK)
            return
        else:
            return
        state.found(name, where, attachment, WARN)

    # -- archives --

    def _scan_zip(self, state: _Scan, data: bytes, *, where: str, depth: int, attachment) -> None:
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            members = archive.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, NotImplementedError, OSError, EOFError) as exc:
            state.note(f"{where}: unreadable zip ({exc.__class__.__name__}), not scanned")
            return
        if not self._count_members(state, members, where=where, attachment=attachment):
            return
        limits = self.limits
        for info in members:
            if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                ratio = info.file_size // max(info.compress_size, 1)
                state.found_bomb(f"{where} › {info.filename}", attachment, f"compression ratio {ratio}:1")
                return
        for info in members:
            if state.bomb:
                return
            label = f"{where} › {info.filename}"
            base = info.filename.rstrip("/").rpartition("/")[2]
            self._check_name(state, base, label, attachment)
            if self.block_macros and base.lower() == "vbaproject.bin":
                state.found(MACRO_OOXML, label, attachment, BLOCK)
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                if _last_extension(base) in DANGEROUS_EXTENSIONS:
                    state.found(ENCRYPTED_EXECUTABLE, label, attachment)  # hidden from every scanner: never benign
                state.note(f"{label}: encrypted, not scanned")
                continue
            content = self._zip_member(state, data, info, where=label, attachment=attachment)
            if content is not None:
                self._inspect(state, content, name=base, where=label, depth=depth + 1, attachment=attachment)

    def _count_members(self, state: _Scan, members, *, where: str, attachment) -> bool:
        state.entries += len(members)
        state.declared += sum(getattr(m, "file_size", 0) or getattr(m, "size", 0) for m in members)
        if state.entries > self.limits.max_entries:
            state.found_bomb(where, attachment, f"more than {self.limits.max_entries} archive members")
            return False
        if state.declared > self.limits.max_total_uncompressed:
            state.found_bomb(where, attachment, f"archives declare {state.declared} bytes uncompressed")
            return False
        return True

    def _zip_member(self, state: _Scan, data: bytes, info: zipfile.ZipInfo, *, where: str, attachment) -> bytes | None:
        """A member's content, decompressed here with bounds (never by zipfile, whose bzip2/lzma
        readers inflate a whole read at once whatever the size)."""
        start = info.header_offset
        header = data[start : start + 30]
        if len(header) < 30 or header[:4] != b"PK\x03\x04":
            state.note(f"{where}: bad local header, not scanned")
            return None
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        begin = start + 30 + name_length + extra_length
        stored = memoryview(data)[begin : begin + info.compress_size]
        method = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2"}.get(
            info.compress_type
        )
        if method is None:
            state.note(f"{where}: compression method {info.compress_type} not supported, not scanned")
            return None
        if method == "stored":
            limit = min(self.limits.max_file_bytes, state.budget)
            if len(stored) > limit:
                state.note(f"{where}: scanned in part (first {limit} bytes)")
            state.inflated += min(len(stored), limit)
            return bytes(stored[:limit])
        # A compressed stream ends itself: read it to its end, whatever size the headers claim.
        return self._inflate(state, memoryview(data)[begin:], method, where=where, attachment=attachment)

    def _scan_tar(self, state: _Scan, data: bytes, *, where: str, depth: int, attachment) -> None:
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as archive:
                members = []
                for member in archive:  # lazily: stop reading headers past the limit
                    members.append(member)
                    if len(members) > self.limits.max_entries:
                        break
                if self._count_members(state, members, where=where, attachment=attachment):
                    self._scan_tar_members(state, archive, members, where=where, depth=depth, attachment=attachment)
        except (tarfile.TarError, ValueError, OSError, EOFError) as exc:
            state.note(f"{where}: unreadable tar ({exc.__class__.__name__}), not scanned")

    def _scan_tar_members(self, state: _Scan, archive, members, *, where: str, depth: int, attachment) -> None:
        for member in members:
            if state.bomb:
                return
            label = f"{where} › {member.name}"
            base = member.name.rstrip("/").rpartition("/")[2]
            self._check_name(state, base, label, attachment)
            if not member.isfile():
                continue
            limit = min(self.limits.max_file_bytes, state.budget)
            try:
                handle = archive.extractfile(member)
                content = handle.read(limit) if handle is not None else b""
            except (tarfile.TarError, OSError, EOFError) as exc:
                state.note(f"{label}: unreadable ({exc.__class__.__name__}), not scanned")
                continue
            if member.size > limit:
                state.note(f"{label}: scanned in part (first {limit} bytes)")
            state.inflated += len(content)
            self._inspect(state, content, name=base, where=label, depth=depth + 1, attachment=attachment)

    def _inflate(self, state: _Scan, compressed, method: str, *, where: str, attachment) -> bytes | None:
        """Decompress at most the budget, stopping as soon as the ratio gives a bomb away.

        Returns what came out (maybe only a prefix), or None for a bomb.
        """
        limits = self.limits
        limit = min(limits.max_file_bytes, state.budget)
        out = bytearray()
        consumed = 0
        try:
            for piece, consumed in _decompress(compressed, method):
                out += piece
                if len(out) > limits.ratio_floor and len(out) > limits.max_ratio * max(consumed, 1):
                    state.inflated += len(out)
                    state.found_bomb(where, attachment, f"compression ratio over {limits.max_ratio}:1")
                    return None
                if state.declared + len(out) > limits.max_total_uncompressed:
                    state.inflated += len(out)
                    state.found_bomb(where, attachment, "uncompressed size over the limit")
                    return None
                if len(out) >= limit:
                    state.note(f"{where}: scanned in part (first {limit} bytes)")
                    del out[limit:]
                    break
        except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
            state.note(f"{where}: corrupt {method} data ({exc.__class__.__name__}), scanned as far as it went")
        state.inflated += len(out)
        return bytes(out)


def _extensions(name: str) -> list[str]:
    """The dot-separated suffixes of a file name, lower-case, without the padding that hides them.

    ``"Invoice.PDF   .exe"`` -> ``["pdf", "exe"]``.
    """
    return [part.strip(" _").lower() for part in name.strip(" .").split(".")[1:]]


def _last_extension(name: str) -> str:
    extensions = _extensions(name)
    return extensions[-1] if extensions else ""


def _decompress(data, method: str):
    """Yield (output, input consumed so far), never more than ``_OUTPUT_STEP`` bytes at a time."""
    view = memoryview(data)
    if method in ("deflate", "gzip"):
        decompressor = zlib.decompressobj(-15 if method == "deflate" else 31)
        for start in range(0, len(view), _CHUNK):
            consumed = min(start + _CHUNK, len(view))
            yield decompressor.decompress(view[start:consumed], _OUTPUT_STEP), consumed
            while decompressor.unconsumed_tail and not decompressor.eof:
                yield decompressor.decompress(decompressor.unconsumed_tail, _OUTPUT_STEP), consumed
            if decompressor.eof:
                return
        return
    decompressor = bz2.BZ2Decompressor() if method == "bzip2" else lzma.LZMADecompressor()
    for start in range(0, len(view), _CHUNK):
        consumed = min(start + _CHUNK, len(view))
        yield decompressor.decompress(view[start:consumed], _OUTPUT_STEP), consumed
        while not decompressor.eof and not decompressor.needs_input:
            yield decompressor.decompress(b"", _OUTPUT_STEP), consumed
        if decompressor.eof:
            return


_EXECUTABLE_NAMES = {
    "pe": EXE_PE,
    "dos": EXE_DOS,
    "elf": EXE_ELF,
    "macho": EXE_MACHO,
    "java": EXE_JAVA,
    "dex": EXE_DEX,
    "lnk": EXE_LNK,
}


def _sniff(data: bytes) -> str | None:
    """What a file is, from its first bytes."""
    if data[:2] == b"MZ" and len(data) >= 64:
        (pe_offset,) = struct.unpack("<I", data[60:64])
        if data[pe_offset : pe_offset + 4] == b"PE\x00\x00":
            return "pe"
        if b"\x00" in data[2:64]:  # a DOS header, not text that starts with "MZ"
            return "dos"
    if data[:4] == b"\x7fELF":
        return "elf"
    if data[:4] in _MACHO:
        return "macho"
    if data[:4] == b"\xca\xfe\xba\xbe" and len(data) >= 8:
        # Shared by fat Mach-O binaries (a small architecture count) and Java classes (a version >= 45).
        return "macho" if 0 < struct.unpack(">I", data[4:8])[0] < 30 else "java"
    if data[:5] == b"dex\n0":
        return "dex"
    if data[:20] == _LNK_HEADER:
        return "lnk"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:3] == b"BZh":
        return "bzip2"
    if data[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if data[257:262] == b"ustar":
        return "tar"
    if data[:8] == _OLE2:
        return "ole2"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data[:4] == b"Rar!":
        return "rar"
    if data[:6] == b"7z\xbc\xaf\x27\x1c":
        return "7z"
    if data[0x8001:0x8006] == b"CD001":
        return "iso"
    return None


# --- ClamAV -------------------------------------------------------------------------


class ClamdScanner(VirusScanner):
    """ClamAV's daemon, over its INSTREAM command (TCP or a Unix socket).

    Options: ``URL`` (``tcp://host:3310`` or ``unix:///run/clamav/clamd.ctl``),
    ``TIMEOUT`` seconds, ``CHUNK_SIZE`` bytes per INSTREAM chunk and
    ``MAX_BYTES``, the most sent (keep it at or under clamd's
    ``StreamMaxLength``, 25 MB by default; a longer message is sent in part and
    noted).
    """

    name = "clamav"

    def __init__(self, *, URL="tcp://127.0.0.1:3310", TIMEOUT=30, CHUNK_SIZE=64 * 1024, MAX_BYTES=25 * 1024 * 1024):
        self.url = URL
        self.timeout = TIMEOUT
        self.chunk_size = CHUNK_SIZE
        self.max_bytes = MAX_BYTES
        parts = urlsplit(URL)
        if parts.scheme == "unix":
            self._address = parts.path
        elif parts.scheme == "tcp" and parts.hostname:
            self._address = (parts.hostname, parts.port or 3310)
        else:
            raise ValueError(f"clamd URL must be tcp://host:port or unix:///path, got {URL!r}")

    def scan(self, *, raw: bytes, parsed: ParsedMessage) -> VirusVerdict:
        notes = []
        if len(raw) > self.max_bytes:
            notes.append(f"only the first {self.max_bytes} of {len(raw)} bytes were sent to clamd")
        try:
            reply = self._instream(memoryview(raw)[: self.max_bytes])
        except OSError as exc:  # refused, reset, timed out, unresolvable
            return VirusVerdict(
                infected=False, names=[], scanner=self.name, error=f"clamd at {self.url}: {exc}", notes=notes
            )
        return self._verdict(reply, notes)

    def ping(self) -> bool:
        try:
            return self._command(b"zPING\x00") == "PONG"
        except OSError:
            return False

    def version(self) -> str:
        return self._command(b"zVERSION\x00")

    def _connect(self) -> socket.socket:
        if isinstance(self._address, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self._address)
            except OSError:
                sock.close()
                raise
            return sock
        return socket.create_connection(self._address, timeout=self.timeout)

    def _command(self, command: bytes) -> str:
        with self._connect() as sock:
            sock.sendall(command)
            return _read_reply(sock).decode("utf-8", "replace").strip("\x00\r\n ")

    def _instream(self, data: memoryview) -> str:
        with self._connect() as sock:
            sock.sendall(b"zINSTREAM\x00")
            try:
                for start in range(0, len(data), self.chunk_size):
                    chunk = data[start : start + self.chunk_size]
                    sock.sendall(struct.pack("!I", len(chunk)))
                    sock.sendall(chunk)
                sock.sendall(b"\x00\x00\x00\x00")
            except (BrokenPipeError, ConnectionResetError):
                pass  # clamd stops reading at its size limit and says so: read why
            return _read_reply(sock).decode("utf-8", "replace")

    def _verdict(self, reply: str, notes: list[str]) -> VirusVerdict:
        names, errors = [], []
        for line in re.split(r"[\x00\n]+", reply):
            line = line.strip()
            if not line:
                continue
            result = line.partition(": ")[2] if line.startswith("stream:") else line
            if result.endswith(" FOUND"):
                names.append(result[: -len(" FOUND")].strip())
            elif result != "OK":
                errors.append(line)
        if not names and not errors and not reply.strip("\x00\r\n "):
            errors.append("no reply")
        error = f"clamd: {'; '.join(errors)}"[:500] if errors and not names else ""
        names = list(dict.fromkeys(names))
        return VirusVerdict(
            infected=bool(names),
            names=names,
            scanner=self.name,
            error=error,
            findings=[{"name": name, "where": "message", "attachment": None, "action": QUARANTINE} for name in names],
            notes=notes,
        )


def _read_reply(sock: socket.socket, limit: int = 64 * 1024) -> bytes:
    """clamd's answer: up to its NUL terminator or the end of the connection."""
    reply = bytearray()
    while len(reply) < limit:
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
        if reply.endswith(b"\x00"):
            break
    return bytes(reply)
