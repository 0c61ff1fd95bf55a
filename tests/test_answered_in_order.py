"""``server.servicers.in_order``: a client stream's messages started as they arrive, answered in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from server.servicers.in_order import answered_in_order

pytestmark = pytest.mark.timeout(30)


async def _requests(*items: int) -> AsyncIterator[int]:
    for item in items:
        yield item


async def test_answers_keep_the_arrival_order_when_a_later_message_finishes_first() -> None:
    first_may_end = asyncio.Event()
    finished: list[int] = []

    async def start(n: int) -> str:
        if n == 1:
            await first_may_end.wait()
        finished.append(n)
        if n == 3:
            first_may_end.set()  # 2 and 3 end before 1
        return f"answer {n}"

    answers = [a async for a in answered_in_order(_requests(1, 2, 3), start, 3)]

    assert finished == [2, 3, 1]
    assert answers == ["answer 1", "answer 2", "answer 3"]


async def test_the_next_message_starts_while_the_previous_one_is_unanswered_up_to_the_depth() -> None:
    started: list[int] = []
    seen_by_first: list[list[int]] = []
    second_started = asyncio.Event()

    async def start(n: int) -> int:
        started.append(n)
        if n == 1:
            await second_started.wait()  # never ends unless 2 starts meanwhile
            seen_by_first.append(list(started))
        if n == 2:
            second_started.set()
        return n

    answers = [a async for a in answered_in_order(_requests(1, 2, 3, 4), start, 2)]

    assert answers == [1, 2, 3, 4]
    # Depth 2: while 1 was unanswered, 2 had started, and 3 had not.
    assert seen_by_first == [[1, 2]]


async def test_depth_one_starts_each_message_only_after_the_previous_answer() -> None:
    started: list[int] = []
    seen_at_end: list[list[int]] = []

    async def start(n: int) -> int:
        started.append(n)
        for _ in range(5):
            await asyncio.sleep(0)  # gives the reader its chances to start the next one, if it could
        seen_at_end.append(list(started))
        return n

    answers = [a async for a in answered_in_order(_requests(1, 2, 3), start, 1)]

    assert answers == [1, 2, 3]
    assert seen_at_end == [[1], [1, 2], [1, 2, 3]]


async def test_a_failure_ends_the_stream_after_the_earlier_answers_and_started_messages_still_finish() -> (
    None
):
    second_may_end = asyncio.Event()
    second_done = asyncio.Event()

    async def start(n: int) -> int:
        if n == 2:
            await second_may_end.wait()
            second_done.set()
            return n
        if n == 3:
            raise RuntimeError("outage")
        return n

    stream = answered_in_order(_requests(1, 3, 2, 4), start, 3)
    answers = []
    with pytest.raises(RuntimeError, match="outage"):
        async for answer in stream:
            answers.append(answer)

    assert answers == [1]
    # 2 had started before the stream ended: it runs to its end all the same (its write, its audit).
    second_may_end.set()
    await asyncio.wait_for(second_done.wait(), 10)


async def test_a_failing_request_stream_is_answered_after_the_started_messages() -> None:
    async def requests() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise ConnectionError("the client's stream broke")

    async def start(n: int) -> int:
        return n * 10

    answers = []
    with pytest.raises(ConnectionError):
        async for answer in answered_in_order(requests(), start, 4):
            answers.append(answer)
    assert answers == [10, 20]


async def test_depth_must_be_positive() -> None:
    async def start(n: int) -> int:
        return n

    with pytest.raises(ValueError, match="depth"):
        async for _ in answered_in_order(_requests(1), start, 0):
            pass
