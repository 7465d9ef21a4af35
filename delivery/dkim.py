"""DKIM signing of outgoing mail with the sender domain's key (dkimpy)."""

import dkim


def sign(raw: bytes, *, domain) -> bytes:
    """``raw`` with a DKIM-Signature prepended, or unchanged when the domain has no key."""
    if not domain or not domain.dkim_private_key:
        return raw
    signature = dkim.sign(
        raw,
        selector=domain.dkim_selector.encode("ascii"),
        domain=domain.name.encode("ascii"),
        privkey=domain.dkim_private_key.encode("ascii"),
        canonicalize=(b"relaxed", b"relaxed"),
    )
    return signature + raw
