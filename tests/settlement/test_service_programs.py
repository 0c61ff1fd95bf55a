"""Program settings over OperatorService: the seeded default, upsert with SPEC defaults, paging, checks, roles."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from google.type import date_pb2, decimal_pb2
from vgi.common.v1 import market_pb2
from vgi.operator.v1 import operator_service_pb2 as pb

from clients.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from clients.settlement import ProgramClient

pytestmark = pytest.mark.timeout(60)


def dec(text: str) -> decimal_pb2.Decimal:
    return decimal_pb2.Decimal(value=text)


def settings(program: pb.Program) -> dict[str, str]:
    return {
        name: getattr(program, name).value
        for name in (
            "penalty_threshold_rate",
            "cap_rate",
            "penalty_factor",
            "qualified_min_rate",
            "qualified_max_rate",
            "fee_ratio",
            "deviation_threshold",
        )
    }


SPEC_DEFAULTS = {
    "penalty_threshold_rate": "0.5",
    "cap_rate": "1.2",
    "penalty_factor": "0.5",
    "qualified_min_rate": "0.8",
    "qualified_max_rate": "1.2",
    "fee_ratio": "0",
    "deviation_threshold": "0.1",
}


async def test_default_program_upsert_list_and_retry(platform: Any) -> None:
    operator = ProgramClient(platform.channel)
    default = await operator.get_program("programs/default")
    assert default.name == "programs/default"
    assert default.baseline_method == market_pb2.BASELINE_METHOD_TOP5_OF_10
    assert default.fallback_baseline_method == market_pb2.BASELINE_METHOD_UNSPECIFIED
    assert (default.clearing_mode, default.price_mode) == (
        market_pb2.CLEARING_MODE_PLATFORM,
        market_pb2.PRICE_MODE_UNIFORM,
    )
    assert settings(default) == SPEC_DEFAULTS
    assert (list(default.holidays), default.deviation_minutes) == ([], 2)

    # Unset fields take the SPEC defaults; dates come back sorted.
    wanted = pb.Program(
        name="programs/summer",
        baseline_method=market_pb2.BASELINE_METHOD_TRIMMED,
        fallback_baseline_method=market_pb2.BASELINE_METHOD_PRE_EVENT,
        price_mode=market_pb2.PRICE_MODE_PAY_AS_BID,
        fee_ratio=dec("0.05"),
        cap_rate=dec("1.30"),
        holidays=[date_pb2.Date(year=2026, month=10, day=2), date_pb2.Date(year=2026, month=10, day=1)],
        make_up_working_days=[date_pb2.Date(year=2026, month=9, day=27)],
    )
    request_id = str(uuid.uuid4())
    stored = await operator.upsert_program(wanted, request_id=request_id)
    assert settings(stored) == SPEC_DEFAULTS | {"fee_ratio": "0.05", "cap_rate": "1.3"}
    assert (
        stored.baseline_method,
        stored.fallback_baseline_method,
        stored.clearing_mode,
        stored.price_mode,
    ) == (
        market_pb2.BASELINE_METHOD_TRIMMED,
        market_pb2.BASELINE_METHOD_PRE_EVENT,
        market_pb2.CLEARING_MODE_PLATFORM,
        market_pb2.PRICE_MODE_PAY_AS_BID,
    )
    assert [(h.month, h.day) for h in stored.holidays] == [(10, 1), (10, 2)]
    assert stored.deviation_minutes == 2
    assert await operator.get_program("programs/summer") == stored
    assert await operator.upsert_program(wanted, request_id=request_id) == stored

    # Without a mask only what is set changes: nothing left out is reset (AIP-134).
    changed = await operator.upsert_program(pb.Program(name="programs/summer", deviation_minutes=5))
    assert settings(changed) == SPEC_DEFAULTS | {"fee_ratio": "0.05", "cap_rate": "1.3"}
    assert (len(changed.holidays), changed.deviation_minutes, changed.redispatch_enabled) == (2, 5, True)
    assert changed.price_mode == market_pb2.PRICE_MODE_PAY_AS_BID

    # A mask names what changes; a named field left unset goes back to its default.
    masked = await operator.upsert_program(
        pb.Program(name="programs/summer", cap_rate=dec("1.25"), redispatch_enabled=False),
        ["cap_rate", "fee_ratio", "holidays", "redispatch_enabled"],
    )
    assert settings(masked) == SPEC_DEFAULTS | {"cap_rate": "1.25"}
    assert (list(masked.holidays), masked.deviation_minutes, masked.redispatch_enabled) == ([], 5, False)
    assert len(masked.make_up_working_days) == 1

    # deviation_minutes 0 is not a number of minutes: refused, not turned into 2.
    with pytest.raises(InvalidArgumentError) as raised:
        await operator.upsert_program(pb.Program(name="programs/summer"), ["deviation_minutes"])
    assert [v.field for v in raised.value.field_violations] == ["program.deviation_minutes"]
    with pytest.raises(InvalidArgumentError) as raised:
        await operator.upsert_program(pb.Program(name="programs/summer"), ["name"])
    assert raised.value.reason == "UPDATE_MASK_INVALID"
    assert await operator.get_program("programs/summer") == masked

    await operator.upsert_program(pb.Program(name="programs/alpha"))
    first = await operator.list_programs(page_size=2)
    assert [p.name for p in first.programs] == ["programs/alpha", "programs/default"]
    second = await operator.list_programs(page_size=2, page_token=first.next_page_token)
    assert ([p.name for p in second.programs], second.next_page_token) == (["programs/summer"], "")


async def test_decimal_settings_are_kept_in_one_spelling(platform: Any) -> None:
    """Equal numbers read back alike, in plain notation, whatever spelling the request used."""
    operator = ProgramClient(platform.channel)
    written = pb.Program(
        name="programs/spelled",
        cap_rate=dec("1.50"),
        penalty_threshold_rate=dec("5e-1"),
        penalty_factor=dec("-0"),
        qualified_min_rate=dec(".8"),
        qualified_max_rate=dec("00001.2000"),
        fee_ratio=dec("1E-18"),
        deviation_threshold=dec("+0.1"),
    )
    expected = {
        "cap_rate": "1.5",
        "penalty_threshold_rate": "0.5",
        "penalty_factor": "0",
        "qualified_min_rate": "0.8",
        "qualified_max_rate": "1.2",
        "fee_ratio": "0.000000000000000001",
        "deviation_threshold": "0.1",
    }
    assert settings(await operator.upsert_program(written)) == expected
    assert settings(await operator.get_program("programs/spelled")) == expected


@pytest.mark.parametrize(
    ("program", "fields"),
    [
        (pb.Program(fee_ratio=dec("1.5")), ["program.fee_ratio"]),
        (pb.Program(penalty_factor=dec("-0.1")), ["program.penalty_factor"]),
        (pb.Program(penalty_threshold_rate=dec("1.3")), ["program.penalty_threshold_rate"]),
        (pb.Program(qualified_min_rate=dec("1.3")), ["program.qualified_min_rate"]),
        (
            pb.Program(cap_rate=dec("abc"), deviation_threshold=dec("NaN")),
            ["program.cap_rate.value", "program.deviation_threshold.value"],
        ),
        (
            pb.Program(
                cap_rate=dec("1e999999"),
                penalty_factor=dec("1e-999999"),
                fee_ratio=dec("0.1" + "0" * 30 + "1"),
            ),
            ["program.cap_rate.value", "program.penalty_factor.value", "program.fee_ratio.value"],
        ),
        (
            pb.Program(
                cap_rate=dec(" 1.2"),
                penalty_factor=dec(
                    "\u0661\u0662"
                ),  # Arabic-Indic "12": Python's Decimal reads it, the contract does not
                fee_ratio=dec("0.5" + "0" * 100),
                deviation_threshold=dec("1_0"),
            ),
            [
                "program.cap_rate.value",
                "program.penalty_factor.value",
                "program.fee_ratio.value",
                "program.deviation_threshold.value",
            ],
        ),
        (pb.Program(price_mode=market_pb2.PRICE_MODE_ANNOUNCED), ["program.price_mode"]),
        (
            pb.Program(
                holidays=[date_pb2.Date(year=2026, month=10, day=1)],
                make_up_working_days=[date_pb2.Date(year=2026, month=10, day=1)],
            ),
            ["program.make_up_working_days[0]"],
        ),
        (pb.Program(holidays=[date_pb2.Date(year=2026, month=2, day=30)]), ["program.holidays[0]"]),
    ],
    ids=[
        "fee",
        "negative",
        "bands",
        "qualified",
        "decimals",
        "out-of-scale",
        "not-the-syntax",
        "announced",
        "holiday-and-makeup",
        "date",
    ],
)
async def test_invalid_settings_name_their_fields(
    platform: Any, program: pb.Program, fields: list[str]
) -> None:
    program.name = "programs/bad"
    with pytest.raises(InvalidArgumentError) as invalid:
        await ProgramClient(platform.channel).upsert_program(program)
    assert invalid.value.reason == "INVALID_PROGRAM"
    assert [v.field for v in invalid.value.field_violations] == fields
    with pytest.raises(NotFoundError) as missing:
        await ProgramClient(platform.channel).get_program("programs/bad")
    assert missing.value.reason == "PROGRAM_NOT_FOUND"
    assert missing.value.metadata == {"program": "programs/bad"}


async def test_the_grid_reads_programs_but_does_not_write_them(platform: Any) -> None:
    grid = ProgramClient(platform.grid)
    assert (await grid.get_program("programs/default")).name == "programs/default"
    with pytest.raises(PermissionDeniedError) as denied:
        await grid.upsert_program(pb.Program(name="programs/default"))
    assert denied.value.reason == "ROLE_NOT_ALLOWED"
