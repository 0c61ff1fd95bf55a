"""Descriptor-driven fuzzing of EVERY RPC of the contract, each under a role allowed on it, on both stores.

For every RPC the served surfaces declare, hypothesis draws request bytes
from the request's descriptor (``fuzzing.request_bytes``) and sends them on a
real mTLS connection, with a valid token of a principal whose role the RPC's
policy allows; client streams send one to three messages and close. Each
answer must be neither INTERNAL nor UNKNOWN, and its message must name no
exception class, file or SQL. Afterwards the server must still be SERVING
and answer a principal that took no part.

``VGI_FUZZ_EXAMPLES`` sets the examples per RPC (default 12; ``make fuzz``
runs 300); ``VGI_FUZZ_SEED`` replays a run. The seed is printed with every
failure and, with the number of cases, in the test summary.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections import Counter
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import Future
from typing import Any, TypeVar

import grpc
import pytest
from conftest import BY_ROLE, PlatformFactory, RunningPlatform
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from registry.world import aggregator_client, charger, onboard, station, topology
from security.rpcs import Outcome, Rpc, _status, contract_rpcs

from domain.principal import Principal, Role

from .fuzzing import Builder, request_bytes

pytestmark = pytest.mark.timeout(900)

T = TypeVar("T")
EXAMPLES = int(os.environ.get("VGI_FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("VGI_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
#: Words that betray internals in a status message.
LEAKS = (
    "Error",
    "Exception",
    "Traceback",
    "<class",
    ".py",
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "sqlite",
    "psycopg",
)
#: What the summary prints: store → (cases, RPCs), and how the cases were answered.
RESULTS: dict[str, tuple[int, int]] = {}
CODES: Counter[str] = Counter()
#: Generous: a loaded 2-core machine, a store on the other side.
CALL_TIMEOUT_S = 30.0
#: How long a server stream may stay open before the case counts as admitted and is cancelled.
SETTLE_S = 0.2
#: A grace period shortened so that open streams end quickly at teardown.
UNLIMITED = (
    "read=1000000/1000000",
    "write=1000000/1000000",
    "bulk=1000000/1000000",
    "stream=1000000/1000000",
)


class LoopThread:
    """An event loop on its own thread running the platform; the (synchronous) hypothesis test
    submits coroutines to it and waits for their results."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-platform", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = CALL_TIMEOUT_S * 4) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


class FuzzWorld:
    """A platform with a little world in it (aggregators, topology, a station, a charger)."""

    def __init__(self, thread: LoopThread, factory: PlatformFactory, database_url: str) -> None:
        self._thread = thread
        self._factory = factory
        self._url = database_url
        self._context: Any = None
        self.running: RunningPlatform | None = None

    async def start(self) -> None:
        self._context = self._factory(
            self._url, rate_limits=UNLIMITED, max_streams_per_principal=1000, grace_seconds=1.0
        )
        self.running = running = await self._context.__aenter__()
        await onboard(running, "agg-1", "agg-2")
        await topology(running)
        registry = aggregator_client(running, "agg-1")
        await registry.upsert_stations([station("st-1", "ta1")])
        await registry.upsert_chargers([charger("charger-1", "st-1")])

    async def stop(self) -> None:
        if self._context is not None:
            await self._context.__aexit__(None, None, None)

    def channel(self, principal: Principal) -> grpc.aio.Channel:
        assert self.running is not None
        return self.running.channel_for(principal)


