"""Connections that must send their request headers in time, and not too many of them. uvicorn closes an idle
keep-alive connection, but waits forever for a client that opens a connection, or starts its next request,
and then sends its headers a byte at a time (slowloris), and its httptools parser takes headers of any size;
this protocol closes such a connection once `header_timeout` passes, and answers 400 to headers still
unfinished after `max_header_bytes`. The request body has its own deadline (`middleware.PayloadLimit`).

It is uvicorn's httptools protocol: a C parser, where h11 parses each request in Python on the event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# The bound on a request's unfinished headers: h11's, which uvicorn's other protocol applies.
MAX_HEADER_BYTES = 16 * 1024


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on each request's headers, from the moment the connection
    opens (for its first request) or the request's first byte arrives (for later ones) to the end of its
    headers, and a bound on their size. An idle keep-alive connection is closed by uvicorn's own timeout."""

    header_timeout: float = 10.0
    max_header_bytes: int = MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_deadline: asyncio.TimerHandle | None = None
        self.header_bytes = 0
        self.headers_ended_in_chunk = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.headers_ended_in_chunk = False
        super().data_received(data)
        if self.header_deadline is None or self.headers_ended_in_chunk:
            return  # no headers awaited, or the chunk ended some (the next ones' bytes count from the next chunk)
        self.header_bytes += len(data)
        if self.header_bytes > self.max_header_bytes and not self.transport.is_closing():
            self._disarm_header_deadline()
            self.send_400_response(f"Request headers are larger than {self.max_header_bytes} bytes.")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.header_deadline is None:  # a later request on this connection has begun
            self._arm_header_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_header_deadline()
        self.headers_ended_in_chunk = True
        super().on_headers_complete()

    def _arm_header_deadline(self) -> None:
        self.header_bytes = 0
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
