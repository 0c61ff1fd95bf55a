"""Logging: one JSON object per line, tied to the trace and the caller, with secrets scrubbed.

Every line carries ``time``, ``level``, ``logger``, ``message``, and when
known ``trace_id``/``span_id`` (the current span, sampled or only propagated),
``principal`` and ``method`` (from the per-call contextvars of
``interceptors.context``, which registers them: ``use_call_fields``), ``code`` (passed as ``extra={"code": ...}`` by the
line that knows the outcome), plus any other ``extra`` fields.

``RedactingFilter`` runs on the handler, before any formatting, so no
handler it guards can print a bearer token, a JWT, an ``authorization``-like
metadata value or a private key — whether it sits in the message, its
arguments, an extra field or a traceback.
"""

from __future__ import annotations

import functools
import json as jsonlib
import logging
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, TextIO

from opentelemetry import trace

REDACTED = "[REDACTED]"

_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL
)
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)[A-Za-z0-9._~+/=-]+")
# A JWS/JWT: header.payload.signature in base64url. Headers start with '{"'
# (eyJ); other three-segment strings count only when every segment is long
# enough not to be a dotted name like vgi.dispatch.v1.
_JWT = re.compile(
    r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"
    r"|\b[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"
)
_SECRET_KEYS = (
    r"authorization|proxy-authorization|x-api-key|api[-_]key|cookie|set-cookie"
    r"|(?:access_|refresh_|id_)?token|password|passwd|secret|client_secret|private_key"
)
# key followed by its value as metadata and dicts print: ('authorization', 'v'),
# {'authorization': 'v'}, _Metadatum(key='authorization', value='v'), and
# unquoted: authorization: v / authorization=v.
_QUOTED_SECRET = re.compile(
    rf"(?i)(\b(?:{_SECRET_KEYS})\b['\"]?\s*[:=,]\s*(?:value\s*=\s*)?(?:b)?)(['\"])(.*?)(?<!\\)\2"
)
_BARE_SECRET = re.compile(
    rf"(?i)(\b(?:{_SECRET_KEYS})\s*[:=]\s*)(?!['\"\s])([^\s,;'\"]+(?:\s+{re.escape(REDACTED)})?)"
)


# A word each alternative of _SECRET_KEYS contains (api: x-api-key, api-key, api_key; passw: password,
# passwd): an ASCII text without any of them, lowercased, cannot match the two secret patterns.
_SECRET_WORD = re.compile("authorization|api|cookie|token|passw|secret|private_key")


# The shortest text the JWT pattern's second form matches: three runs of 16 and their two dots.
_JWT_WITHOUT_HEADER = 3 * 16 + 2


def redact(text: str) -> str:
    """``text`` with private keys, bearer tokens, JWTs and secret-named values replaced by [REDACTED].

    Every log line's message and string fields pass here (the access line: five per call), and the
    five patterns cost ~10 µs on even a short string. So each runs only when ``text`` holds what any
    match of it must contain: a literal (``PRIVATE KEY-----``; for a JWT two dots and ``eyJ`` or 50 characters), or for the
    case-insensitive ones, in ASCII text, a word lowercased (``bearer``, ``_SECRET_WORD``); non-ASCII
    text, where IGNORECASE also folds letters such as ``ſ`` or the Kelvin sign, gets all of them. The
    result is ``redact_all``'s, only sooner.
    """
    if not text.isascii():
        return redact_all(text)
    if "PRIVATE KEY-----" in text:
        text = _PRIVATE_KEY.sub(REDACTED, text)
    if "bearer" in text.lower():
        text = _BEARER.sub(rf"\1\2{REDACTED}", text)
    if text.count(".") >= 2 and ("eyJ" in text or len(text) >= _JWT_WITHOUT_HEADER):
        text = _JWT.sub(REDACTED, text)
    if _SECRET_WORD.search(text.lower()):
        text = _QUOTED_SECRET.sub(rf"\1\2{REDACTED}\2", text)
        text = _BARE_SECRET.sub(rf"\1{REDACTED}", text)
    return text


