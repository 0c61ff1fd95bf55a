"""A live platform prepared for a partner client written in another language.

The grid topology, the aggregators and two published day-ahead events (so each
aggregator's notification stream holds two invitations) are set up in Python;
the client under test then plays one aggregator with nothing but the partner
kit, a client certificate and a token, and prints one line per step.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dr import world

from clients.market import GridMarketClient
from domain.principal import Principal, Role
from server.security.credentials import audiences_for_role

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "dist" / "partner-kit"
#: The aggregator's reads run dry after four calls, so a client meets RESOURCE_EXHAUSTED + RetryInfo.
RATE_LIMITS = ("read=0.01/4", "write=100/200", "bulk=10/20", "stream=20/40")
EVENTS = ("ev-partner-1", "ev-partner-2")
SLOT_START = world.tomorrow_at(18)
#: "<language> scenario: N steps passed" of each client run, for the end of pytest's report.
SUMMARY: list[str] = []
#: A client (a Go build included) gets this long; generous for a loaded 2-core machine.
CLIENT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Scenario:
    """What the client needs: its environment (files, token, names)."""

    env: dict[str, str]


async def prepare(platform: Any, aggregator_id: str) -> Scenario:
    """Registry, declarations and two published events; the credentials of ``aggregator_id``."""
    await world.build(platform)
    grid = GridMarketClient(platform.grid)
    for event_id in EVENTS:
        await grid.publish_event(world.day_ahead_event(event_id, SLOT_START, [100_000, 60_000]))
    principal = Principal(Role.AGGREGATOR, aggregator_id, aggregator_id)
    tls = platform.grpcurl_args(principal)  # -cacert CA -cert CERT -key KEY, written on demand
    files = dict(zip(tls[0::2], tls[1::2], strict=True))
    token = platform.token_for(principal, audiences=sorted(audiences_for_role(Role.AGGREGATOR)))
    return Scenario(
        env={
            "VGI_KIT": str(KIT),
            "VGI_TARGET": platform.target,
            "VGI_CA": files["-cacert"],
            "VGI_CERT": files["-cert"],
            "VGI_KEY": files["-key"],
            "VGI_TOKEN": token,
            "VGI_AGGREGATOR": aggregator_id,
            "VGI_EVENT": f"events/{EVENTS[0]}",
            "VGI_GRID_NODE": f"gridNodes/{world.NODE}",
            "VGI_SLOT_START": SLOT_START.isoformat().replace("+00:00", "Z"),
        }
    )


async def execute(cmd: Sequence[str], env: dict[str, str], *, cwd: Path = ROOT) -> tuple[int, str]:
    """Run a process without blocking the loop the platform serves on: its exit code and output."""
    process = await asyncio.create_subprocess_exec(
        *cmd,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(CLIENT_TIMEOUT_S):
            out, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    text = out.decode()
    print(text)  # the step lines, for `pytest -s` and for the failure report
    assert process.returncode is not None
    return process.returncode, text


async def run(cmd: Sequence[str], env: dict[str, str]) -> str:
    """Run a client scenario that must succeed; its output (its summary line is kept for the report)."""
    code, text = await execute(cmd, env)
    assert code == 0, text
    SUMMARY.extend(line for line in text.splitlines() if " scenario: " in line)
    return text
