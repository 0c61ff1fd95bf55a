"""The EV population: aggregators, stations, chargers and EV sessions, and how the EVs charge.

Everything here is deterministic for a seed: each charger's sessions come from
its own ``random.Random`` keyed by (seed, charger), so adding chargers or
aggregators never changes the others' behaviour.

Behaviour by site (local Asia/Shanghai time):

* residential (home AC and V2G piles of a car-OEM's customers): one plug-in
  most evenings, arrival ~ N(18:30, 1.4 h), departure the next morning
  ~ N(07:40, 0.8 h), SOC on arrival 15–55 %, target 90 %;
* workplace (AC): weekday mornings ~ N(08:40, 0.7 h) for ~ 8.5 h;
* public (DC fast chargers): 2–5 short sessions a day, 40 % around noon and
  60 % in the evening, 25–60 min, SOC 10–35 % → 80 %;
* depot (a ride-hailing fleet's AC and V2G piles): most evenings
  ~ N(20:30, 1.5 h) until ~ 06:30, SOC 10–40 % → 95 %.

Unmanaged charging starts at plug-in at full power (the lower of the
charger's and the vehicle's limit) until the target SOC is reached or the car
leaves. ``unmanaged_load`` computes that in closed form for history days;
``Fleet`` steps it slot by slot on the event day, where aggregators curtail
(and V2G piles discharge) to follow their instructions, never below the F3
floor that still reaches the target by departure at full power.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np

SHANGHAI = ZoneInfo("Asia/Shanghai")
SLOT = timedelta(minutes=15)
SLOT_H = 0.25
SLOTS_PER_DAY = 96
STATION_SIZE = 40
"""Chargers per station (a car park, a depot, a fast-charging hub)."""


class Site(StrEnum):
    RESIDENTIAL = "residential"
    WORKPLACE = "workplace"
    PUBLIC = "public"
    DEPOT = "depot"


class Kind(StrEnum):
    AC = "AC"
    DC = "DC"
    V2G = "V2G"


@dataclass(frozen=True)
class Profile:
    """An aggregator's business: its sites and hardware mix, its bid price and how well it follows orders."""

    name: str
    display_name: str
    mix: tuple[tuple[Site, Kind, float], ...]
    """(site, charger kind, share of the aggregator's chargers)."""
    bid_price: str
    """CNY per kWh asked for load decrease."""
    compliance: float
    """Response delivered per watt instructed (1.0 follows exactly)."""


PROFILES: tuple[Profile, ...] = (
    Profile(
        "oem-link",
        "OEM Link (car-OEM cloud, home chargers)",
        ((Site.RESIDENTIAL, Kind.AC, 0.7), (Site.RESIDENTIAL, Kind.V2G, 0.3)),
        "1.20",
        1.02,
    ),
    Profile(
        "city-charge",
        "City Charge (public charging operator)",
        ((Site.PUBLIC, Kind.DC, 0.25), (Site.WORKPLACE, Kind.AC, 0.35), (Site.RESIDENTIAL, Kind.AC, 0.4)),
        "1.50",
        0.93,
    ),
    Profile(
        "fleet-hub",
        "Fleet Hub (ride-hailing depot)",
        ((Site.DEPOT, Kind.AC, 0.7), (Site.DEPOT, Kind.V2G, 0.3)),
        "1.80",
        0.62,
    ),
)

_RATED_W = {
    (Site.RESIDENTIAL, Kind.AC): (7_000, 0),
    (Site.RESIDENTIAL, Kind.V2G): (11_000, 11_000),
    (Site.WORKPLACE, Kind.AC): (11_000, 0),
    (Site.PUBLIC, Kind.DC): (120_000, 0),
    (Site.DEPOT, Kind.AC): (11_000, 0),
    (Site.DEPOT, Kind.V2G): (11_000, 11_000),
}


@dataclass(frozen=True)
class Aggregator:
    aggregator_id: str
    profile: Profile


@dataclass(frozen=True)
class Station:
    station_id: str
    aggregator_id: str
    grid_node: str
    site: Site


@dataclass(frozen=True)
class Charger:
    charger_id: str
    aggregator_id: str
    station_id: str
    site: Site
    kind: Kind
    rated_charge_w: int
    rated_discharge_w: int
    platform_managed: bool


