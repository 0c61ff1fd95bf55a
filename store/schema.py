"""The whole schema: importing this registers every table on ``SQLModel.metadata``.

Each feature keeps its tables in its own module (``store/tables.py`` for the
core, ``store/<feature>_tables.py`` for the rest) and adds one import here;
Alembic's env.py and the migration tests import this module only.
"""

