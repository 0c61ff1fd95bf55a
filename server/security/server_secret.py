"""The server's own secret: the key behind page tokens, kept outside the database.

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

import hashlib
import hmac
import logging
import secrets
from pathlib import Path

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
