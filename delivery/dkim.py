"""DKIM signing of outgoing mail with the sender domain's key.

dkimpy parses, canonicalises and builds the header; only the RSA operation is
OpenSSL's (``cryptography``): dkimpy's own is pure-Python modular
exponentiation, about 10 ms per signature with a 2048-bit key against half a
millisecond. Keys are parsed once per process.
"""

import base64
import functools

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils


def sign(raw: bytes, *, domain) -> bytes:
    """``raw`` with a DKIM-Signature prepended, or unchanged when the domain has no key."""
    if not domain or not domain.dkim_private_key:
        return raw
    signer = _OpenSSLSigner(raw, private_key=_private_key(domain.dkim_private_key))
    signature = signer.sign(
        selector=domain.dkim_selector.encode("ascii"),
        domain=domain.name.encode("ascii"),
        privkey=domain.dkim_private_key.encode("ascii"),
        canonicalize=(b"relaxed", b"relaxed"),
    )
    return signature + raw


@functools.lru_cache(maxsize=64)
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    return serialization.load_pem_private_key(pem.encode("ascii"), password=None)


class _OpenSSLSigner(dkim.DKIM):
    """dkimpy's signer with the rsa-sha256 signature computed by OpenSSL.

    ``gen_header`` is dkimpy 1.1's, with ``RSASSA_PKCS1_v1_5_sign`` replaced;
    the tests check the result with ``dkim.verify``.
    """

    def __init__(self, message: bytes, *, private_key: rsa.RSAPrivateKey):
        super().__init__(message, signature_algorithm=b"rsa-sha256")
        self._private_key = private_key

    def gen_header(self, fields, include_headers, canon_policy, header_name, pk, standardize=False):
        header_value = b"; ".join(b"=".join(x) for x in fields)
        header_value = dkim.fold(header_value, namelen=len(header_name), linesep=b"\r\n")
        header_value = dkim.RE_BTAG.sub(b"\\1", header_value)
        header = (header_name, b" " + header_value)
        h = self.hasher()
        headers = canon_policy.canonicalize_headers(self.headers)
        self.signed_headers = dkim.hash_headers(h, canon_policy, headers, include_headers, header, dict(fields))
        signature = self._private_key.sign(h.digest(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        idx = next(i for i, (name, _) in enumerate(fields) if name == b"b")
        fields[idx] = (b"b", base64.b64encode(signature))
        header_value = b"; ".join(b"=".join(x) for x in fields) + self.linesep
        return dkim.fold(header_value, namelen=len(header_name), linesep=self.linesep)