@dataclass(frozen=True)
class Session:
    """One EV plugged into one charger, with its needs (SOC as fractions of battery energy)."""

    session_id: str
    charger_id: str
    aggregator_id: str
    arrival: datetime
    departure: datetime
    battery_wh: int
    soc: float
    target_soc: float
    v2g_floor_soc: float
    max_charge_w: int
    max_discharge_w: int
    bidirectional: bool
    charge_w: int
    """Effective charging limit: the lower of the charger's and the vehicle's."""
    discharge_w: int
    """Effective discharging limit; 0 unless charger and vehicle are bidirectional."""

    @property
    def need_wh(self) -> float:
        return max(self.target_soc - self.soc, 0.0) * self.battery_wh

    def delivered_by(self, at: datetime) -> float:
        """Energy an unmanaged session has taken by ``at`` (full power from plug-in until the need is met)."""
        hours = (min(at, self.departure) - self.arrival).total_seconds() / 3600
        return min(self.need_wh, self.charge_w * max(hours, 0.0))


@dataclass(frozen=True)
class Population:
    seed: int
    feeder: str
    areas: tuple[str, ...]
    """Transformer areas (台区) under the feeder; stations connect to them."""
    aggregators: tuple[Aggregator, ...]
    stations: tuple[Station, ...]
    chargers: tuple[Charger, ...]

    def chargers_of(self, aggregator_id: str) -> list[Charger]:
        return [c for c in self.chargers if c.aggregator_id == aggregator_id]

    def stations_of(self, aggregator_id: str) -> list[Station]:
        return [s for s in self.stations if s.aggregator_id == aggregator_id]


def build_population(
    seed: int, chargers: int, aggregators: int, *, managed_per_aggregator: int = 2
) -> Population:
    """``chargers`` split evenly over ``aggregators`` (profiles cycled), each split into single-site stations.

    The first ``managed_per_aggregator`` home or depot chargers of each
    aggregator are platform-managed: the platform sends them setpoints itself.
    """
    if aggregators < 1 or chargers < aggregators:
        raise ValueError("need at least one aggregator and one charger per aggregator")
    areas = tuple(f"ta-{i + 1:02d}" for i in range(max(2, math.ceil(chargers / 250))))
    aggs: list[Aggregator] = []
    stations: list[Station] = []
    all_chargers: list[Charger] = []
    area_cursor = 0
    for index in range(aggregators):
        profile = PROFILES[index % len(PROFILES)]
        round_ = index // len(PROFILES)
        aggregator_id = profile.name if round_ == 0 else f"{profile.name}-{round_ + 1}"
        aggs.append(Aggregator(aggregator_id, profile))
        count = chargers // aggregators + (1 if index < chargers % aggregators else 0)
        managed_left = managed_per_aggregator
        for site, kind, count_of_kind in _apportion(profile.mix, count):
            for first in range(0, count_of_kind, STATION_SIZE):
                station_id = (
                    f"{aggregator_id}-{site.value[:3]}-{kind.value.lower()}-{first // STATION_SIZE + 1}"
                )
                stations.append(Station(station_id, aggregator_id, areas[area_cursor % len(areas)], site))
                area_cursor += 1
                for n in range(first, min(first + STATION_SIZE, count_of_kind)):
                    rated, discharge = _RATED_W[(site, kind)]
                    managed = managed_left > 0 and site in (Site.RESIDENTIAL, Site.DEPOT)
                    managed_left -= managed
                    all_chargers.append(
                        Charger(
                            f"{station_id}-{n - first + 1:02d}",
                            aggregator_id,
                            station_id,
                            site,
                            kind,
                            rated,
                            discharge,
                            managed,
                        )
                    )
    return Population(seed, "fd-1", areas, tuple(aggs), tuple(stations), tuple(all_chargers))


def _apportion(mix: Sequence[tuple[Site, Kind, float]], count: int) -> list[tuple[Site, Kind, int]]:
    """Whole chargers per mix entry summing to ``count`` (largest remainder)."""
    exact = [share * count for _, _, share in mix]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(mix)), key=lambda i: exact[i] - counts[i], reverse=True)[: count - sum(counts)]:
        counts[i] += 1
    return [(site, kind, n) for (site, kind, _), n in zip(mix, counts, strict=True) if n]


# ---------------------------------------------------------------- sessions


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def _at(day: date, hours: float) -> datetime:
    """``hours`` after local midnight of ``day``, to the minute."""
    return local_midnight(day) + timedelta(minutes=round(hours * 60))


def _battery(rng: random.Random) -> int:
    return rng.choices((50_000, 60_000, 75_000, 90_000), weights=(3, 3, 2.5, 1.5))[0]


