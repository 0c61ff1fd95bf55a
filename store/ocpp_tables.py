"""OCPP gateway tables (SPEC F13): station credentials and the transactions the gateway mapped to sessions.

A station IS a platform-managed charger (station identity = charger id), so
these rows only add what OCPP needs beyond the device surface: the hashed
HTTP Basic password of security profile 2 and, per transaction, the EV
session it stands for (OCPP 1.6 transaction ids are integers the gateway
hands out; 2.0.1 ids are the station's own strings).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from store.tables import utc_column


class OcppStationRow(SQLModel, table=True):
    """A charger's OCPP settings: its password hash (never the password) and the last 1.6 transaction id."""

    __tablename__: ClassVar[str] = "ocpp_stations"  # type: ignore[misc]

    charger_id: str = Field(primary_key=True, max_length=64)
    password_hash: str | None = Field(default=None, max_length=200)
    last_transaction_id: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    update_time: datetime = Field(sa_column=utc_column())


class OcppTransactionRow(SQLModel, table=True):
    """One OCPP transaction of a station and the EV session it was recorded as."""

    __tablename__: ClassVar[str] = "ocpp_transactions"  # type: ignore[misc]

    charger_id: str = Field(primary_key=True, max_length=64)
    transaction_id: str = Field(primary_key=True, max_length=36)
    aggregator_id: str = Field(max_length=40)
    session_id: str = Field(max_length=64)
    start_time: datetime = Field(sa_column=utc_column())
    stop_time: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
