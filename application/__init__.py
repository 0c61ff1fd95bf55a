"""Use cases: one module per capability, each use case a function over a UnitOfWork (``application.uow``).

Servicers, the scheduler and the monitor call these; they return domain or
store records, never wire messages (``wire`` encodes them). Reads may go
straight to store queries.
"""
