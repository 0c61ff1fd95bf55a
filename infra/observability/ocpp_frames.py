"""Where the ``ocpp`` library's per-frame lines go: DEBUG, under a logger of the side that speaks.

The library logs every frame it sends and receives (``send [...]``,
``receive message [...]``) at INFO on its own ``ocpp`` logger — hundreds of
lines per station and simulated day, which drowned ``make demo``'s output and
the platform log. Each charge point (the gateway's, ``server.ocpp.frames``, and the
simulator's stations) gets a ``FrameLogger`` instead: the
frames at DEBUG (shown with ``VGI_LOG_LEVEL=DEBUG`` on the platform), the
library's warnings and errors as they are. One INFO line per meaningful step
(a station connected, booted, disconnected) is the caller's to write.
"""

from __future__ import annotations

import logging
from typing import Any


class FrameLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger for ``ocpp.ChargePoint(logger=...)`` that logs the library's INFO lines at DEBUG."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.getLogger(name), {})

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.log(logging.DEBUG, msg, *args, **kwargs)
