"""Helpers for the delivery tests: enqueueing as a producer would, reading streams with a bound."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from vgi.common.v1 import notifications_pb2

from wire import outbox as wire_outbox

from waiting import WAIT_S


def note(text: str) -> notifications_pb2.Notification:
    """A small notification whose text identifies it."""
    return notifications_pb2.Notification(statement_ready=notifications_pb2.StatementReady(statement=text))


def text_of(notification: notifications_pb2.Notification) -> str:
    return notification.statement_ready.statement


def enqueue(pairs: list[tuple[str, str]]) -> Callable[[sa.Connection], list[int]]:
    """A db.write body enqueueing (aggregator_id, text) notifications in one transaction."""
    return lambda conn: wire_outbox.enqueue_notifications(conn, [(a, note(t)) for a, t in pairs])


async def read_n(call: Any, count: int) -> list[Any]:
    """The next ``count`` messages of a stream call, failing the test if they do not come."""
    got = []
    async with asyncio.timeout(WAIT_S):
        while len(got) < count:
            got.append(await call.read())
    return got