async def _send(world: FuzzWorld, principal: Principal, rpc: Rpc, messages: list[bytes]) -> Outcome:
    """Send raw request bytes; a server stream still open after SETTLE_S counts as admitted."""
    channel = world.channel(principal)  # made on the platform's loop, where it is used
    kwargs: dict[str, Any] = {"request_serializer": None, "response_deserializer": None}
    options: dict[str, Any] = {"timeout": CALL_TIMEOUT_S}

    async def requests() -> AsyncIterator[bytes]:
        for message in messages:
            yield message

    if rpc.client_streaming and rpc.server_streaming:
        call: Any = channel.stream_stream(rpc.path, **kwargs)(requests(), **options)
    elif rpc.client_streaming:
        call = channel.stream_unary(rpc.path, **kwargs)(requests(), **options)
    elif rpc.server_streaming:
        call = channel.unary_stream(rpc.path, **kwargs)(messages[0], **options)
    else:
        call = channel.unary_unary(rpc.path, **kwargs)(messages[0], **options)
    try:
        async with asyncio.timeout(SETTLE_S if rpc.server_streaming else None):
            code = await call.code()
    except TimeoutError:
        call.cancel()
        return Outcome(None)
    return Outcome(code, await call.details(), _status(await call.trailing_metadata()))


def _principal(rpc: Rpc) -> Principal:
    # The first allowed role in a fixed order, so a run is reproducible from its seed.
    for role in (Role.AGGREGATOR, Role.DEVICE, Role.GRID, Role.OPERATOR, Role.INTERNAL):
        if role in rpc.roles:
            return BY_ROLE[role]
    raise AssertionError(f"{rpc} allows no role")


def _cases(rpc: Rpc, builder: Builder) -> Any:
    one = request_bytes(builder, rpc.request_type.DESCRIPTOR, rpc.request_type)
    if rpc.client_streaming:
        return st.lists(one, min_size=1, max_size=3)
    return one.map(lambda data: [data])


def _check(rpc: Rpc, outcome: Outcome) -> None:
    assert outcome.code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), f"{rpc}: {outcome}"
    for word in LEAKS:
        assert word not in outcome.message, f"{rpc}: the message names internals ({word!r}): {outcome}"


def _fuzz(world: FuzzWorld, thread: LoopThread, rpc: Rpc, builder: Builder) -> int:
    """Run hypothesis over one RPC; the number of cases sent."""
    principal = _principal(rpc)
    sent = 0

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(messages=_cases(rpc, builder))
    def case(messages: list[bytes]) -> None:
        nonlocal sent
        sent += 1
        outcome = thread.run(_send(world, principal, rpc, messages))
        CODES[outcome.code.name if outcome.code else "OPEN"] += 1
        _check(rpc, outcome)

    try:
        case()
    except Exception as exc:
        raise AssertionError(f"{rpc} failed under VGI_FUZZ_SEED={SEED}: {exc}") from exc
    return sent


async def _still_serving(world: FuzzWorld) -> None:
    assert world.running is not None
    health = health_pb2_grpc.HealthStub(world.running.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_S)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    # A principal that took no part is answered.
    bystander = aggregator_client(world.running, "agg-2")
    await bystander.upsert_stations([station("st-bystander", "ta2")])
    listed = await bystander.list_stations()
    assert [s.name for s in listed.stations] == ["aggregators/agg-2/stations/st-bystander"]


@pytest.fixture
def world(database_url: str, platform_factory: PlatformFactory) -> Iterator[tuple[FuzzWorld, LoopThread]]:
    thread = LoopThread()
    world = FuzzWorld(thread, platform_factory, database_url)
    try:
        thread.run(world.start())
        yield world, thread
    finally:
        thread.run(world.stop())
        thread.close()


def test_every_rpc_answers_fuzzed_requests_without_internal_errors(
    world: tuple[FuzzWorld, LoopThread], database_url: str
) -> None:
    fuzz_world, thread = world
    builder = Builder()
    rpcs = contract_rpcs()
    cases = sum(_fuzz(fuzz_world, thread, rpc, builder) for rpc in rpcs)
    thread.run(_still_serving(fuzz_world))
    store = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    RESULTS[store] = (cases, len(rpcs))
    assert cases >= len(rpcs), "every RPC got at least one case"


def summary() -> list[str]:
    lines = [
        f"fuzz: {cases} cases over {rpcs} RPCs on {store} (VGI_FUZZ_SEED={SEED}, {EXAMPLES} examples per RPC)"
        for store, (cases, rpcs) in RESULTS.items()
    ]
    if CODES:
        lines.append("fuzz answers: " + ", ".join(f"{code} {n}" for code, n in CODES.most_common()))
    return lines
