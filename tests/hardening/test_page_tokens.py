"""Finding 6: page tokens are sealed by the server and bound to caller, method and query.

A forged, altered, foreign (another tenant's), other-method, other-query or
expired token answers INVALID_ARGUMENT INVALID_PAGE_TOKEN; the caller's own
token walks the listing.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from registry.world import aggregator_client, onboard, station, topology

from clients.errors import InvalidArgumentError
from interceptors.pagetokens import PageTokenSealer
from store import pagination

pytestmark = pytest.mark.timeout(120)


async def _two_tenants_with_stations(platform: Any) -> tuple[Any, Any]:
    await onboard(platform, "agg-a", "agg-b")
    await topology(platform)
    a, b = aggregator_client(platform, "agg-a"), aggregator_client(platform, "agg-b")
    await a.upsert_stations([station(f"a-{i}", "ta1") for i in range(3)])
    await b.upsert_stations([station(f"b-{i}", "ta2") for i in range(3)])
    return a, b


def _flip(token: str, at: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[at] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


async def _refused(call: Any) -> str:
    with pytest.raises(InvalidArgumentError) as refused:
        await call
    assert refused.value.reason == "INVALID_PAGE_TOKEN"
    return str(refused.value)


async def test_page_tokens_are_opaque_tamper_proof_and_bound_to_caller_method_and_query(
    platform: Any,
) -> None:
    a, b = await _two_tenants_with_stations(platform)
    first = await a.list_stations(page_size=1)
    token = first.next_page_token
    assert token
    # Opaque: the store's keyset (a station name) does not show through.
    assert "a-0" not in base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("latin-1")

    # The caller's own token walks its listing, and only its own items.
    names = [s.name for s in first.stations]
    while token:
        page = await a.list_stations(page_size=1, page_token=token)
        names.extend(s.name for s in page.stations)
        token = page.next_page_token
    assert names == [f"aggregators/agg-a/stations/a-{i}" for i in range(3)]

    token = first.next_page_token
    # Another tenant replaying it.
    await _refused(b.list_stations(page_size=1, page_token=token))
    # Another query (a filter added), another method.
    await _refused(a.list_stations(page_size=1, page_token=token, grid_node="gridNodes/ta1"))
    await _refused(a.list_chargers(page_size=1, page_token=token))
    # One altered bit anywhere: in the expiry, the store token, the MAC.
    for at in (2, 8, len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) - 1):
        await _refused(a.list_stations(page_size=1, page_token=_flip(token, at)))
    # A store token made by hand (what main accepted), and garbage.
    await _refused(a.list_stations(page_token=pagination.encode("stations", ["a-0"])))
    forged = base64.urlsafe_b64encode(json.dumps({"c": "stations", "a": ["b-0"]}).encode()).decode()
    await _refused(a.list_stations(page_token=forged))
    await _refused(a.list_stations(page_token="%%%"))
    # A different page size is still the same query (AIP-158).
    page = await a.list_stations(page_size=5, page_token=token)
    assert [s.name for s in page.stations] == names[1:]


def test_an_expired_page_token_is_refused() -> None:
    now = [1_000_000.0]
    sealer = PageTokenSealer(b"k" * 32, ttl_s=60, clock=lambda: now[0])
    sealed = sealer.seal(b"binding", "inner")
    assert sealer.open(b"binding", sealed) == "inner"
    now[0] += 61
    with pytest.raises(Exception) as expired:
        sealer.open(b"binding", sealed)
    assert getattr(expired.value, "reason", None) == "INVALID_PAGE_TOKEN"
    assert "expired" in expired.value.violations[0].description  # type: ignore[attr-defined]
