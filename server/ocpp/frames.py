"""The gateway's ``ocpp`` frame logger (``infra.observability.ocpp_frames``: the library's frames at DEBUG)."""

from __future__ import annotations

from infra.observability.ocpp_frames import FrameLogger

#: The gateway's side of every station connection.
GATEWAY_FRAMES = FrameLogger("server.ocpp.frames")