def sessions_for_days(population: Population, days: Sequence[date]) -> dict[date, list[Session]]:
    """Each charger's sessions arriving on each of ``days`` (consecutive, oldest first), never overlapping."""
    out: dict[date, list[Session]] = {day: [] for day in days}
    for charger in population.chargers:
        rng = random.Random(f"{population.seed}:{charger.charger_id}")
        free_from = local_midnight(days[0])
        for day in days:
            for session in _charger_day(rng, charger, day):
                if session.arrival >= free_from:
                    out[day].append(session)
                    free_from = session.departure + timedelta(minutes=5)
    for sessions in out.values():
        sessions.sort(key=lambda s: (s.arrival, s.session_id))
    return out


def _charger_day(rng: random.Random, charger: Charger, day: date) -> list[Session]:
    weekend = day.weekday() >= 5
    site = charger.site
    # Draw the same number of values every day whatever happens, so one day's
    # outcome never shifts the next day's random stream.
    u = [rng.random() for _ in range(4)]
    g = [rng.gauss(0.0, 1.0) for _ in range(2)]
    extra = [(rng.random(), rng.gauss(0.0, 1.0), rng.random(), rng.random()) for _ in range(5)]
    battery = _battery(rng)
    plans: list[tuple[float, float, float, float, int]] = []  # arrival h, departure h, soc, target, vehicle W
    if site is Site.RESIDENTIAL:
        if u[0] < (0.55 if weekend else 0.72):
            arrive = min(max(18.5 + 1.4 * g[0], 15.0), 23.5)
            leave = 24 + min(max(7.67 + 0.8 * g[1], 5.5), 10.0)
            plans.append((arrive, leave, 0.15 + 0.4 * u[1], 0.9, 11_000))
    elif site is Site.WORKPLACE:
        if u[0] < (0.1 if weekend else 0.78):
            arrive = min(max(8.67 + 0.7 * g[0], 6.5), 11.0)
            leave = arrive + min(max(8.5 + 1.2 * g[1], 4.0), 11.0)
            plans.append((arrive, leave, 0.3 + 0.4 * u[1], 0.85, 11_000))
    elif site is Site.DEPOT:
        if u[0] < 0.88:
            arrive = min(max(20.5 + 1.5 * g[0], 16.0), 23.9)
            leave = 24 + min(max(6.5 + 0.7 * g[1], 5.0), 9.0)
            plans.append((arrive, leave, 0.1 + 0.3 * u[1], 0.95, 11_000))
    else:
        visits = 2 + int(u[0] * 4)
        for pick, noise, soc_u, dwell_u in extra[:visits]:
            centre, spread = (12.5, 2.0) if pick < 0.4 else (18.5, 1.5)
            arrive = min(max(centre + spread * noise, 6.0), 23.5)
            plans.append((arrive, arrive + 0.42 + 0.58 * dwell_u, 0.1 + 0.25 * soc_u, 0.8, 90_000))
        plans.sort()
    sessions = []
    for n, (arrive, leave, soc, target, vehicle_w) in enumerate(plans):
        bidirectional = charger.kind is Kind.V2G and u[2] < 0.8
        charge_w = min(charger.rated_charge_w, vehicle_w)
        discharge_w = min(charger.rated_discharge_w, 7_000) if bidirectional else 0
        sessions.append(
            Session(
                session_id=f"{charger.charger_id}-{day:%m%d}-{n + 1}",
                charger_id=charger.charger_id,
                aggregator_id=charger.aggregator_id,
                arrival=_at(day, arrive),
                departure=_at(day, leave),
                battery_wh=battery,
                soc=round(soc, 3),
                target_soc=target,
                v2g_floor_soc=0.35 if bidirectional else 0.0,
                max_charge_w=vehicle_w,
                max_discharge_w=7_000 if bidirectional else 0,
                bidirectional=bidirectional,
                charge_w=charge_w,
                discharge_w=discharge_w,
            )
        )
    return sessions


