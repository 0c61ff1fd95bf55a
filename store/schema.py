"""The whole schema: importing this registers every table on ``SQLModel.metadata``.

Each feature keeps its tables in its own module (``store/tables.py`` for the
core, ``store/<feature>_tables.py`` for the rest) and adds one import here;
Alembic's env.py and the migration tests import this module only.
"""

import store.market_tables
import store.monitoring_tables
import store.ocpp_tables
import store.outbox_tables
import store.registry_tables
import store.security_tables
import store.settlement_tables
import store.tables
import store.telemetry_tables  # noqa: F401