def redact_all(text: str) -> str:
    """``redact`` without its shortcuts: every pattern in turn (the reference ``redact`` is tested against)."""
    text = _PRIVATE_KEY.sub(REDACTED, text)
    text = _BEARER.sub(rf"\1\2{REDACTED}", text)
    text = _JWT.sub(REDACTED, text)
    text = _QUOTED_SECRET.sub(rf"\1\2{REDACTED}\2", text)
    return _BARE_SECRET.sub(rf"\1{REDACTED}", text)


# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class RedactingFilter(logging.Filter):
    """Scrubs secrets from a record's message, arguments, string extras and traceback, in place."""

    _traceback = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._traceback.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        fields = record.__dict__
        for name in fields.keys() - _STANDARD_ATTRIBUTES:
            fields[name] = _scrubbed(fields[name])
        return True


CallFields = Callable[[], tuple[str | None, str | None]]
"""(principal URI, full method) of the RPC being served, or Nones outside one."""


def _outside_calls() -> tuple[str | None, str | None]:
    return None, None


_call_fields: CallFields = _outside_calls


def use_call_fields(source: CallFields) -> None:
    """Where log lines take the principal and method of the RPC being served from.

    The gRPC layer (``interceptors.context``, which holds them in contextvars)
    registers itself when imported, so this leaf module needs nothing of it;
    tools that log without it (migrations, PKI) keep the Nones.
    """
    global _call_fields
    _call_fields = source


# ``json.dumps(line, default=str, ensure_ascii=False)`` builds this encoder anew for every line.
_JSON = jsonlib.JSONEncoder(default=str, ensure_ascii=False)
# And ``_JSON.encode`` builds its C encoder anew for every line (half of its ~6 µs): this is that
# encoder made once, with the same settings (no circular check: a line is a flat dict).
_C_ENCODER = (
    c_make_encoder(None, str, encode_basestring, None, ": ", ", ", False, False, True)
    if c_make_encoder is not None
    else None
)


def _encode(line: dict[str, Any]) -> str:
    """``line`` as ``json.dumps(line, default=str, ensure_ascii=False)`` writes it."""
    if _C_ENCODER is None:
        return _JSON.encode(line)
    return "".join(_C_ENCODER(line, 0))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace/span ids, principal, method, code, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line = _head(record.created, record.levelname, record.name, record.getMessage())
        for name, value in record.__dict__.items():
            if name not in _STANDARD_ATTRIBUTES:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return _encode(line)


def _head(created: float, level: str, logger: str, message: str) -> dict[str, Any]:
    """The fields every JSON line starts with, in their order; the call's from the contextvars."""
    span_context = trace.get_current_span().get_span_context()
    principal, method = _call_fields()
    return {
        "time": _iso_time(created),
        "level": level,
        "logger": logger,
        "message": message,
        "trace_id": f"{span_context.trace_id:032x}" if span_context.is_valid else None,
        "span_id": f"{span_context.span_id:016x}" if span_context.is_valid else None,
        "principal": principal,
        "method": method,
        "code": None,
    }


