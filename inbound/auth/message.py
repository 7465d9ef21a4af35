"""Just enough of RFC 5322 to read header fields from bytes that may be anything at all."""

import re

_HEADER_END = re.compile(rb"\r?\n\r?\n")


def header_fields(raw: bytes, name: str) -> list[str]:
    """Unfolded values of every field called ``name`` (any case), in order; undecodable bytes become U+FFFD."""
    end = _HEADER_END.search(raw)
    head = raw[: end.start()] if end else raw
    wanted = name.lower().encode("ascii")
    values: list[bytearray] = []
    current = None
    for line in head.split(b"\n"):
        line = line.removesuffix(b"\r")
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current += line
            continue
        field_name, colon, value = line.partition(b":")
        current = None
        if colon and field_name.strip().lower() == wanted:
            current = bytearray(value)
            values.append(current)
    return [bytes(value).decode("utf-8", "replace").strip() for value in values]
