"""Small, valid files made in code for the demo's attachments: PNG, PDF, iCalendar.

Generated rather than checked in, so the repository holds no binaries and
the formats stay readable. Only the standard library is used.
"""

import struct
import zlib
from datetime import datetime

Colour = tuple[int, int, int]


def rgb(value: str) -> Colour:
    """``"#1e3a8a"`` as an ``(r, g, b)`` tuple."""
    r, g, b = bytes.fromhex(value.removeprefix("#"))
    return r, g, b


def blend(a: Colour, b: Colour, t: float) -> Colour:
    """The colour a fraction ``t`` of the way from ``a`` to ``b``."""
    r, g, b_ = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return r, g, b_


class Canvas:
    """An RGB image drawn with filled rectangles and circles, saved as PNG."""

    def __init__(self, width: int, height: int, background: str):
        self.width, self.height = width, height
        self.pixels = bytearray(bytes(rgb(background)) * (width * height))

    def rect(self, x: int, y: int, w: int, h: int, colour: str | Colour) -> None:
        colour = rgb(colour) if isinstance(colour, str) else colour
        x0, x1 = max(x, 0), min(x + w, self.width)
        if x1 <= x0:
            return
        span = bytes(colour) * (x1 - x0)
        for row in range(max(y, 0), min(y + h, self.height)):
            start = (row * self.width + x0) * 3
            self.pixels[start : start + len(span)] = span

    def circle(self, cx: int, cy: int, r: int, colour: str | Colour) -> None:
        for row in range(cy - r, cy + r + 1):
            half = int((r * r - (row - cy) ** 2) ** 0.5)
            self.rect(cx - half, row, 2 * half + 1, 1, colour)

    def vertical_gradient(self, y: int, h: int, top: str, bottom: str) -> None:
        for row in range(h):
            self.rect(0, y + row, self.width, 1, blend(rgb(top), rgb(bottom), row / max(h - 1, 1)))

    def png(self) -> bytes:
        stride = self.width * 3
        # Each scanline starts with filter type 0 (none).
        scanlines = b"".join(
            b"\x00" + bytes(self.pixels[row * stride : (row + 1) * stride]) for row in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)  # 8-bit RGB
        return (
            b"\x89PNG\r\n\x1a\n"
            + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(scanlines, 9))
            + _png_chunk(b"IEND", b"")
        )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _pdf_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def simple_pdf(lines: list[str], *, title: str = "") -> bytes:
    """A one-page PDF 1.4 showing ``lines`` (ASCII) in Helvetica, with a correct xref table."""
    text_ops = " ".join(f"({_pdf_text(line)}) Tj T*" for line in lines)
    stream = f"BT /F1 11 Tf 16 TL 72 740 Td {text_ops} ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        f"<< /Title ({_pdf_text(title)}) /Producer (webmail seed_demo) >>".encode("ascii"),
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\n" % (len(objects) + 1, len(objects))
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def _ics_time(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


def calendar_invite(
    *,
    uid: str,
    summary: str,
    start: datetime,
    end: datetime,
    location: str,
    description: str,
    organizer: tuple[str, str],
    attendees: list[tuple[str, str]],
    stamp: datetime,
) -> bytes:
    """An iCalendar (RFC 5545) meeting request; times must be UTC."""
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//webmail//seed_demo//EN",
        "VERSION:2.0",
        "METHOD:REQUEST",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{_ics_time(stamp)}",
        f"DTSTART:{_ics_time(start)}",
        f"DTEND:{_ics_time(end)}",
        f"SUMMARY:{summary}",
        f"LOCATION:{location}",
        f"DESCRIPTION:{description}",
        f"ORGANIZER;CN={organizer[0]}:mailto:{organizer[1]}",
        *(f"ATTENDEE;CN={name};ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:{addr}" for name, addr in attendees),
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