def _scrubbed(value: Any) -> Any:
    """An extra field as ``RedactingFilter`` leaves it: numbers, booleans and None as they are, the rest
    redacted text (containers flattened to text: a secret nested in a dict must not slip through)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    return _redact_short(text) if len(text) <= _SHORT else redact(text)


# Short field values repeat (a method, a status code, a peer): their redaction is remembered.
_SHORT = 200
_redact_short = functools.lru_cache(maxsize=4096)(redact)


def _iso_time(created: float) -> str:
    """``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")`` with the date and time
    of day formatted once per second: the same rounding (to the microsecond, half to even), then the
    milliseconds cut (~0.5 µs instead of ~2.4)."""
    global _second
    if created < 0:
        return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    whole = int(created)
    micros = round((created - whole) * 1e6)
    if micros >= 1_000_000:
        whole += 1
        micros -= 1_000_000
    second = _second  # one read: worker threads log too
    if second[0] != whole:
        second = _second = (whole, datetime.fromtimestamp(whole, UTC).isoformat()[:-6])
    return f"{second[1]}.{micros // 1000:03d}+00:00"


_second: tuple[int, str] = (-1, "")


class FixedLine:
    """One logger's line with a fixed message and per-call extra fields (the access line), written
    without the logging machinery's per-record work where the outcome is the same.

    ``log(level, fields)`` is ``logger.log(level, message, extra=fields)`` — less the stack search,
    which no line of ours prints. When the only handler the record would reach is the one
    ``setup_logging`` installed with JSON lines, unchanged (its redacting filter, its JSON
    formatter, a level that lets the line through) and the logger has no filter of its own, the
    line is built here as that formatter would build it from the redacted record, and written to
    the handler's stream under the handler's lock: no LogRecord (~30 attributes), no filter
    pass over them, no extras copied twice. The route is checked on every line (a few attribute
    reads), so a handler added later (a test's, an embedding's, text logs) gets ordinary records.
    """

    def __init__(self, logger: logging.Logger, message: str) -> None:
        self._logger = logger
        self._message = message
        self._shown = redact(message)

    def log(self, level: int, fields: dict[str, Any]) -> None:
        logger = self._logger
        if not logger.isEnabledFor(level):
            return
        handler = self._direct_handler(level)
        if handler is None:
            logger.handle(self._record(level, fields))
            return
        line = _head(time.time(), logging.getLevelName(level), logger.name, self._shown)
        for name, value in fields.items():
            line[name] = _scrubbed(value)
        text = _encode(line) + handler.terminator
        handler.acquire()
        try:
            stream = handler.stream
            stream.write(text)
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            handler.handleError(self._record(level, fields))
        finally:
            handler.release()

    def _record(self, level: int, fields: dict[str, Any]) -> logging.LogRecord:
        logger = self._logger
        return logger.makeRecord(logger.name, level, __file__, 0, self._message, (), None, extra=fields)

    def _direct_handler(self, level: int) -> logging.StreamHandler[Any] | None:
        """``setup_logging``'s JSON handler when it alone would get the record, as it was installed."""
        installed = _installed
        if installed is None:
            return None
        handler, redacting, formatter = installed
        logger: logging.Logger | None = self._logger
        if self._logger.filters or self._logger.disabled:
            return None
        found = False
        while logger is not None:
            for candidate in logger.handlers:
                if candidate is not handler or found:
                    return None
                found = True
            if not logger.propagate:
                break
            logger = logger.parent
        if (
            not found
            or level < handler.level
            or handler.formatter is not formatter
            or len(handler.filters) != 1
            or handler.filters[0] is not redacting
        ):
            return None
        return handler


#: The handler ``setup_logging`` installed with JSON lines, its redacting filter and its formatter.
_installed: tuple[logging.StreamHandler[Any], RedactingFilter, JsonFormatter] | None = None

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER_NAME = "vgi-observability"


#: The platform's own logger trees: ``level`` applies to them; libraries get ``libraries_level``.
OWN_LOGGERS = ("server", "infra", "store", "interceptors", "clients", "domain", "vgi")


def setup_logging(
    level: int | str = logging.INFO,
    json: bool = True,
    *,
    stream: TextIO | None = None,
    libraries_level: int | str = logging.INFO,
    access: bool = True,
) -> logging.Handler:
    """Send the root logger's records to ``stream`` (stderr) as JSON lines (or text), secrets scrubbed.

    ``level`` is the platform's own loggers' (``OWN_LOGGERS``); third-party
    libraries (grpc, asyncio, SQLAlchemy, Alembic…) log at ``libraries_level``,
    so DEBUG for the platform does not turn on theirs. ``access`` False silences
    the per-call access line (``vgi.access`` at INFO; its WARNINGs stay).

    Replaces the handler a previous call installed, so calling it again (tests,
    reconfiguration) does not duplicate lines, and the plain stream handler of
    ``logging.basicConfig`` (the CLI's, for commands that run before this),
    which would print every line a second time, unscrubbed.
    """
    global _installed
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    formatter = JsonFormatter() if json else logging.Formatter(_TEXT_FORMAT)
    handler.setFormatter(formatter)
    redacting = RedactingFilter()
    handler.addFilter(redacting)
    _installed = (handler, redacting, formatter) if isinstance(formatter, JsonFormatter) else None
    root = logging.getLogger()
    for previous in [
        h for h in root.handlers if h.get_name() == _HANDLER_NAME or type(h) is logging.StreamHandler
    ]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(libraries_level)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)
    logging.getLogger("vgi.access").setLevel(logging.NOTSET if access else logging.WARNING)
    return handler
