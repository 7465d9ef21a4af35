"""DKIM signing of outgoing mail with the sender domain's keys.

A domain has an RSA key, and may have an Ed25519 one too (RFC 8463): its mail
is then signed twice, RSA first and Ed25519 on top, so receivers that do not
verify Ed25519 yet still find a signature they can check (RFC 8463 §6).

dkimpy parses, canonicalises and builds the header; only the signature itself
is OpenSSL's (``cryptography``): dkimpy's RSA is pure-Python modular
exponentiation, about 10 ms per signature with a 2048-bit key against half a
millisecond. Keys are parsed once per process (dkimpy would parse the PEM
again, in pure Python, for every signature), and both signatures of a message
share one parse of it and one body hash.
"""

import base64
import functools
import time
from collections.abc import Callable

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils

RSA_SHA256 = b"rsa-sha256"
ED25519_SHA256 = b"ed25519-sha256"


def sign(raw: bytes, *, domain) -> bytes:
    """``raw`` with its DKIM-Signature fields prepended, or unchanged when the domain has no key."""
    if not domain:
        return raw
    rsa_pem = domain.dkim_private_key
    ed25519_seed = getattr(domain, "dkim_ed25519_private_key", "")
    if not rsa_pem and not ed25519_seed:
        return raw
    signer = _OpenSSLSigner(raw)
    name = domain.name.encode("ascii")
    signatures = b""
    if rsa_pem:
        selector = domain.dkim_selector.encode("ascii")
        signatures = signer.sign_relaxed(selector=selector, domain=name, algorithm=RSA_SHA256, key=rsa_signer(rsa_pem))
    if ed25519_seed:
        selector = domain.dkim_ed25519_selector.encode("ascii")
        key = _ed25519_signer(ed25519_seed)
        signatures = signer.sign_relaxed(selector=selector, domain=name, algorithm=ED25519_SHA256, key=key) + signatures
    return signatures + raw


@functools.lru_cache(maxsize=64)
def rsa_signer(pem: str) -> Callable[[bytes], bytes]:
    key: rsa.RSAPrivateKey = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    return lambda digest: key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


@functools.lru_cache(maxsize=64)
def _ed25519_signer(seed: str) -> Callable[[bytes], bytes]:
    # RFC 8463 §3: PureEdDSA over the SHA-256 of the canonicalised header fields, as for RSA.
    return ed25519.Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed)).sign


class OpenSSLHeaderMixin:
    """dkimpy's ``gen_header`` (DKIM-Signature, ARC-Message-Signature, ARC-Seal) with the signature made by
    ``self._sign_digest`` (one of the cached OpenSSL signers above) instead of dkimpy's pure Python."""

    _sign_digest: Callable[[bytes], bytes]

    def gen_header(self, fields, include_headers, canon_policy, header_name, pk, standardize=False):
        header_value = b"; ".join(b"=".join(x) for x in fields)
        header_value = dkim.fold(header_value, namelen=len(header_name), linesep=b"\r\n")
        header_value = dkim.RE_BTAG.sub(b"\\1", header_value)
        header = (header_name, b" " + header_value)
        h = self.hasher()
        headers = canon_policy.canonicalize_headers(self.headers)
        self.signed_headers = dkim.hash_headers(h, canon_policy, headers, include_headers, header, dict(fields))
        signature = self._sign_digest(h.digest())
        idx = next(i for i, (name, _) in enumerate(fields) if name == b"b")
        fields[idx] = (b"b", base64.b64encode(signature))
        header_value = b"; ".join(b"=".join(x) for x in fields) + self.linesep
        return dkim.fold(header_value, namelen=len(header_name), linesep=self.linesep)


class _OpenSSLSigner(OpenSSLHeaderMixin, dkim.DKIM):
    """dkimpy's signer with the signature computed by OpenSSL.

    ``sign_relaxed`` is dkimpy 1.1's ``sign`` for relaxed/relaxed and the
    default headers, without its parsing of the key (unused here);
    ``gen_header`` is dkimpy's, with the signing call replaced (the mixin).
    The tests check that the result is byte for byte dkimpy's, and verifies.
    """

    def __init__(self, message: bytes):
        super().__init__(message, signature_algorithm=RSA_SHA256)
        # RFC 8058 §4: the one-click unsubscribe is only honoured when List-Unsubscribe-Post is signed;
        # dkimpy signs List-Unsubscribe by default, not it.
        self.should_sign.add(b"list-unsubscribe-post")
        self._canon_policy = dkim.CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
        self._include_headers = tuple(x.lower() for x in self.default_sign_headers())
        self._bodyhash = None  # both algorithms hash with SHA-256: the body is hashed once
        self._sign_digest = None

    def sign_relaxed(self, *, selector: bytes, domain: bytes, algorithm: bytes, key: Callable[[bytes], bytes]) -> bytes:
        self.signature_algorithm, self._sign_digest = algorithm, key
        self.include_headers = include_headers = self._include_headers
        hasher = self.hasher = dkim.HASH_ALGORITHMS[algorithm]
        if self._bodyhash is None:
            self._bodyhash = base64.b64encode(hasher(self._canon_policy.canonicalize_body(self.body)).digest())
        fields = [
            (b"v", b"1"),
            (b"a", algorithm),
            (b"c", self._canon_policy.to_c_value()),
            (b"d", domain),
            (b"i", b"@" + domain),
            (b"q", b"dns/txt"),
            (b"s", selector),
            (b"t", str(int(time.time())).encode("ascii")),
            (b"h", b" : ".join(include_headers)),
            (b"bh", self._bodyhash),
            (b"b", b"0" * 60),  # dkimpy's placeholder: b= folds onto its own line
        ]
        header = self.gen_header(fields, include_headers, self._canon_policy, b"DKIM-Signature", None)
        self.domain, self.selector, self.signature_fields = domain, selector, dict(fields)
        return b"DKIM-Signature: " + header
