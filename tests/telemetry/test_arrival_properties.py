"""Property tests of the arrival rules (SPEC F2) on a real store, SQLite and PostgreSQL.

Field-shaped data (tests/fieldgen.py) delivered the way the field delivers
it must end in the state an orderly delivery gives:

- ingest: any permutation and split into batches — with overlaps,
  duplicates and re-sent batches — of one set of readings stores the same
  rows, acknowledges the same totals and gives the same slot values;
- corrections: the later arrival wins, and each is counted and recorded once;
- sessions: start/stop messages shuffled and duplicated end as in order,
  with at most one ACTIVE session per charger (the latest plug-in) and
  end ≥ plug-in;
- topology: deleting or moving stations, or moving chargers to other
  stations, afterwards leaves node and station history as it was.

Each example works on its own aggregator, node and charger ids, so the
examples share one migrated store; every write is its own transaction, like a call.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import fieldgen
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Connection

from application import registry as use_cases
from application.uow import UnitOfWork
from domain.telemetry import to_ppb
from store import aggregators, migrate, registry, telemetry
from store.db import Database
from store.registry import Charger, GridNode, Session, Station
from store.telemetry import corrections_table, meter_values
from wire import notices as wire_notices

pytestmark = pytest.mark.timeout(600)

T = TypeVar("T")
PROPERTY = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
BASE = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai: windows cross local midnight
FAR = timedelta(days=3650)  # the ingest's skew bound, far away: every time here is in the past


@pytest.fixture
def store(database_url: str) -> Iterator[Database]:
    db = Database(database_url, threads=2, publisher=wire_notices.publish)
    migrate.upgrade(database_url)
    try:
        yield db
    finally:
        db.engine.dispose()


def _tx(db: Database, work: Callable[[Connection], T]) -> T:
    with db.engine.begin() as conn:
        return work(conn)


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def _world(db: Database, aggregator_id: str, stations: dict[str, str], chargers: dict[str, str]) -> None:
    """An aggregator with stations (station → node) and chargers (charger → station); nodes exist."""
    now = datetime.now(UTC)

    def build(conn: Connection) -> None:
        aggregators.create(
            conn,
            aggregator_id=aggregator_id,
            display_name=aggregator_id,
            unified_social_credit_code="",
            contact_email="",
            now=now,
        )
        use_cases.upsert_stations(
            UnitOfWork(conn, now), aggregator_id, [Station(s, "", node, 0, 0) for s, node in stations.items()]
        )
        use_cases.upsert_chargers(
            UnitOfWork(conn, now),
            aggregator_id,
            [Charger(c, station, "V2G", 60_000, 60_000, True, False) for c, station in chargers.items()],
        )

    _tx(db, build)


def _nodes(db: Database, *node_ids: str, parent: str | None = None) -> None:
    _tx(
        db,
        lambda conn: use_cases.upsert_grid_nodes(
            UnitOfWork(conn, datetime.now(UTC)),
            ([GridNode(parent, "FEEDER", None, "", 0, 0)] if parent else [])
            + [GridNode(n, "TRANSFORMER_AREA", parent, "", 0, 0) for n in node_ids],
        ),
    )


def _ingest(db: Database, aggregator_id: str, batch: fieldgen.Batch) -> telemetry.BatchResult:
    return _tx(
        db,
        lambda conn: telemetry.ingest_batch(
            conn,
            charger_id=None,
            aggregator_id=aggregator_id,
            batch_id=batch.batch_id,
            readings=[fieldgen.reading(s) for s in batch.samples],
            aggregates=(),
            now=datetime.now(UTC),
            max_skew=FAR,
        ),
    )


def _rows(db: Database, charger_ids: list[str]) -> set[tuple[Any, ...]]:
    return _tx(
        db,
        lambda conn: {
            (row.charger_id, row.sample_time, row.power_w, row.energy_register_wh, row.soc_ppb, row.status)
            for row in conn.execute(sa.select(meter_values).where(meter_values.c.charger_id.in_(charger_ids)))
        },
    )


def _as_rows(samples: list[fieldgen.Sample], rename: dict[str, str] | None = None) -> set[tuple[Any, ...]]:
    return {
        (
            (rename or {}).get(s.charger_id, s.charger_id),
            s.sample_time,
            s.power_w,
            s.energy_register_wh,
            None if s.soc is None else to_ppb(s.soc),
            s.status,
        )
        for s in samples
    }


def _field(seed: int, chargers: int, minutes: int, prefix: str) -> list[fieldgen.Sample]:
    rng = random.Random(seed)
    return fieldgen.readings(
        rng,
        fieldgen.fleet(rng, prefix, chargers),
        BASE + timedelta(minutes=rng.randint(0, 90)),
        BASE + timedelta(hours=2, minutes=minutes),
    )


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), chargers=st.integers(1, 4), minutes=st.integers(1, 40))
def test_property_ingest_is_independent_of_order_split_overlap_duplicates_and_resends(
    store: Database, seed: int, chargers: int, minutes: int
) -> None:
    tag = _tag()
    samples = _field(seed, chargers, minutes, f"o{tag}")  # the orderly twin, one batch
    rename = {s.charger_id: s.charger_id.replace(f"o{tag}", f"f{tag}") for s in samples}
    field_samples = [dataclasses.replace(s, charger_id=rename[s.charger_id]) for s in samples]
    _nodes(store, f"n{tag}")
    for side, ids in (("o", sorted(set(rename))), ("f", sorted(set(rename.values())))):
        _world(store, f"agg-{side}{tag}", {"st": f"n{tag}"}, dict.fromkeys(ids, "st"))

    orderly = _ingest(store, f"agg-o{tag}", fieldgen.Batch(str(uuid.uuid4()), tuple(samples)))
    answers: dict[str, telemetry.BatchResult] = {}
    sent = replays = 0
    for batch in fieldgen.arrivals(random.Random(seed ^ 0x5EED), field_samples):
        result = _ingest(store, f"agg-f{tag}", batch)
        if batch.batch_id in answers:
            replays += 1
            assert result == telemetry.BatchResult(
                answers[batch.batch_id].stored_points,
                answers[batch.batch_id].duplicate_points,
                answers[batch.batch_id].corrected_points,
                replayed=True,
            )
        else:
            answers[batch.batch_id] = result
            sent += len(batch.samples)

    assert orderly == telemetry.BatchResult(len(samples), 0, 0)
    first = list(answers.values())
    assert sum(a.stored_points for a in first) == len(samples)
    assert sum(a.stored_points + a.duplicate_points + a.corrected_points for a in first) == sent
    assert sum(a.corrected_points for a in first) == 0
    assert _rows(store, sorted(rename.values())) == _as_rows(samples, rename)
    assert _rows(store, sorted(rename)) == _as_rows(samples)
    window = {"start": BASE - timedelta(hours=1), "end": BASE + timedelta(hours=4)}
    assert _tx(store, lambda c: telemetry.slot_values(c, aggregator_id=f"agg-f{tag}", **window)) == _tx(
        store, lambda c: telemetry.slot_values(c, aggregator_id=f"agg-o{tag}", **window)
    )


@PROPERTY
@given(seed=st.integers(0, 2**32 - 1), chargers=st.integers(1, 3), minutes=st.integers(1, 20))
def test_property_corrections_the_later_arrival_wins_and_each_is_counted_and_recorded_once(
    store: Database, seed: int, chargers: int, minutes: int
) -> None:
    tag = _tag()
    samples = _field(seed, chargers, minutes, f"c{tag}")
    _nodes(store, f"n{tag}")
    _world(store, f"agg-{tag}", {"st": f"n{tag}"}, dict.fromkeys({s.charger_id for s in samples}, "st"))
    batches, truth = fieldgen.corrected_arrivals(random.Random(seed), samples)

    results = [_ingest(store, f"agg-{tag}", batch) for batch in batches]

    expected = {"stored": 0, "duplicate": 0, "corrected": 0}
    last: dict[tuple[str, datetime], fieldgen.Sample] = {}
    changes = []
    for sample in (s for batch in batches for s in batch.samples):
        before = last.get(sample.key)
        kind = "stored" if before is None else "duplicate" if before == sample else "corrected"
        expected[kind] += 1
        if kind == "corrected":
            changes.append((sample.charger_id, sample.sample_time, before.power_w, sample.power_w))  # type: ignore[union-attr]
        last[sample.key] = sample
    assert {
        "stored": sum(r.stored_points for r in results),
        "duplicate": sum(r.duplicate_points for r in results),
        "corrected": sum(r.corrected_points for r in results),
    } == expected
    ids = sorted({s.charger_id for s in samples})
    assert _rows(store, ids) == _as_rows(truth)
    recorded = _tx(
        store,
        lambda conn: sorted(
            (row.charger_id, row.sample_time, row.old_power_w, row.new_power_w)
            for row in conn.execute(
                sa.select(corrections_table).where(corrections_table.c.charger_id.in_(ids))
            )
        ),
    )
    assert recorded == sorted(changes)


# ---------------------------------------------------------------- sessions


def _session(session_id: str, charger_id: str, plug_in: datetime) -> Session:
    return Session(
        session_id=session_id,
        charger_id=charger_id,
        plug_in_time=plug_in,
        expected_departure_time=plug_in + timedelta(hours=8),
        battery_wh=60_000,
        soc_ppb=500_000_000,
        target_soc_ppb=900_000_000,
        v2g_floor_soc_ppb=0,
        max_charge_w=7_000,
        max_discharge_w=0,
        bidirectional=False,
    )


Message = tuple[str, str, datetime]
"""("start" | "stop", session number, time)."""


@st.composite
def session_histories(draw: st.DrawFn) -> tuple[list[Message], list[Message]]:
    """Sessions on one charger in order of plug-in (each maybe stopped, maybe after the next plug-in),
    and the same messages shuffled (a session's stop after its own start) with duplicates."""
    count = draw(st.integers(1, 5))
    gaps = draw(st.lists(st.integers(1, 600), min_size=count, max_size=count))
    plug_ins, at = [], BASE
    for gap in gaps:
        at += timedelta(minutes=gap)
        plug_ins.append(at)
    in_order: list[Message] = []
    for n, plug_in in enumerate(plug_ins):
        in_order.append(("start", f"s{n}", plug_in))
        stay = draw(st.one_of(st.none(), st.integers(0, 900)))
        if stay is not None:
            in_order.append(("stop", f"s{n}", plug_in + timedelta(minutes=stay)))
    in_order.sort(key=lambda m: (m[2], m[0] != "start"))  # a start before a stop at the same instant
    shuffled = draw(st.permutations(in_order))
    fixed: list[Message] = []
    for message in shuffled:  # a stop for a session not started yet waits for its start (NOT_FOUND otherwise)
        if message[0] == "stop" and ("start", message[1]) not in {(m[0], m[1]) for m in fixed}:
            start = next(m for m in in_order if m[0] == "start" and m[1] == message[1])
            fixed.append(start)
        fixed.append(message)
    repeats = draw(st.lists(st.integers(0, len(fixed) - 1), max_size=4))
    for index in repeats:
        fixed.insert(draw(st.integers(index + 1, len(fixed))), fixed[index])
    return in_order, fixed


def _deliver(db: Database, aggregator_id: str, charger_id: str, messages: list[Message]) -> None:
    for kind, number, at in messages:
        session_id = f"{charger_id}-{number}"

        def deliver(
            conn: Connection, kind: str = kind, session_id: str = session_id, at: datetime = at
        ) -> None:
            if kind == "start":
                session = _session(session_id, charger_id, at)
                telemetry.start_session(conn, aggregator_id, charger_id, session, datetime.now(UTC))
            else:
                telemetry.stop_session(conn, aggregator_id, session_id, at, charger_id=charger_id)

        _tx(db, deliver)


def _session_states(db: Database, charger_id: str) -> list[tuple[str, str, datetime, datetime | None]]:
    rows = _tx(
        db,
        lambda conn: conn.execute(
            sa.select(registry.sessions).where(registry.sessions.c.charger_id == charger_id)
        ).all(),
    )
    return sorted(
        (r.session_id.removeprefix(f"{charger_id}-"), r.state, r.plug_in_time, r.end_time) for r in rows
    )


@PROPERTY
@given(history=session_histories())
def test_property_session_messages_shuffled_and_duplicated_end_as_in_order(
    store: Database, history: tuple[list[Message], list[Message]]
) -> None:
    in_order, shuffled = history
    tag = _tag()
    _nodes(store, f"n{tag}")
    _world(store, f"agg-{tag}", {"st": f"n{tag}"}, {f"a{tag}": "st", f"b{tag}": "st"})

    _deliver(store, f"agg-{tag}", f"a{tag}", in_order)
    _deliver(store, f"agg-{tag}", f"b{tag}", shuffled)

    orderly, field = _session_states(store, f"a{tag}"), _session_states(store, f"b{tag}")
    assert field == orderly
    active = [s for s in field if s[1] == registry.ACTIVE]
    assert len(active) <= 1
    if active:
        assert active[0][2] == max(s[2] for s in field)  # the latest plug-in
    assert all(end is None or end >= plug_in for _, _, plug_in, end in field)
    assert all((end is None) == (state == registry.ACTIVE) for _, state, _, end in field)


# ---------------------------------------------------------------- topology


Operation = tuple[str, int, int]
"""("delete" | "move" | "recreate", station number (mod 3), node number) or ("charger", charger number,
station number): a station deleted, moved or upserted again, or a charger moved to a live station."""


@PROPERTY
@given(
    seed=st.integers(0, 2**32 - 1),
    operations=st.lists(
        st.tuples(
            st.sampled_from(["delete", "move", "recreate", "charger"]), st.integers(0, 5), st.integers(0, 2)
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_property_node_and_station_history_is_unchanged_by_deleting_or_moving_stations_or_chargers(
    store: Database, seed: int, operations: list[Operation]
) -> None:
    tag = _tag()
    nodes = [f"n{tag}-{k}" for k in range(3)]
    _nodes(store, *nodes, parent=f"p{tag}")
    rng = random.Random(seed)
    chargers = fieldgen.fleet(rng, f"t{tag}", 6)
    stations = {f"st{k}": nodes[k % 3] for k in range(3)}
    placed = {c.charger_id: f"st{n % 3}" for n, c in enumerate(chargers)}
    aggregator_id = f"agg-{tag}"
    _world(store, aggregator_id, stations, placed)
    samples = fieldgen.readings(rng, chargers, BASE, BASE + timedelta(hours=1))
    _ingest(store, aggregator_id, fieldgen.Batch(str(uuid.uuid4()), tuple(samples)))
    window = {"start": BASE, "end": BASE + timedelta(hours=1)}

    def history() -> dict[str, dict[datetime, telemetry.SlotValue]]:
        found = {
            node: _tx(store, lambda c, n=node: telemetry.slot_values(c, node_id=n, **window))
            for node in [*nodes, f"p{tag}"]
        }
        for station_id in stations:
            found[station_id] = _tx(
                store,
                lambda c, s=station_id: telemetry.slot_values(
                    c, aggregator_id=aggregator_id, station_id=s, **window
                ),
            )
        return found

    before = history()
    assert sum(len(v) for v in before.values()) > 0
    for kind, number, node in operations:
        station_id, now = f"st{number % 3}", datetime.now(UTC)
        if kind == "charger":
            charger = chargers[number]
            _tx(store, lambda c, ch=charger, s=f"st{node}", t=now: _move_if_live(c, aggregator_id, ch, s, t))
        elif kind == "delete":
            _tx(store, lambda c, s=station_id, t=now: _delete_if_live(c, aggregator_id, s, t))
        else:
            _tx(
                store,
                lambda c, s=station_id, n=nodes[node], t=now: use_cases.upsert_stations(
                    UnitOfWork(c, t), aggregator_id, [Station(s, "", n, 0, 0)]
                ),
            )

    assert history() == before


def _move_if_live(
    conn: Connection, aggregator_id: str, charger: fieldgen.FieldCharger, station_id: str, now: datetime
) -> None:
    if _live(conn, aggregator_id, station_id):
        use_cases.upsert_chargers(
            UnitOfWork(conn, now),
            aggregator_id,
            [Charger(charger.charger_id, station_id, "V2G", 60_000, 60_000, True, False)],
        )


def _delete_if_live(conn: Connection, aggregator_id: str, station_id: str, now: datetime) -> None:
    if _live(conn, aggregator_id, station_id):
        use_cases.delete_station(UnitOfWork(conn, now), aggregator_id, station_id)


def _live(conn: Connection, aggregator_id: str, station_id: str) -> bool:
    live = conn.execute(
        sa.select(registry.stations.c.station_id).where(
            registry.stations.c.aggregator_id == aggregator_id,
            registry.stations.c.station_id == station_id,
            registry.stations.c.delete_time.is_(None),
        )
    ).first()
    return live is not None
