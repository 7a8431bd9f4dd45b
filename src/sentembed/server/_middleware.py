"""ASGI layers in front of the routes: metrics, the API key, the concurrency limit, the payload limit and the
panic guard. Each answers in the JSON error shape and never reads more of a body than the limit allows."""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentembed.server._errors import error_response, is_panic, unexpected_error_response
from sentembed.server._metrics import Metrics

logger = logging.getLogger(__name__)
OPEN_ROUTES = ("/health",)


UNMATCHED_ROUTE = "unmatched"


class RequestMetrics:
    """Counts each request by route and status and times it. A path that is none of `routes` is counted as
    `unmatched`, so that made-up paths never add label sets."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: frozenset[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        # The labelled children, found once: `labels()` takes a lock and builds a key on every call.
        self._counters: dict[tuple[str, int], Any] = {}
        self._timers: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope["path"] if scope["path"] in self.routes else UNMATCHED_ROUTE
            self._counter(route, status["code"]).inc()
            self._timer(route).observe(time.perf_counter() - started)

    def _counter(self, route: str, status: int) -> Any:
        key = (route, status)
        if key not in self._counters:
            self._counters[key] = self.metrics.requests.labels(route, str(status))
        return self._counters[key]

    def _timer(self, route: str) -> Any:
        if route not in self._timers:
            self._timers[route] = self.metrics.latency.labels(route)
        return self._timers[route]


class ApiKeyCheck:
    """With a key set, every route but /health needs `Authorization: Bearer KEY` (compared in constant time)."""

    def __init__(self, app: ASGIApp, api_key: str | None) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode() if api_key else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.expected is None or scope["type"] != "http" or scope["path"] in OPEN_ROUTES:
            return await self.app(scope, receive, send)
        given = dict(scope["headers"]).get(b"authorization", b"")
        if not hmac.compare_digest(given, self.expected):
            message = "missing or wrong API key: send 'Authorization: Bearer <key>'"
            response = error_response(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
            return await response(scope, receive, send)
        await self.app(scope, receive, send)


class ConcurrencyLimit:
    """At most `limit` requests at a time; the next gets 429 with Retry-After. /health is never refused."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_ROUTES:
            return await self.app(scope, receive, send)
        if self.active >= self.limit:
            message = f"the server is at its limit of {self.limit} concurrent requests; retry shortly"
            response = error_response(429, message, code="too_many_requests", headers={"Retry-After": "1"})
            return await response(scope, receive, send)
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


class PayloadLimit:
    """Bodies over `limit` bytes get 413: by their Content-Length, or once that many bytes have arrived. A body
    that has not arrived in full `body_timeout` seconds after the headers gets 408, and its connection closes."""

    def __init__(self, app: ASGIApp, limit: int, body_timeout: float) -> None:
        self.app = app
        self.limit = limit
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return await self._refuse(scope, receive, send)
        body, more, other = bytearray(), True, None
        with anyio.move_on_after(self.body_timeout) as deadline:
            while more and other is None and len(body) <= self.limit:
                message = await receive()
                if message["type"] != "http.request":
                    other = message
                body += message.get("body", b"")
                more = message.get("more_body", False)
        if deadline.cancelled_caught:
            return await self._too_slow(scope, receive, send)
        if other is not None:
            return await self.app(scope, replay([other], receive), send)
        if len(body) > self.limit:
            return await self._refuse(scope, receive, send)
        await self.app(scope, replay([{"type": "http.request", "body": bytes(body)}], receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the request body is larger than the server's payload limit of {self.limit} bytes"
        await error_response(413, message, code="payload_too_large")(scope, receive, send)

    async def _too_slow(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the request body did not arrive within the server's body timeout of {self.body_timeout:g} s"
        response = error_response(408, message, code="body_timeout", headers={"Connection": "close"})
        await response(scope, receive, send)


def replay(messages: list[Any], receive: Receive) -> Receive:
    """A receive that hands out `messages` first, then the client's own (so a disconnect is still seen)."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


class PanicGuard:
    """A panic in native code (pyo3's PanicException, a BaseException that exception handlers never see) is
    answered as a JSON 500, as any other fault of ours, and the server carries on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def send_and_note(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except BaseException as error:
            if isinstance(error, Exception) or not is_panic(error) or started:
                raise
            logger.error("%s %s panicked", scope["method"], scope["path"], exc_info=error)
            await unexpected_error_response(error)(scope, receive, send)
