"""Leaf infrastructure: security primitives (``infra.security``) and observability helpers
(``infra.observability``).

It imports nothing of ``server`` (the composition root), ``interceptors``, ``store`` or ``clients``
(import-linter contract in pyproject.toml), only ``domain`` and third-party packages, so every layer —
and the SDK — may use it.
"""
