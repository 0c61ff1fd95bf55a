"""Python clients of the platform: the typed SDK (sdk.py, errors.py) and tools built on it."""
