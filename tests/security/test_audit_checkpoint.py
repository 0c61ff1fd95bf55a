"""The checkpoint file: every chain's head under one HMAC, each writer moving only its own entry forward;
files from before per-process chains read as the legacy chain's head."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from infra.security.audit_chain import LEGACY_CHAIN
from infra.security.audit_checkpoint import AuditCheckpoint, CheckpointForged

KEY = bytes(range(32))
A, B = "a1" * 8, "b2" * 8


def test_each_chain_moves_only_its_own_entry_and_only_forward(tmp_path: Path) -> None:
    checkpoint = AuditCheckpoint(tmp_path / "audit-head.json", KEY)
    assert checkpoint.read() == {}
    checkpoint.record(A, 3, "aa" * 32)
    checkpoint.record(B, 1, "bb" * 32)
    checkpoint.record(A, 2, "cc" * 32)  # behind: ignored
    checkpoint.record(B, 5, "dd" * 32)
    assert checkpoint.read() == {A: (3, "aa" * 32), B: (5, "dd" * 32)}
    # Another process's writer (another instance, same file and key) keeps both entries.
    AuditCheckpoint(checkpoint.path, KEY).record(A, 4, "ee" * 32)
    assert checkpoint.read() == {A: (4, "ee" * 32), B: (5, "dd" * 32)}


def test_a_single_head_file_of_the_old_format_is_the_legacy_chains_head(tmp_path: Path) -> None:
    path = tmp_path / "audit-head.json"
    mac = hmac.new(KEY, f"7:{'ff' * 32}".encode(), hashlib.sha256).hexdigest()
    path.write_text(json.dumps({"seq": 7, "hash": "ff" * 32, "mac": mac}))
    checkpoint = AuditCheckpoint(path, KEY)
    assert checkpoint.read() == {LEGACY_CHAIN: (7, "ff" * 32)}
    checkpoint.record(A, 1, "aa" * 32)
    assert checkpoint.read() == {LEGACY_CHAIN: (7, "ff" * 32), A: (1, "aa" * 32)}
    assert "chains" in json.loads(path.read_text())


@pytest.mark.parametrize(
    "edit",
    ["roll back one chain", "drop one chain", "add a chain", "old format with the map's MAC"],
)
def test_an_edited_file_does_not_verify(tmp_path: Path, edit: str) -> None:
    checkpoint = AuditCheckpoint(tmp_path / "audit-head.json", KEY)
    checkpoint.record(A, 3, "aa" * 32)
    checkpoint.record(B, 5, "bb" * 32)
    document = json.loads(checkpoint.path.read_text())
    chains = document["chains"]
    if edit == "roll back one chain":
        chains[A] = [1, chains[A][1]]
    elif edit == "drop one chain":
        del chains[B]
    elif edit == "add a chain":
        chains["c3" * 8] = [1, "cc" * 32]
    else:
        document = {"seq": 5, "hash": "bb" * 32, "mac": document["mac"]}
    checkpoint.path.write_text(json.dumps(document))
    with pytest.raises(CheckpointForged):
        checkpoint.read()


def test_a_file_under_another_key_does_not_verify(tmp_path: Path) -> None:
    AuditCheckpoint(tmp_path / "audit-head.json", bytes(32)).record(A, 3, "aa" * 32)
    with pytest.raises(CheckpointForged, match="does not verify under the server secret"):
        AuditCheckpoint(tmp_path / "audit-head.json", KEY).read()
