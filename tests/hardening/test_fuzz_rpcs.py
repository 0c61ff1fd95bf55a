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

import os
import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from conftest import BY_ROLE, PlatformFactory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from registry.world import aggregator_client, station
from security.rpcs import Outcome, Rpc, contract_rpcs

from domain.principal import Principal, Role

from .fuzzing import Builder, request_bytes
from .live import CALL_TIMEOUT_S, LoopThread, ServerErrors, World, send

pytestmark = pytest.mark.timeout(900)

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


def _fuzz(world: World, rpc: Rpc, builder: Builder) -> int:
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
        outcome, _ = world.thread.run(send(world, principal, rpc, messages))
        CODES[outcome.code.name if outcome.code else outcome.message or "OPEN"] += 1
        _check(rpc, outcome)
        assert not errors.found, f"{rpc}: the server recorded {errors.found}"

    try:
        with ServerErrors().installed() as errors:
            case()
    except Exception as exc:
        raise AssertionError(f"{rpc} failed under VGI_FUZZ_SEED={SEED}: {exc}") from exc
    return sent


async def _still_serving(world: World) -> None:
    health = health_pb2_grpc.HealthStub(world.platform.channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=CALL_TIMEOUT_S)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    # A principal that took no part is answered.
    bystander = aggregator_client(world.platform, "agg-2")
    await bystander.upsert_stations([station("st-bystander", "ta2")])
    listed = await bystander.list_stations()
    assert [s.name for s in listed.stations] == ["aggregators/agg-2/stations/st-bystander"]


@pytest.fixture
def world(database_url: str, platform_factory: PlatformFactory) -> Iterator[World]:
    thread = LoopThread()
    world = World(thread, platform_factory, database_url)
    try:
        thread.run(world.start())
        yield world
    finally:
        thread.run(world.stop())
        thread.close()


def test_every_rpc_answers_fuzzed_requests_without_internal_errors(world: World, database_url: str) -> None:
    builder = Builder()
    rpcs = contract_rpcs()
    cases = sum(_fuzz(world, rpc, builder) for rpc in rpcs)
    world.thread.run(_still_serving(world))
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
