"""Page tokens sealed by the server: opaque, tamper-proof, bound to caller, method and query, expiring.

The store's keyset tokens (``store.pagination``) say where a page ends; they
are readable and could be edited or replayed by anyone. This stage wraps
every List (a unary method whose request has ``page_token`` and whose
response has ``next_page_token``): the ``next_page_token`` leaving the server
is sealed, and a ``page_token`` arriving is opened before the servicer sees
it. A sealed token is

    base64url( version | expiry (u32 seconds) | store token | MAC[16] )

with MAC = HMAC-SHA256 under a key derived from the server secret (kept
outside the database), over the version, the expiry, the store token and a
digest of what the token is bound to: the caller's principal, the method,
and the request itself with ``page_token`` and ``page_size`` cleared (AIP-158:
the other fields must not change between pages). A token that does not
verify — forged, altered, another caller's, another method's or another
query's — or is past its expiry answers INVALID_ARGUMENT
``INVALID_PAGE_TOKEN`` before the servicer runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import time
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message

from domain.errors import FieldViolation, InvalidArgument
from interceptors.base import Context, Interceptor, UnaryBehavior
from interceptors.context import current_principal
from interceptors.methods import MethodInfo

INVALID_PAGE_TOKEN = "INVALID_PAGE_TOKEN"
_VERSION = 1
_HEAD = struct.Struct(">BI")
_MAC_BYTES = 16


class PageTokenSealer:
    """Seals and opens page tokens with one key; ``clock`` gives seconds since the epoch."""

    def __init__(self, key: bytes, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._ttl = ttl_s
        self._clock = clock

    def _mac(self, binding: bytes, body: bytes) -> bytes:
        return hmac.new(self._key, binding + body, hashlib.sha256).digest()[:_MAC_BYTES]

    def seal(self, binding: bytes, token: str) -> str:
        body = _HEAD.pack(_VERSION, int(self._clock() + self._ttl)) + token.encode()
        return base64.urlsafe_b64encode(body + self._mac(binding, body)).decode().rstrip("=")

    def open(self, binding: bytes, sealed: str) -> str:
        """The store token inside ``sealed``, or ``InvalidArgument`` INVALID_PAGE_TOKEN."""
        try:
            raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        except (binascii.Error, ValueError):
            raise _invalid("not a token returned by this List") from None
        body, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if len(body) < _HEAD.size or not hmac.compare_digest(mac, self._mac(binding, body)):
            raise _invalid("not a token this List returned to this caller for this query")
        version, expires = _HEAD.unpack_from(body)
        if version != _VERSION:
            raise _invalid("not a token returned by this List")
        if self._clock() >= expires:
            raise _invalid("the token has expired; list again from the first page")
        try:
            return body[_HEAD.size :].decode()
        except UnicodeDecodeError:
            raise _invalid("not a token returned by this List") from None


def _invalid(description: str) -> InvalidArgument:
    return InvalidArgument(
        "invalid page_token",
        reason=INVALID_PAGE_TOKEN,
        violations=[FieldViolation("page_token", description)],
    )


def _binding(method: MethodInfo, request: Message) -> bytes:
    """What a token is bound to: the caller, the method and the query (the request minus paging)."""
    query = type(request)()
    query.CopyFrom(request)
    query.ClearField("page_token")
    if "page_size" in query.DESCRIPTOR.fields_by_name:
        query.ClearField("page_size")
    principal = current_principal()
    digest = hashlib.sha256()
    for part in (principal.uri if principal is not None else "", method.full_name):
        data = part.encode()
        digest.update(len(data).to_bytes(4, "big") + data)
    digest.update(query.SerializeToString(deterministic=True))
    return digest.digest()


class PageTokenInterceptor(Interceptor):
    def __init__(self, sealer: PageTokenSealer) -> None:
        super().__init__()
        self._sealer = sealer

    def applies(self, method: MethodInfo) -> bool:
        descriptor = method.descriptor
        return (
            descriptor is not None
            and not descriptor.client_streaming
            and not descriptor.server_streaming
            and "page_token" in descriptor.input_type.fields_by_name
            and "next_page_token" in descriptor.output_type.fields_by_name
        )

    def wrap_unary_unary(self, method: MethodInfo, behavior: UnaryBehavior) -> UnaryBehavior:
        sealer = self._sealer

        async def sealed(request: Any, context: Context) -> Any:
            binding = _binding(method, request)
            if request.page_token:
                opened = type(request)()
                opened.CopyFrom(request)
                opened.page_token = sealer.open(binding, request.page_token)
                request = opened
            response = await behavior(request, context)
            if response.next_page_token:
                response.next_page_token = sealer.seal(binding, response.next_page_token)
            return response

        return sealed
