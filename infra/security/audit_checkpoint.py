"""The audit log's head, remembered outside the database: what makes the hash chain tamper-evident
against someone who can write the database.

The chain alone (``audit_chain``) catches a single edited or deleted row, but
whoever can write the database can also drop the newest rows, drop them all,
or edit a row and recompute every later hash: the result is a valid, shorter
or different chain. So once the queue of audit rows is committed (and at
least every 0.1 s while rows keep arriving: ``store.audit.CHECKPOINT_INTERVAL``)
the server records the new head — (seq, hash) with an HMAC under a key derived from the
server secret — in a file outside the database (``audit_checkpoint_file``,
by default the dev PKI's ``audit-head.json``). Verification then demands
that the log still holds the checkpoint's seq with the checkpoint's hash:

* newest rows deleted, or every row → the checkpoint's seq is missing;
* a row edited and every later hash recomputed → the hash at the
  checkpoint's seq differs;
* the file itself edited without the secret → its HMAC does not verify.

Server processes sharing the file take an exclusive lock to update it and
only ever move it forward (a larger seq).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
from pathlib import Path

from infra.security.server_secret import ServerSecret


class CheckpointForged(ValueError):
    """The checkpoint file does not verify under the server secret."""


class AuditCheckpoint:
    def __init__(self, path: Path | str, key: bytes) -> None:
        self.path = Path(path)
        self._key = key

    def _mac(self, seq: int, head: str) -> str:
        return hmac.new(self._key, f"{seq}:{head}".encode(), hashlib.sha256).hexdigest()

    def read(self) -> tuple[int, str] | None:
        """The remembered (seq, hash); None before the first row; ``CheckpointForged`` if altered."""
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            raise CheckpointForged(f"{self.path} is not a checkpoint") from None
        try:
            seq, head, mac = int(document["seq"]), str(document["hash"]), str(document["mac"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointForged(f"{self.path} is not a checkpoint") from None
        if not hmac.compare_digest(mac, self._mac(seq, head)):
            raise CheckpointForged(f"{self.path} does not verify under the server secret")
        return seq, head

    def record(self, seq: int, head: str) -> None:
        """Move the checkpoint forward to (seq, head); a smaller seq (another process was faster) is ignored."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                current = self.read()
            except CheckpointForged:
                current = None  # rewritten below with a valid head; verification reports the chain
            if current is not None and current[0] >= seq:
                return
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"seq": seq, "hash": head, "mac": self._mac(seq, head)}))
            os.replace(tmp, self.path)


def checkpoint_for(path: str, secret: ServerSecret) -> AuditCheckpoint | None:
    """The deployment's checkpoint (``Settings.audit_checkpoint_path()``), or None when none is configured."""
    return AuditCheckpoint(path, secret.derive("audit-checkpoint")) if path else None
