"""The wire layer: vgi.* messages ⇄ records, one module per resource family (docs/ARCHITECTURE.md)."""
