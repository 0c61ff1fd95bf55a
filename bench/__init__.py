"""The benchmark suite: every SPEC section 5 target as a ratio against a baseline measured in the same run.

``make bench`` (``python -m bench.run``) runs them all, prints one table and
writes ``bench/results/latest.json``; ``make bench-quick`` runs the same code
with small sizes to keep it working. Each module also runs alone
(``python -m bench.unary``, ``python -m bench.ingest``, …).
"""
