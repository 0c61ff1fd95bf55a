"""The heads of the audit log's chains, remembered outside the database: what makes the hash chains
tamper-evident against someone who can write the database.

The chains alone (``audit_chain``) catch a single edited or deleted row, but
whoever can write the database can also drop a chain's newest rows, drop a
whole chain, or edit a row and recompute every later hash: the result is a
valid, shorter or different chain. So once a process's queue of audit rows is
committed (and at least every 0.1 s while rows keep arriving:
``store.audit.CHECKPOINT_INTERVAL``) the process records its chain's new head
— (position, hash) — in a file outside the database (``audit_checkpoint_file``,
by default the dev PKI's ``audit-head.json``), which holds the head of EVERY
chain the processes sharing it ever wrote, under one HMAC with a key derived
from the server secret. Verification then demands that every chain named in
the file still holds its checkpointed position with the checkpointed hash:

* a chain's newest rows deleted → its checkpointed position is missing;
* a whole chain deleted → no row of it is left;
* a row edited and every later hash of its chain recomputed → the hash at
  the checkpointed position differs;
* the file itself edited without the secret → its HMAC does not verify.

Server processes sharing the file take an exclusive lock to update it; each
only moves its own chain's entry, and only forward. The file grows by one
entry per process start (about 100 bytes).

Files written before chains were per process hold one head, ``{"seq",
"hash", "mac"}``: they are read as the head of the legacy chain (``""``), and
the first write by a current process turns them into the map.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.security.audit_chain import LEGACY_CHAIN
from infra.security.server_secret import ServerSecret

Heads = dict[str, tuple[int, str]]


class CheckpointForged(ValueError):
    """The checkpoint file does not verify under the server secret."""


class AuditCheckpoint:
    def __init__(self, path: Path | str, key: bytes) -> None:
        self.path = Path(path)
        self._key = key

    def _single_mac(self, seq: int, head: str) -> str:
        return hmac.new(self._key, f"{seq}:{head}".encode(), hashlib.sha256).hexdigest()

    def _mac(self, heads: Mapping[str, tuple[int, str]]) -> str:
        # The "chains:" prefix keeps a map's MAC from ever standing for a single head's.
        canonical = json.dumps(sorted([chain, seq, head] for chain, (seq, head) in heads.items()))
        return hmac.new(self._key, f"chains:{canonical}".encode(), hashlib.sha256).hexdigest()

    def read(self) -> Heads:
        """The remembered head (position, hash) of every chain; empty before the first row;
        ``CheckpointForged`` if altered."""
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except ValueError:
            raise CheckpointForged(f"{self.path} is not a checkpoint") from None
        try:
            heads, mac = self._parse(document)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise CheckpointForged(f"{self.path} is not a checkpoint") from None
        if not hmac.compare_digest(mac, self._mac_of(document, heads)):
            raise CheckpointForged(f"{self.path} does not verify under the server secret")
        return heads

    @staticmethod
    def _parse(document: Any) -> tuple[Heads, str]:
        if "chains" in document:
            heads = {str(chain): (int(seq), str(head)) for chain, (seq, head) in document["chains"].items()}
        else:
            heads = {LEGACY_CHAIN: (int(document["seq"]), str(document["hash"]))}
        return heads, str(document["mac"])

    def _mac_of(self, document: Any, heads: Heads) -> str:
        if "chains" in document:
            return self._mac(heads)
        seq, head = heads[LEGACY_CHAIN]
        return self._single_mac(seq, head)

    def record(self, chain: str, seq: int, head: str) -> None:
        """Move ``chain``'s entry forward to (seq, head); a smaller or equal seq is ignored. The other
        chains' entries are kept as they are."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                heads = self.read()
            except CheckpointForged:
                heads = {}  # rewritten below with a valid head; verification reports the chains
            current = heads.get(chain)
            if current is not None and current[0] >= seq:
                return
            heads[chain] = (seq, head)
            document = {
                "chains": {name: [position, value] for name, (position, value) in sorted(heads.items())},
                "mac": self._mac(heads),
            }
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(document))
            os.replace(tmp, self.path)


def checkpoint_for(path: str, secret: ServerSecret) -> AuditCheckpoint | None:
    """The deployment's checkpoint (``Settings.audit_checkpoint_path()``), or None when none is configured."""
    return AuditCheckpoint(path, secret.derive("audit-checkpoint")) if path else None
