"""Test data shaped like the field, shared by the suite (SPEC F2 arrival rules).

Real chargers do not report in step: each has its own interval (10 s … 90 s)
and phase, with jitter; some send bursts (several readings a second apart),
some go quiet for a while (gaps); V2G piles discharge (negative power) and
their register is net, so it runs backwards; windows fall on both sides of
local midnight. What reaches the platform is worse: readings arrive late and
out of order, in batches of any size that overlap, with duplicates, with
whole batches re-sent under the same id, and with corrections (a value sent
again with other values — the later arrival is the truth).

Everything is drawn from a ``random.Random`` so a failing case replays from
its seed; property tests draw the seed (and the shape parameters) with
hypothesis. Readings are plain ``Sample`` records; ``meter_value`` turns one
into the wire message and ``reading`` into the store's domain record.

``spec_slot_means`` is SPEC F2's slot mean written out again from the SPEC's
words, without the product's code, so tests can compute what the platform
must answer (mean power and coverage) independently.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction

from google.protobuf.timestamp_pb2 import Timestamp
from vgi.common.v1 import resources_pb2, telemetry_pb2

from domain.calendar import SHANGHAI
from domain.telemetry import Reading

CHARGING = resources_pb2.CHARGER_STATUS_CHARGING
DISCHARGING = resources_pb2.CHARGER_STATUS_DISCHARGING
INTERVALS_S = (10, 15, 30, 60, 90)


@dataclass(frozen=True, slots=True)
class FieldCharger:
    """A charger's reporting habits and ratings."""

    charger_id: str
    interval_s: int
    phase_s: float
    jitter_s: float
    rated_w: int
    bidirectional: bool


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading as the charger took it."""

    charger_id: str
    sample_time: datetime
    power_w: int
    energy_register_wh: int
    soc: Decimal | None
    status: int

    @property
    def key(self) -> tuple[str, datetime]:
        return (self.charger_id, self.sample_time)


@dataclass(frozen=True, slots=True)
class Batch:
    """What one upload carries; a re-sent batch has the same id and the same samples."""

    batch_id: str
    samples: tuple[Sample, ...]


def fleet(rng: random.Random, prefix: str, count: int, *, v2g_share: float = 0.3) -> list[FieldCharger]:
    """``count`` chargers ``{prefix}-{n}`` with their own interval, phase and jitter."""
    chargers = []
    for n in range(count):
        interval = rng.choice(INTERVALS_S)
        bidirectional = rng.random() < v2g_share
        chargers.append(
            FieldCharger(
                charger_id=f"{prefix}-{n}",
                interval_s=interval,
                phase_s=rng.uniform(0, interval),
                jitter_s=rng.uniform(0, interval * 0.2),
                rated_w=rng.choice((7_000, 11_000, 22_000, 60_000)),
                bidirectional=bidirectional,
            )
        )
    return chargers


def readings(
    rng: random.Random,
    chargers: Iterable[FieldCharger],
    start: datetime,
    end: datetime,
    *,
    gap_chance: float = 0.03,
    burst_chance: float = 0.03,
) -> list[Sample]:
    """Each charger's readings in [start, end), at whole milliseconds, sorted by time.

    Power wanders within the ratings (below zero only for V2G), SOC moves
    with it; the register integrates power (net for V2G, starting high so it
    stays positive). Gaps skip several intervals; bursts add readings a
    second apart.
    """
    out: list[Sample] = []
    for charger in chargers:
        at = start + timedelta(seconds=charger.phase_s)
        floor = -charger.rated_w if charger.bidirectional else 0
        power = rng.randint(floor, charger.rated_w)
        register = Decimal(rng.randint(1_000_000, 5_000_000))
        soc = Decimal(rng.randint(10, 90)) / 100
        last: datetime | None = None
        while at < end:
            if rng.random() < gap_chance:
                at += timedelta(seconds=charger.interval_s * rng.randint(3, 20))
                continue
            times = [at]
            if rng.random() < burst_chance:
                times += [at + timedelta(seconds=k) for k in range(1, rng.randint(2, 5))]
            for moment in times:
                moment = _ms(moment)
                if moment >= end or (last is not None and moment <= last):
                    continue
                if last is not None:
                    register += Decimal(power) * Decimal((moment - last).total_seconds()) / 3600
                power = min(charger.rated_w, max(floor, power + rng.randint(-1500, 1500)))
                soc = min(Decimal(1), max(Decimal(0), soc + Decimal(power) / 10_000_000))
                out.append(
                    Sample(
                        charger_id=charger.charger_id,
                        sample_time=moment,
                        power_w=power,
                        energy_register_wh=int(register),
                        soc=soc.quantize(Decimal("0.001")),
                        status=DISCHARGING if power < 0 else CHARGING,
                    )
                )
                last = moment
            jitter = rng.uniform(-charger.jitter_s, charger.jitter_s)
            at += timedelta(seconds=max(1.0, charger.interval_s + jitter))
    return sorted(out, key=lambda s: (s.sample_time, s.charger_id))


def arrivals(
    rng: random.Random,
    samples: Sequence[Sample],
    *,
    late_chance: float = 0.2,
    duplicate_chance: float = 0.1,
    overlap_chance: float = 0.2,
    resend_chance: float = 0.15,
    max_batch: int = 40,
) -> list[Batch]:
    """The same set of readings as the platform receives them: late and out of order, duplicated,
    in batches of any size that overlap, some batches re-sent under their id. No values change:
    whatever the arrival, the stored set must be ``samples``."""
    order = list(samples)
    for i in range(len(order)):
        if rng.random() < late_chance:  # this one arrives up to 30 positions later
            j = min(len(order) - 1, i + rng.randint(1, 30))
            order.insert(j, order.pop(i))
    sent: list[Sample] = []
    for sample in order:
        sent.append(sample)
        if rng.random() < duplicate_chance:
            sent.append(sample)
    batches: list[Batch] = []
    i = 0
    while i < len(sent):
        size = rng.randint(1, max_batch)
        chunk = sent[i : i + size]
        if batches and rng.random() < overlap_chance:  # repeats the tail of the previous batch
            chunk = list(batches[-1].samples[-rng.randint(1, len(batches[-1].samples)) :]) + chunk
        batches.append(Batch(str(uuid.UUID(int=rng.getrandbits(128))), tuple(chunk)))
        i += size
    out: list[Batch] = []
    for batch in batches:
        out.append(batch)
        if rng.random() < resend_chance:  # the ack was lost: the same batch again, maybe later
            out.insert(rng.randint(len(out) - 1, len(out)), batch)
    return out


def corrected_arrivals(
    rng: random.Random, samples: Sequence[Sample], *, correction_chance: float = 0.3, max_batch: int = 40
) -> tuple[list[Batch], list[Sample]]:
    """Arrivals where some readings are first sent with wrong values and corrected later (maybe
    more than once, maybe in the same batch). Each reading's versions keep their order; readings
    interleave freely. Returns the batches and the truth (each key's last version)."""
    queues: list[list[Sample]] = []
    for sample in samples:
        versions = [sample]
        while rng.random() < correction_chance and len(versions) < 4:
            wrong = replace(
                versions[0], power_w=versions[0].power_w + rng.choice((-1, 1)) * rng.randint(1, 5000)
            )
            versions.insert(0, wrong)
        if rng.random() < correction_chance / 2:  # the final value arrives twice
            versions.append(versions[-1])
        queues.append(versions)
    sent: list[Sample] = []
    while queues:
        i = rng.randrange(len(queues))
        sent.append(queues[i].pop(0))
        if not queues[i]:
            queues.pop(i)
    batches = []
    i = 0
    while i < len(sent):
        size = rng.randint(1, max_batch)
        batches.append(Batch(str(uuid.UUID(int=rng.getrandbits(128))), tuple(sent[i : i + size])))
        i += size
    truth: dict[tuple[str, datetime], Sample] = {}
    for sample in sent:
        truth[sample.key] = sample
    return batches, sorted(truth.values(), key=lambda s: (s.sample_time, s.charger_id))


def midnight_window(day: date, hours_each_side: int = 1) -> tuple[datetime, datetime]:
    """A UTC window around the local (Asia/Shanghai) midnight that starts ``day``."""
    midnight = datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)
    return midnight - timedelta(hours=hours_each_side), midnight + timedelta(hours=hours_each_side)


