"""``vgi statements export``: statements as a settlement team loads them into its finance system.

One row per statement line (``record`` = LINE: the slot's C, B, A, R, r, the
price and the line's compensation and penalty; an adjustment's lines carry the
change it makes) and one row per statement (``record`` = TOTAL: Σ compensation,
Σ penalty, total, fee, payable). Exact values are written twice: as decimal
text (rounded half-up to 9 places only when the value does not terminate) and
as ``numerator/denominator`` (domain.exact). Money is CNY with two decimals.
CSV is UTF-8 with a header row; XLSX has the same header and columns on one
sheet "statements", watts as integers and money as numbers formatted 0.00.

Statements are read straight from the store (like ``vgi audit verify``):
those of the ``--event`` given (repeatable), or of every event whose window
starts on a local (Asia/Shanghai) day in ``--from`` … ``--to``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from domain.errors import DomainError
from domain.exact import decimal_text, fraction_text
from domain.settlement import DeltaLine, StatementLine
from store.settlement import StatementRecord

COLUMNS = (
    "record",
    "event",
    "statement",
    "aggregator",
    "kind",
    "adjusts",
    "state",
    "slot_start",
    "instructed_w",
    "baseline_w",
    "baseline_w_exact",
    "actual_w",
    "actual_w_exact",
    "response_w",
    "response_w_exact",
    "rate",
    "rate_exact",
    "price_cny_per_kwh",
    "compensation_cny",
    "penalty_cny",
    "total_cny",
    "fee_cny",
    "payable_cny",
)
Cell = str | int | Decimal | None
_MONEY = {"price_cny_per_kwh", "compensation_cny", "penalty_cny", "total_cny", "fee_cny", "payable_cny"}


def _exact(row: dict[str, Cell], name: str, value: Fraction) -> None:
    row[name] = decimal_text(value)
    row[f"{name}_exact"] = fraction_text(value)


def rows(records: Sequence[StatementRecord]) -> Iterator[dict[str, Cell]]:
    """The export's rows: each statement's lines in slot order, then its TOTAL row."""
    for record in records:
        statement = record.statement
        common: dict[str, Cell] = {
            "event": record.event_id,
            "statement": record.name,
            "aggregator": statement.aggregator_id,
            "kind": "ADJUSTMENT" if statement.adjusts else "REGULAR",
            "adjusts": f"events/{record.event_id}/statements/{statement.adjusts}"
            if statement.adjusts
            else "",
            "state": statement.state.value,
        }
        for line in statement.lines:
            row: dict[str, Cell] = {**common, "record": "LINE"}
            row["slot_start"] = record.slot_starts[line.slot].isoformat()
            settled: StatementLine | None = line.corrected if isinstance(line, DeltaLine) else line
            if settled is not None:
                row["instructed_w"] = settled.instructed_w
                _exact(row, "baseline_w", settled.baseline_w)
                _exact(row, "actual_w", settled.actual_w)
                _exact(row, "response_w", settled.response_w)
                _exact(row, "rate", settled.rate)
                row["price_cny_per_kwh"] = settled.price.normalize()
            row["compensation_cny"] = line.compensation
            row["penalty_cny"] = line.penalty
            yield row
        yield {
            **common,
            "record": "TOTAL",
            "compensation_cny": statement.compensation,
            "penalty_cny": statement.penalty,
            "total_cny": statement.total,
            "fee_cny": statement.fee,
            "payable_cny": statement.payable,
        }


def _text(value: Cell) -> str:
    if value is None:
        return ""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def write_csv(path: Path, records: Sequence[StatementRecord]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows(records):
            writer.writerow({k: _text(v) for k, v in row.items()})


def write_xlsx(path: Path, records: Sequence[StatementRecord]) -> None:
    import xlsxwriter  # type: ignore[import-untyped]

    workbook = xlsxwriter.Workbook(str(path))
    try:
        sheet = workbook.add_worksheet("statements")
        money = workbook.add_format({"num_format": "0.00"})
        price = workbook.add_format({"num_format": "0.00######"})
        sheet.write_row(0, 0, COLUMNS)
        for r, row in enumerate(rows(records), start=1):
            for c, name in enumerate(COLUMNS):
                value = row.get(name)
                if value is None:
                    continue
                if isinstance(value, Decimal):
                    # A spreadsheet cell is a double: 2-decimal amounts and bid prices round-trip.
                    sheet.write_number(r, c, float(value), price if name == "price_cny_per_kwh" else money)
                elif isinstance(value, int):
                    sheet.write_number(r, c, value)
                else:
                    sheet.write_string(r, c, value)
    finally:
        workbook.close()


WRITERS = {"csv": write_csv, "xlsx": write_xlsx}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``vgi statements export``."""
    parser = subparsers.add_parser("statements", help="settlement statements (结算单)")
    commands = parser.add_subparsers(dest="statements_command", required=True)
    export = commands.add_parser(
        "export", help="write statement lines, totals, fees and payables as CSV or XLSX"
    )
    export.add_argument("--config", help="TOML settings file")
    export.add_argument("--database", dest="database_url", help="SQLAlchemy database URL (default: settings)")
    export.add_argument("--event", action="append", default=[], help="event id or events/{id} (repeatable)")
    export.add_argument(
        "--from", dest="first_day", type=date.fromisoformat, help="first local day, YYYY-MM-DD"
    )
    export.add_argument("--to", dest="last_day", type=date.fromisoformat, help="last local day, YYYY-MM-DD")
    export.add_argument("--format", choices=sorted(WRITERS), required=True)
    export.add_argument("--output", type=Path, required=True, help="file to write")
    export.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from server import config
    from store.db import create_engine
    from store.settlement import statements_for_export

    if not (args.event or args.first_day or args.last_day):
        return _fail("name an --event or a date range (--from/--to)")
    if args.first_day and args.last_day and args.first_day > args.last_day:
        return _fail(f"--from {args.first_day} is after --to {args.last_day}")
    try:
        settings = config.load(args.config, database_url=args.database_url)
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    event_ids = [e.removeprefix("events/") for e in args.event]
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as conn, conn.begin():
            records = statements_for_export(
                conn, event_ids=event_ids, first_day=args.first_day, last_day=args.last_day
            )
    except DomainError as exc:
        return _fail(str(exc))
    except SQLAlchemyError:
        return _fail(
            "cannot read statements from the database (is it reachable and migrated? see vgi migrate)"
        )
    finally:
        engine.dispose()
    WRITERS[args.format](args.output, records)
    lines = sum(len(r.statement.lines) for r in records)
    print(f"{len(records)} statements, {lines} lines → {args.output}")
    return 0


def _fail(message: str) -> int:
    print(f"vgi: error: {message}", file=sys.stderr)
    return 2
