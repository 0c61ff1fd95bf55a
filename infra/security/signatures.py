"""Detached signatures of dispatch instructions (SPEC §6): ECDSA P-256/SHA-256 and SM2 with SM3.

Both take the public key as the uncompressed point ``0x04 || X || Y`` and the
signature DER-encoded (a SEQUENCE of the integers r and s). SM2 follows
GB/T 32918.2 with the default user id "1234567812345678": the digest is
SM3(Z_A || message), Z_A = SM3(ENTL || ID || a || b || x_G || y_G || x_A || y_A).
ECDSA is verified by ``cryptography``, SM2 by ``gmssl`` (whose verifier does
not check the ranges of r and s, so they are checked here).
"""

from __future__ import annotations

from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from gmssl import sm2

# GB/T 32918.5 curve parameters.
_SM2_P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
_SM2_A = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC
_SM2_B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
_SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


class Algorithm(StrEnum):
    ECDSA_P256_SHA256 = "ECDSA_P256_SHA256"
    SM2_SM3 = "SM2_SM3"


def valid_public_key(algorithm: Algorithm, public_key: bytes) -> bool:
    """Whether ``public_key`` is an uncompressed point on the algorithm's curve."""
    if len(public_key) != 65 or public_key[0] != 4:
        return False
    if algorithm is Algorithm.ECDSA_P256_SHA256:
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
        except ValueError:
            return False
        return True
    x, y = int.from_bytes(public_key[1:33], "big"), int.from_bytes(public_key[33:], "big")
    return x < _SM2_P and y < _SM2_P and (y * y - (x * x * x + _SM2_A * x + _SM2_B)) % _SM2_P == 0


def verify(algorithm: Algorithm, public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (DER) over ``message`` verifies under ``public_key``; False for any
    malformed input."""
    if algorithm is Algorithm.ECDSA_P256_SHA256:
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), public_key)
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        except (ValueError, InvalidSignature):
            return False
        return True
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        return False
    if not (0 < r < _SM2_N and 0 < s < _SM2_N) or not valid_public_key(algorithm, public_key):
        return False
    verifier = sm2.CryptSM2(private_key=None, public_key=public_key[1:].hex())
    # gmssl takes a leading "04" off the key with ``str.lstrip("04")``, which strips every leading
    # '0' and '4': a key whose x coordinate's hex starts with "04" (1 in 256) came out cut short and
    # the verification crashed. The coordinates are set as they are.
    verifier.public_key = public_key[1:].hex()
    return bool(verifier.verify_with_sm3(f"{r:064x}{s:064x}", message))
