"""server/heap.py: the oldest generation is collected by the server between fan-outs, never by allocation."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from server.heap import FullCollections

from waiting import until


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def full_collections() -> Iterator[Callable[..., FullCollections]]:
    made: list[FullCollections] = []
    before = gc.get_threshold()

    def make(busy: Callable[[], bool] = lambda: False, **options: Any) -> FullCollections:
        collections = FullCollections(busy, **options)
        made.append(collections)
        return collections

    yield make
    for collections in made:
        collections.uninstall()
    assert gc.get_threshold() == before


def _full_collections_during(work: Callable[[], object]) -> int:
    """How many generation-2 collections the collector started while ``work`` ran."""
    seen: list[int] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            seen.append(1)

    gc.callbacks.append(callback)
    try:
        work()
    finally:
        gc.callbacks.remove(callback)
    return len(seen)


def _long_lived_growth() -> object:
    """Many containers that survive the young collections: what makes CPython collect the oldest generation."""
    kept = [[n] for n in range(len(gc.get_objects()) + 200_000)]
    for _ in range(20):
        gc.collect(1)  # every survivor promoted; 20 young collections counted towards a full one
    return kept


def test_no_full_collection_is_tripped_by_allocation_once_installed(
    full_collections: Callable[..., FullCollections],
) -> None:
    assert _full_collections_during(_long_lived_growth) > 0, "without it, this growth trips a full collection"
    collections = full_collections()
    collections.install()
    assert gc.get_threshold()[2] > 10**9
    assert _full_collections_during(_long_lived_growth) == 0
    collections.uninstall()
    assert _full_collections_during(_long_lived_growth) > 0


def _promoted(count: int) -> list[list[int]]:
    """``count`` new containers moved to the oldest generation (two young collections counted)."""
    kept = [[n] for n in range(count)]
    gc.collect(1)
    gc.collect(1)
    return kept


def test_a_full_collection_is_due_as_cpython_would_when_not_delivering(
    full_collections: Callable[..., FullCollections],
) -> None:
    clock, busy, young = _Clock(), [False], gc.get_threshold()[2]
    collections = full_collections(lambda: busy[0], min_interval_s=10.0, max_defer_s=30.0, clock=clock)
    collections.install()
    collections.collect()
    survivors = len(gc.get_objects(generation=2))
    clock.now += 15.0  # past min_interval_s, within max_defer_s
    assert not collections.due(), "no young collection since the last full one"
    for _ in range(young):
        gc.collect(1)
    assert not collections.due(), "the oldest generation has not grown by a quarter"
    clock.now += 10.0  # its length is walked at most once per min_interval_s
    kept = _promoted(survivors // 4 + 1000)
    assert collections.due()
    busy[0] = True
    assert not collections.due(), "deferred while a fan-out is being written"
    busy[0] = False
    assert collections.step()
    assert collections.collections == 2
    kept += _promoted(len(gc.get_objects(generation=2)) // 4 + 1000)
    for _ in range(young):
        gc.collect(1)
    clock.now += 9.0
    assert not collections.due(), "not within min_interval_s of the last one"
    clock.now += 1.0
    assert collections.due()
    busy[0] = True
    clock.now += 19.0
    assert not collections.due()
    clock.now += 1.0
    assert collections.due(), "a server that is never quiet still collects after max_defer_s"
    assert _full_collections_during(collections.step) == 1
    del kept


async def test_start_runs_the_checks_and_stop_gives_the_thresholds_back(
    full_collections: Callable[..., FullCollections],
) -> None:
    before = gc.get_threshold()
    collections = full_collections(check_s=0.01, min_interval_s=0.0, max_defer_s=0.0)
    collections.start()
    assert gc.get_threshold()[2] > 10**9
    kept = _promoted(len(gc.get_objects(generation=2)) // 4 + 1000)
    for _ in range(before[2]):
        gc.collect(1)
    await until(lambda: collections.collections >= 1, what="the task to run a due full collection")
    await collections.stop()
    assert gc.get_threshold() == before
    del kept


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        FullCollections(lambda: False, check_s=0)
    with pytest.raises(ValueError):
        FullCollections(lambda: False, min_interval_s=10.0, max_defer_s=5.0)


def test_only_one_runs_the_process_full_collections(full_collections: Callable[..., FullCollections]) -> None:
    first = full_collections()
    first.install()
    with pytest.raises(RuntimeError):
        full_collections().install()
    first.uninstall()
    second = full_collections()
    second.install()
    second.uninstall()
