"""The platform's server side; ``version()`` is what ``vgi --version`` and the serving line print."""

from __future__ import annotations

import importlib.metadata


def version() -> str:
    """The installed platform's version (from pyproject.toml)."""
    return importlib.metadata.version("vgi-platform")
