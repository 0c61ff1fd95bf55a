"""The store persists and queries; announcing a change is the use case's (``application``, ``uow.notify``).

``store.db`` keeps the mechanism (``notify`` collects a write's notices, the
Database publishes them before COMMIT); no other store module may call it, or
import it — the notices a write records are decided in ``application/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import store
from application import uow

STORE = Path(store.__file__).parent
APPLICATION = Path(uow.__file__).parent


def _notifying(path: Path) -> list[str]:
    """Where ``path`` calls a ``notify`` or imports it from ``store.db``: 'file:line'."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            called = node.func
            name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
            if name == "notify":
                found.append(f"{path.name}:{node.lineno}")
        elif isinstance(node, ast.ImportFrom) and any(alias.name == "notify" for alias in node.names):
            found.append(f"{path.name}:{node.lineno}")
    return found


def test_no_store_module_but_the_database_records_notices() -> None:
    modules = sorted(STORE.rglob("*.py"))
    assert STORE / "db.py" in modules
    assert [where for path in modules if path.name != "db.py" for where in _notifying(path)] == []


def test_use_cases_record_notices_through_their_unit_of_work_only() -> None:
    """``application.uow.UnitOfWork.notify`` is the one caller of ``store.db.notify`` above the store."""
    modules = sorted(APPLICATION.rglob("*.py"))
    assert APPLICATION / "uow.py" in modules
    assert [where for path in modules if path.name != "uow.py" for where in _imports_notify(path)] == []


def _imports_notify(path: Path) -> list[str]:
    return [
        f"{path.name}:{node.lineno}"
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.ImportFrom) and any(alias.name == "notify" for alias in node.names)
    ]


def test_the_check_sees_a_notifying_module(tmp_path: Path) -> None:
    module = tmp_path / "orchestrates.py"
    module.write_text(
        "from store.db import notify\n\n\ndef issue(conn, notice):\n    notify(conn, notice)\n    db.notify(conn, notice)\n"
    )
    assert _notifying(module) == ["orchestrates.py:1", "orchestrates.py:5", "orchestrates.py:6"]
