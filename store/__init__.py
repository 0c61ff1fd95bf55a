"""Persistence: SQLModel tables, the Database runner, repositories, idempotency."""
