"""One setpoint each to 1,000 open device streams: every device gets exactly its own; latency is printed.

Information only (SPEC 5 targets are measured by bench/, not asserted here):
the time from the producing transaction's commit returning to each device
holding its setpoint, measured in this one process that also runs the
server, on whatever the machine has free.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import grpc
from registry.world import aggregator_client, charger, onboard, station, topology
from vgi.common.v1 import market_pb2

from clients.sdk import channel_options
from clients.streams import DeviceSession
from infra.security.pki import load_jwt_signing_key
from infra.security.tokens import AGGREGATOR_CLAIM, AUDIENCES, DEV_ISSUER, issue_token
from wire import outbox as wire_outbox

from waiting import WAIT_S

DEVICES = 1000


async def test_fan_out_to_1000_device_streams(database_url: str, platform_factory: Any) -> None:
    # Plaintext with tokens: a client certificate per device would only make the setup slow.
    async with platform_factory(database_url, insecure=True) as running:
        key, kid = load_jwt_signing_key(running.credentials.layout.root)
        chargers = [f"ch-{n:04d}" for n in range(DEVICES)]
        await onboard(running, "agg-1")
        await topology(running)
        registry = aggregator_client(running)
        await registry.upsert_stations([station("st-1", "ta1")])
        await registry.upsert_chargers([charger(c, "st-1") for c in chargers])
        channel = grpc.aio.insecure_channel(running.target, options=channel_options())
        sessions = [
            DeviceSession(
                channel,
                charger_id,
                metadata=[
                    (
                        "authorization",
                        "Bearer "
                        + issue_token(
                            key,
                            kid,
                            f"vgi://device/{charger_id}",
                            list(AUDIENCES),
                            DEV_ISSUER,
                            600,
                            claims={AGGREGATOR_CLAIM: "agg-1"},
                        ),
                    )
                ],
            )
            for charger_id in chargers
        ]
        try:
            opened = time.perf_counter()
            for start in range(0, DEVICES, 100):
                await asyncio.gather(*(s.__aenter__() for s in sessions[start : start + 100]))
            opened = time.perf_counter() - opened

            async def first_setpoint(session: DeviceSession) -> tuple[Any, float]:
                async for item in session.setpoints():
                    return item, time.perf_counter()
                raise AssertionError("the session ended without a setpoint")

            receivers = [asyncio.ensure_future(first_setpoint(s)) for s in sessions]
            await asyncio.sleep(0)  # let every receiver start waiting
            await running.db.write(
                lambda conn: wire_outbox.enqueue_setpoints(
                    conn,
                    [market_pb2.Setpoint(charger_id=c, power_w=1000 + n) for n, c in enumerate(chargers)],
                )
            )
            committed = time.perf_counter()
            async with asyncio.timeout(WAIT_S * 3):
                results = await asyncio.gather(*receivers)
        finally:
            await asyncio.gather(*(s.close() for s in sessions))
            await channel.close()

    for n, (item, _) in enumerate(results):
        assert (item.sequence, item.setpoint.charger_id, item.setpoint.power_w) == (1, chargers[n], 1000 + n)
    latencies_ms = sorted((at - committed) * 1000 for _, at in results)
    p50 = statistics.median(latencies_ms)
    p99 = latencies_ms[int(len(latencies_ms) * 0.99) - 1]
    print(
        f"\nfan-out to {DEVICES} device streams ({running.platform.settings.database_url.split(':')[0]}): "
        f"opened in {opened:.2f} s; delivery after commit p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"max {latencies_ms[-1]:.0f} ms"
    )