def meter_value(sample: Sample) -> telemetry_pb2.MeterValue:
    stamp = Timestamp()
    stamp.FromDatetime(sample.sample_time)
    message = telemetry_pb2.MeterValue(
        charger_id=sample.charger_id,
        sample_time=stamp,
        power_w=sample.power_w,
        energy_register_wh=sample.energy_register_wh,
        status=sample.status,  # type: ignore[arg-type]
    )
    if sample.soc is not None:
        message.soc = float(sample.soc)
    return message


def reading(sample: Sample) -> Reading:
    return Reading(
        charger_id=sample.charger_id,
        sample_time=sample.sample_time,
        power_w=sample.power_w,
        energy_register_wh=sample.energy_register_wh,
        soc=sample.soc,
        status=sample.status,
    )


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


SLOT = timedelta(minutes=15)
REGISTER_REACH = timedelta(minutes=15)
DEFAULT_HOLD = timedelta(seconds=120)  # the platform's default heartbeat timeout
_US = timedelta(microseconds=1)


def spec_slot_means(
    samples: Sequence[Sample],
    slots: Sequence[datetime],
    *,
    registers: bool,
    hold: timedelta = DEFAULT_HOLD,
) -> dict[datetime, tuple[Fraction, Fraction]]:
    """SPEC F2 by hand for ONE charger's readings: per 15-minute slot start, (mean W, coverage), for the
    slots that have a value. ``registers``: whether the platform may read its register (it was sent,
    and for a V2G charger both registers were — fieldgen's wire message carries the import one only).

    Register: E(t) interpolated between the last reading at or before t and the first at or after t,
    each at most 15 min away; mean = (E(e) − E(s)) / 0.25 h, coverage 1. Else power: each sample holds
    until the next, at most ``hold``; a value when the held samples cover ≥ 90 % of the slot, the value
    ∫P dt / covered seconds, coverage covered / 900 s.
    """
    ordered = sorted(samples, key=lambda s: s.sample_time)
    out: dict[datetime, tuple[Fraction, Fraction]] = {}
    for s in slots:
        e = s + SLOT
        if registers:
            at_s, at_e = _register_at(ordered, s), _register_at(ordered, e)
            if at_s is not None and at_e is not None:
                out[s] = ((at_e - at_s) * 4, Fraction(1))
                continue
        covered = Fraction(0)
        integral = Fraction(0)
        for i, sample in enumerate(ordered):
            held_to = sample.sample_time + hold
            if i + 1 < len(ordered):
                held_to = min(held_to, ordered[i + 1].sample_time)
            seconds = Fraction((min(held_to, e) - max(sample.sample_time, s)) // _US, 10**6)
            if seconds > 0:
                covered += seconds
                integral += sample.power_w * seconds
        if covered and covered / 900 >= Fraction(9, 10):
            out[s] = (integral / covered, covered / 900)
    return out


def _register_at(ordered: Sequence[Sample], at: datetime) -> Fraction | None:
    before = [s for s in ordered if s.sample_time <= at and at - s.sample_time <= REGISTER_REACH]
    after = [s for s in ordered if s.sample_time >= at and s.sample_time - at <= REGISTER_REACH]
    if not before or not after:
        return None
    r0, r1 = before[-1], after[0]
    if r0.sample_time == r1.sample_time:
        return Fraction(r0.energy_register_wh)
    part = Fraction((at - r0.sample_time) // _US, (r1.sample_time - r0.sample_time) // _US)
    return r0.energy_register_wh + (r1.energy_register_wh - r0.energy_register_wh) * part