def unmanaged_load(
    sessions: Iterable[Session], start: datetime, slots: int, aggregator_ids: Sequence[str]
) -> dict[str, np.ndarray]:
    """Mean power (W) per aggregator per 15-minute slot from ``start``, every session charging unmanaged.

    Closed form: a session draws ``charge_w`` from plug-in for need/power
    hours (cut at departure); a slot's energy is the overlap times the power.
    """
    out = {aggregator_id: np.zeros(slots) for aggregator_id in aggregator_ids}
    # A session touches at most two local days of slots: group by the slot
    # before its arrival and work on that short stretch only.
    groups: dict[tuple[str, int], list[Session]] = {}
    for session in sessions:
        first = max(int((session.arrival - start) / SLOT), 0)
        groups.setdefault((session.aggregator_id, first // SLOTS_PER_DAY), []).append(session)
    span = 2 * SLOTS_PER_DAY
    for (aggregator_id, day), group in groups.items():
        origin = start + day * SLOTS_PER_DAY * SLOT
        bounds = np.arange(span + 1) * SLOT_H
        begin = np.array([(s.arrival - origin).total_seconds() / 3600 for s in group])
        power = np.array([float(s.charge_w) for s in group])
        hours = np.array([s.need_wh / s.charge_w for s in group])
        dwell = np.array([(s.departure - s.arrival).total_seconds() / 3600 for s in group])
        length = np.minimum(hours, dwell)
        energy = power[:, None] * np.clip(bounds[None, :] - begin[:, None], 0.0, length[:, None])
        mean_w = (energy[:, 1:] - energy[:, :-1]).sum(axis=0) / SLOT_H
        first_slot = day * SLOTS_PER_DAY
        take = min(span, slots - first_slot)
        if take > 0:
            out[aggregator_id][first_slot : first_slot + take] += mean_w[:take]
    return out


def expected_baseline(
    history_w: np.ndarray, days: Sequence[date], day: date, first_slot: int, slots: int
) -> list[float]:
    """The baseline an aggregator expects for ``slots`` slots of ``day`` from ``first_slot`` (SPEC F8 TOP5_OF_10).

    ``history_w`` holds 96 slot means per day of ``days`` (consecutive). Of
    the 10 most recent days of the same kind (working or not, D−2 back), the
    5 with the highest mean over the window, averaged per slot. Aggregators
    steer to it: what they are paid for is the baseline minus the actual.
    """
    rows = history_w.reshape(len(days), SLOTS_PER_DAY)
    working = day.weekday() < 5
    candidates = [
        i
        for i in range(len(days) - 1, -1, -1)
        if days[i] <= day - timedelta(days=2) and (days[i].weekday() < 5) == working
    ][:10]
    window = slice(first_slot, first_slot + slots)
    chosen = sorted(candidates, key=lambda i: (float(rows[i, window].mean()), days[i]), reverse=True)[:5]
    if not chosen:
        return [0.0] * slots
    return [float(v) for v in rows[chosen, window].mean(axis=0)]


# ---------------------------------------------------------------- the event day


@dataclass(eq=False)
class LiveSession:
    spec: Session
    delivered_wh: float
    managed: bool

    @property
    def soc(self) -> float:
        return min(self.spec.soc + self.delivered_wh / self.spec.battery_wh, 1.0)

    def remaining_wh(self) -> float:
        return self.spec.need_wh - self.delivered_wh

    def presence(self, slot_start: datetime) -> float:
        """Share of the slot the car is plugged in."""
        begin = max(slot_start, self.spec.arrival)
        end = min(slot_start + SLOT, self.spec.departure)
        return max((end - begin).total_seconds(), 0.0) / SLOT.total_seconds()

    def unmanaged_w(self, presence: float) -> float:
        return max(min(self.spec.charge_w * presence, self.remaining_wh() / SLOT_H), 0.0)

    def floor_w(self, slot_start: datetime) -> float:
        """The F3 floor Pmin for a whole slot: lower power would miss the target at departure."""
        spec = self.spec
        need = self.remaining_wh()
        hours_left = (spec.departure - slot_start).total_seconds() / 3600
        pmax = min(spec.charge_w, max(need, 0.0) / SLOT_H)
        discharge = 0.0
        if spec.bidirectional and spec.discharge_w:
            discharge = min(
                spec.discharge_w, max(self.soc - spec.v2g_floor_soc, 0.0) * spec.battery_wh / SLOT_H
            )
        floor = (need - spec.charge_w * max(hours_left - SLOT_H, 0.0)) / SLOT_H
        return min(max(floor, -discharge), pmax)

    def laxity_h(self, slot_start: datetime) -> float:
        hours_left = (self.spec.departure - slot_start).total_seconds() / 3600
        return hours_left - max(self.remaining_wh(), 0.0) / self.spec.charge_w


@dataclass(frozen=True)
class SlotOutcome:
    slot_start: datetime
    power_w: Mapping[str, float]
    """Mean power per aggregator."""
    unmanaged_w: Mapping[str, float]
    """What the aggregator's EVs would have drawn without any instruction."""
    charger_w: Mapping[str, float]
    charger_soc: Mapping[str, float]


@dataclass
class Fleet:
    """The event day, slot by slot: sessions charge, aggregators and platform setpoints steer them."""

    seed: int
    sessions: list[LiveSession]
    aggregator_ids: Sequence[str]
    compliance: Mapping[str, float]

    @classmethod
    def starting(
        cls,
        population: Population,
        sessions: Iterable[Session],
        day_start: datetime,
    ) -> Fleet:
        """Sessions still plugged in at ``day_start`` (with what they took by then) and later ones."""
        managed = {c.charger_id for c in population.chargers if c.platform_managed}
        live = [
            LiveSession(s, s.delivered_by(day_start), s.charger_id in managed)
            for s in sorted(sessions, key=lambda s: (s.arrival, s.session_id))
            if s.departure > day_start
        ]
        return cls(
            population.seed,
            live,
            [a.aggregator_id for a in population.aggregators],
            {a.aggregator_id: a.profile.compliance for a in population.aggregators},
        )

    def _effort(self, aggregator_id: str, slot_start: datetime) -> float:
        """How much of the instruction the aggregator delivers in a slot: its compliance, give or take 6 %."""
        jitter = random.Random(f"{self.seed}:{aggregator_id}:{slot_start.isoformat()}").gauss(0.0, 0.06)
        return self.compliance[aggregator_id] * (1.0 + jitter)

    def flexibility(self, slot_start: datetime) -> dict[str, tuple[float, float]]:
        """Per aggregator (decrease, increase) W its EVs plugged in for the whole slot could move now (F3)."""
        out = {aggregator_id: (0.0, 0.0) for aggregator_id in self.aggregator_ids}
        for s in self.sessions:
            if s.presence(slot_start) < 1.0:
                continue
            present = s.unmanaged_w(1.0)
            ceiling = min(s.spec.charge_w, max(s.remaining_wh(), 0.0) / SLOT_H)
            down, up = out[s.spec.aggregator_id]
            out[s.spec.aggregator_id] = (down + present - s.floor_w(slot_start), up + ceiling - present)
        return out

    def plugged_in(self, at: datetime) -> list[LiveSession]:
        return [s for s in self.sessions if s.spec.arrival <= at < s.spec.departure]

    def step(
        self,
        slot_start: datetime,
        *,
        instructed_w: Mapping[str, int],
        baseline_w: Mapping[str, float],
        setpoints_w: Mapping[str, int],
    ) -> SlotOutcome:
        """Charge one slot.

        ``instructed_w``: each aggregator's response wanted (decrease, W);
        ``baseline_w``: the baseline it expects for the slot; ``setpoints_w``:
        power held by platform-managed chargers.
        """
        present = [(s, s.presence(slot_start)) for s in self.sessions]
        present = [(s, p) for s, p in present if p > 0]
        power: dict[LiveSession, float] = {}
        unmanaged = {aggregator_id: 0.0 for aggregator_id in self.aggregator_ids}
        for s, share in present:
            power[s] = s.unmanaged_w(share)
            unmanaged[s.spec.aggregator_id] += power[s]
        response = {aggregator_id: 0.0 for aggregator_id in self.aggregator_ids}
        for s, share in present:
            held = setpoints_w.get(s.spec.charger_id)
            if s.managed and held is not None and share == 1.0:
                wanted = min(max(float(held), s.floor_w(slot_start)), power[s])
                response[s.spec.aggregator_id] += power[s] - wanted
                power[s] = wanted
        for aggregator_id, target in instructed_w.items():
            if target <= 0:
                continue
            # The aggregator aims at its expected baseline minus the instruction
            # (times how well it follows orders); the platform's own setpoints
            # have already moved the managed chargers.
            goal = baseline_w[aggregator_id] - target * self._effort(aggregator_id, slot_start)
            left = unmanaged[aggregator_id] - response[aggregator_id] - goal
            flexible = sorted(
                (
                    s
                    for s, share in present
                    if share == 1.0 and not s.managed and s.spec.aggregator_id == aggregator_id
                ),
                key=lambda s: (-s.laxity_h(slot_start), s.spec.session_id),
            )
            for s in flexible:
                if left <= 0:
                    break
                cut = min(power[s] - s.floor_w(slot_start), left)
                if cut > 0:
                    power[s] -= cut
                    left -= cut
        totals = {aggregator_id: 0.0 for aggregator_id in self.aggregator_ids}
        charger_w: dict[str, float] = {}
        charger_soc: dict[str, float] = {}
        for s, _ in present:
            s.delivered_wh += power[s] * SLOT_H
            totals[s.spec.aggregator_id] += power[s]
            charger_w[s.spec.charger_id] = power[s]
            charger_soc[s.spec.charger_id] = s.soc
        return SlotOutcome(slot_start, totals, unmanaged, charger_w, charger_soc)
