"""SIGKILL of one of two `vgi serve` processes: clients on round_robin carry on through the other.

The grid publishes events through an SDK channel naming both processes; an
aggregator holds four notification streams on one such channel (round_robin
puts two on each process), acknowledging only at the end. Process A is killed with SIGKILL while the grid
is publishing. Every publish still returns OK (an in-flight call broken by
the kill is retried on B with its request_id), every stream broken by the
kill resumes on B after its cursor, and every acknowledged event is in the
store with exactly one invitation per aggregator and reaches every stream.
"""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import Awaitable

import pytest
import sqlalchemy as sa
from conftest import GRID, DevCredentials
from dr import world
from vgi.common.v1 import notifications_pb2

from clients.market import AggregatorMarketClient, GridMarketClient
from clients.streams import NotificationSubscriber
from domain.principal import Principal, Role
from store.market_tables import EventRow
from store.outbox_tables import OutboxNotificationRow
from store.tables import table_of

from .conftest import Seeded, Serve, channel, free_port, store
from waiting import until, within

pytestmark = pytest.mark.timeout(120)

AGG_A = Principal(Role.AGGREGATOR, "agg-a", "agg-a")
EVENTS = 40
KILL_AFTER = 15
STREAMS = 4


async def _collect(subscriber: NotificationSubscriber) -> set[str]:
    """The invitations' event ids, once there are EVENTS of them.

    No acks while reading: the streams share agg-a's acknowledged cursor, and
    each must resume after its OWN cursor to show that nothing is skipped.
    """
    seen: set[str] = set()
    async for notification in subscriber:
        seen.add(notification.invitation.event_id)
        if len(seen) == EVENTS:
            break
    return seen


async def test_sigkill_of_one_process_loses_nothing_acknowledged(
    database_url: str, serve: Serve, dev_credentials: DevCredentials
) -> None:
    async with store(database_url) as db:
        await world.build(Seeded(db))
    # Each process with its own Prometheus port, so the test can see where the streams are.
    metrics_ports = {}
    servers = []
    for _ in range(2):
        port = free_port()
        [server] = await serve(database_url, 1, prometheus_port=port)
        metrics_ports[server.port] = port
        servers.append(server)
    both = [server.target for server in servers]
    grid = GridMarketClient(channel(dev_credentials, GRID, both))
    aggregator_channel = channel(dev_credentials, AGG_A, both)
    aggregator = AggregatorMarketClient(aggregator_channel)
    await aggregator_channel.channel_ready()
    for _ in range(4):
        await aggregator.list_events()
    subscribers = [NotificationSubscriber(aggregator_channel) for _ in range(STREAMS)]
    readers = [asyncio.create_task(_collect(s)) for s in subscribers]

    async def placement() -> list[int]:
        return [await _aggregator_streams(metrics_ports[server.port]) for server in servers]

    await until(
        lambda: _summed(placement(), STREAMS),
        what=f"{STREAMS} notification streams open on the two processes",
    )
    # Round robin spreads the streams when both connections are ready, but it need not: the process
    # holding the most streams is the one killed, so at least one stream must break and resume.
    counts = await placement()
    a, b = (servers[0], servers[1]) if counts[0] >= counts[1] else (servers[1], servers[0])

    acknowledged = []
    for n in range(EVENTS):
        if n == KILL_AFTER:
            # Mid-flight: the kill lands while the next publish is on the wire.
            kill = asyncio.create_task(asyncio.to_thread(a.kill))
        event = await grid.publish_event(world.day_ahead_event(f"dr-f{n}", world.tomorrow_at(18), [50_000]))
        acknowledged.append(event.event_id)
    await kill
    assert a.process.returncode == -9
    assert b.process.poll() is None

    expected = {f"dr-f{n}" for n in range(EVENTS)}
    assert set(acknowledged) == expected
    assert (
        await within(asyncio.gather(*readers), what="every stream to see every event") == [expected] * STREAMS
    )
    # The killed process held streams: they broke and resumed on the other.
    assert sum(s.reconnects for s in subscribers) >= 1
    assert await subscribers[0].ack() == EVENTS

    async with store(database_url) as db:
        events, invited = await db.read(_effects)
    assert events == sorted(expected)
    assert invited == sorted(
        f"{aggregator_id} {event_id}" for event_id in expected for aggregator_id in world.AGGREGATORS
    )


_STREAMS_OPEN = re.compile(r'^vgi_streams_open\{[^}]*vgi_surface="aggregator"[^}]*\}\s+(\S+)$', re.MULTILINE)


async def _aggregator_streams(metrics_port: int) -> int:
    """The aggregator streams a process has open, from its Prometheus endpoint."""

    def scrape() -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
            return str(answer.read().decode())

    found = _STREAMS_OPEN.search(await asyncio.to_thread(scrape))
    return int(float(found.group(1))) if found else 0


async def _summed(counts: Awaitable[list[int]], total: int) -> bool:
    return sum(await counts) == total


def _effects(conn: sa.Connection) -> tuple[list[str], list[str]]:
    events = table_of(EventRow)
    notifications = table_of(OutboxNotificationRow)
    invited = [
        f"{row.aggregator_id} {notifications_pb2.Notification.FromString(bytes(row.payload)).invitation.event_id}"
        for row in conn.execute(
            sa.select(notifications.c.aggregator_id, notifications.c.payload).where(
                notifications.c.kind == "invitation"
            )
        )
    ]
    return sorted(conn.execute(sa.select(events.c.event_id)).scalars()), sorted(invited)
