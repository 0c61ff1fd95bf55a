"""The OCPP gateway listener: a TLS websocket server that admits stations and runs one handler per connection.

Admission happens at the websocket upgrade, before any OCPP frame:

* the URL's last path segment is the station identity, which must be a live,
  platform-managed charger (else HTTP 404);
* the client offers ``ocpp2.0.1`` or ``ocpp1.6`` (else HTTP 400); the
  server picks 2.0.1 when both are offered;
* security profile 3: the station presented a client certificate of the
  platform's PKI (the TLS handshake checked the chain); it must name this
  very charger as a device of the aggregator that owns it (else 403);
* security profile 2: no certificate, HTTP Basic with username = station
  identity and the station's password, checked against its stored scrypt
  hash (else 401).

The TLS context asks for a client certificate without requiring one, so one
port serves both profiles; plain ``ws://`` (profile 1) is not offered. A
second connection of a station replaces the first. Refusals are logged with
the station id and the reason, never with the credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import ssl
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHeader
from websockets.headers import build_www_authenticate_basic, parse_authorization_basic
from websockets.http11 import Request, Response

from domain.errors import DomainError
from domain.principal import Role
from infra.security.identity import principal_from_pem
from server.ocpp import passwords, v16, v201
from server.ocpp.station import StationLink
from server.servicers import Deps
from store import ocpp
from store.ocpp import Station

log = logging.getLogger(__name__)

SUBPROTOCOLS = (v201.SUBPROTOCOL, v16.SUBPROTOCOL)
_REALM = "vgi-ocpp"
#: How long the gateway waits for a station's answer to SetChargingProfile before dropping the connection.
RESPONSE_TIMEOUT_S = 30.0


class Gateway:
    def __init__(self, deps: Deps, listen: str) -> None:
        self.deps = deps
        self.listen = listen
        self.port = 0
        self._server: Server | None = None
        self._admitted: weakref.WeakKeyDictionary[ServerConnection, Station] = weakref.WeakKeyDictionary()
        self._live: dict[str, ServerConnection] = {}

    async def start(self) -> int:
        host, _, port = self.listen.rpartition(":")
        self._server = await serve(
            self._handle,
            host.strip("[]"),
            int(port),
            ssl=self._tls(),
            subprotocols=list(SUBPROTOCOLS),  # type: ignore[arg-type]
            process_request=self._admit,
            # A station's frames are small; 64 KiB bounds what one connection can make the gateway hold.
            max_size=65536,
            # Frames of a few hundred bytes gain little from permessage-deflate and cost CPU on both ends.
            compression=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _tls(self) -> ssl.SSLContext:
        cert_file, key_file, client_ca_file = self.deps.settings.tls_files()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca_file)
        context.load_cert_chain(Path(cert_file), Path(key_file))
        context.verify_mode = ssl.CERT_OPTIONAL
        return context

    # ------------------------------------------------------------ the upgrade

    async def _admit(self, connection: ServerConnection, request: Request) -> Response | None:
        station_id = unquote(request.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])
        offered = {
            item.strip()
            for header in request.headers.get_all("Sec-WebSocket-Protocol")
            for item in header.split(",")
        }
        if not offered & set(SUBPROTOCOLS):
            return self._refuse(
                connection, station_id, http.HTTPStatus.BAD_REQUEST, "offer ocpp2.0.1 or ocpp1.6"
            )
        station = await self.deps.db.read(lambda conn: ocpp.station(conn, station_id)) if station_id else None
        if station is None or not station.platform_managed:
            return self._refuse(connection, station_id, http.HTTPStatus.NOT_FOUND, "unknown station")
        certificate = _client_certificate(connection)
        if certificate is not None:
            try:
                principal = principal_from_pem(certificate)
            except DomainError:
                return self._refuse(
                    connection, station_id, http.HTTPStatus.FORBIDDEN, "certificate names no device"
                )
            if (
                principal.role is not Role.DEVICE
                or principal.charger_id != station.charger_id
                or principal.aggregator_id != station.aggregator_id
            ):
                return self._refuse(
                    connection, station_id, http.HTTPStatus.FORBIDDEN, "certificate is not this station's"
                )
        elif not await self._password_ok(request, station):
            response = self._refuse(connection, station_id, http.HTTPStatus.UNAUTHORIZED, "wrong credentials")
            response.headers["WWW-Authenticate"] = build_www_authenticate_basic(_REALM)
            return response
        self._admitted[connection] = station
        return None

    async def _password_ok(self, request: Request, station: Station) -> bool:
        try:
            username, password = parse_authorization_basic(request.headers.get("Authorization", ""))
        except InvalidHeader:
            return False
        if username != station.charger_id or station.password_hash is None:
            return False
        # scrypt is deliberately slow: off the event loop.
        return await asyncio.to_thread(passwords.verify_password, password, station.password_hash)

    @staticmethod
    def _refuse(connection: ServerConnection, station_id: str, status: http.HTTPStatus, why: str) -> Response:
        log.warning("ocpp: refused station %r: %s", station_id[:64], why)
        return connection.respond(status, why + "\n")

    # ------------------------------------------------------------ a connection

    async def _handle(self, connection: ServerConnection) -> None:
        station = self._admitted.pop(connection)
        previous = self._live.get(station.charger_id)
        if previous is not None:
            await previous.close(1000, "replaced by a new connection")
        self._live[station.charger_id] = connection
        link = StationLink(self.deps, station)
        handler: v16.V16Station | v201.V201Station
        if connection.subprotocol == v201.SUBPROTOCOL:
            handler = v201.V201Station(link, connection, response_timeout=RESPONSE_TIMEOUT_S)
        else:
            handler = v16.V16Station(link, connection, response_timeout=RESPONSE_TIMEOUT_S)
        log.info("ocpp: station %s connected (%s)", station.charger_id, connection.subprotocol)
        receiving = asyncio.create_task(handler.start())
        setpoints = asyncio.create_task(link.run_setpoints(handler.send_setpoint))
        try:
            done, _ = await asyncio.wait((receiving, setpoints), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                error = task.exception()
                if error is not None and not isinstance(error, ConnectionClosed):
                    # A station that does not answer (timeout) or a store failure: the station reconnects
                    # and gets its unacknowledged setpoints again.
                    log.warning("ocpp: station %s dropped: %s", station.charger_id, error)
        finally:
            for task in (receiving, setpoints):
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(receiving, setpoints, return_exceptions=True)
            if self._live.get(station.charger_id) is connection:
                del self._live[station.charger_id]
            await connection.close()
            log.info("ocpp: station %s disconnected", station.charger_id)


def _client_certificate(connection: ServerConnection) -> bytes | None:
    ssl_object: Any = connection.transport.get_extra_info("ssl_object")
    der = None if ssl_object is None else ssl_object.getpeercert(binary_form=True)
    return None if not der else ssl.DER_cert_to_PEM_cert(der).encode()
