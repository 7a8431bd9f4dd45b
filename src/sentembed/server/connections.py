"""Connections that must send their request headers in time. uvicorn closes an idle keep-alive connection,
but waits forever for a client that opens a connection, or starts its next request, and then sends its
headers a byte at a time (slowloris); this protocol closes such a connection once `header_timeout` passes.
The request body has its own deadline (`middleware.PayloadLimit`)."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol (headers up to h11's 16 KiB) with a deadline on each request's headers: from the
    moment the connection opens, or the previous response ends, to the end of the request's headers."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # the request's headers are in (or the connection is done)
            self._disarm_header_deadline()

    def on_response_complete(self) -> None:
        self._arm_header_deadline()  # before the next request, pipelined or not, is read
        super().on_response_complete()

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self.header_deadline = self.loop.call_later(self.header_timeout, self._close_for_slow_headers)

    def _disarm_header_deadline(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def _close_for_slow_headers(self) -> None:
        self.header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def header_deadline_protocol(header_timeout: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for uvicorn's `http` setting, with this deadline on request headers (seconds)."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": header_timeout})
