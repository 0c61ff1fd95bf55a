"""The security commands and credential helpers of the composition root (``vgi token``, ``vgi pki``,
``vgi audit``); the primitives they use (PKI, identity, tokens, rate limits, the audit chain) are the
leaf package ``infra.security``."""
