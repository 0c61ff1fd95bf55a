"""The platform's server side; ``version()`` is what ``vgi --version`` and the serving line print.

gRPC core writes its own log lines (``I1202 … ssl_transport_security.cc …
Handshake failed``) straight to stderr in plain text, which breaks the
one-JSON-object-per-line log. It reads ``GRPC_VERBOSITY`` once, when grpc is
first imported — and every entry point imports this package before grpc — so
it is silenced here unless the operator set it (``GRPC_VERBOSITY=INFO`` brings
those lines back for debugging a transport).
"""

from __future__ import annotations

import importlib.metadata
import os

os.environ.setdefault("GRPC_VERBOSITY", "NONE")


def version() -> str:
    """The installed platform's version (from pyproject.toml)."""
    return importlib.metadata.version("vgi-platform")
