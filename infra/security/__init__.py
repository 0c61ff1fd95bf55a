"""Security primitives the interceptors call: dev PKI, certificate identity,
bearer tokens, rate limiting and the audit hash chain. No grpc imports here."""
