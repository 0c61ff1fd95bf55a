"""The server's own secret: the key behind page tokens and credentials at rest, kept outside the database.

Whoever can write the database must not be able to mint what the server
trusts, so the secret lives in a file (``secret_key_file``, by default the
dev PKI's ``server-secret.key``, made by ``vgi pki init``) that every server
process of a deployment shares. Each use gets its own subkey (``derive``), so
a key for one purpose never serves another.

Without any file (``--insecure`` with neither ``--pki`` nor
``secret_key_file``) a random secret is made for this process only: page
tokens then stop working at restart and across processes, which is said in
the log.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

_MIN_BYTES = 32


class ServerSecret:
    def __init__(self, key: bytes) -> None:
        if len(key) < _MIN_BYTES:
            raise ValueError(f"the server secret needs at least {_MIN_BYTES} bytes")
        self._key = key

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for one ``purpose`` ("page-tokens", ...), independent of every other."""
        return hmac.new(self._key, b"vgi/" + purpose.encode(), hashlib.sha256).digest()


def load_server_secret(path: str) -> ServerSecret:
    """The secret in ``path`` (hex digits), or a per-process one when ``path`` is empty.

    A configured file that is missing or unreadable is a start-up error naming the setting.
    """
    if not path:
        log.warning(
            "no secret_key_file and no pki_dir: page tokens use a per-process secret "
            "and stop working at restart and across processes"
        )
        return ServerSecret(secrets.token_bytes(_MIN_BYTES))
    try:
        key = bytes.fromhex(Path(path).read_text().strip())
        return ServerSecret(key)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"secret_key_file: {path} must hold at least {2 * _MIN_BYTES} hex digits ({exc})"
        ) from None


class SealedText:
    """Text encrypted at rest (AES-256-GCM) under a key derived from the server secret.

    ``seal`` gives ``v1.`` + base64url(nonce | ciphertext and tag); ``context``
    (e.g. who asked and the request id) is authenticated with it, so sealed
    text cannot be moved to another row and still open.
    """

    _PREFIX = "v1."

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, text: str, context: bytes) -> str:
        if not text:
            return ""
        nonce = secrets.token_bytes(12)
        sealed = nonce + self._aead.encrypt(nonce, text.encode(), context)
        return self._PREFIX + base64.urlsafe_b64encode(sealed).decode()

    def open(self, sealed: str, context: bytes) -> str:
        """The text, or ValueError when it was not sealed under this key and context."""
        if not sealed:
            return ""
        if not sealed.startswith(self._PREFIX):
            raise ValueError("not sealed text")
        raw = base64.urlsafe_b64decode(sealed[len(self._PREFIX) :])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], context).decode()
        except InvalidTag:
            raise ValueError("sealed under another key or context") from None
