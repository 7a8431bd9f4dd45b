"""The embedding routes' common case without the router: a valid JSON body for `/v1/embeddings` or `/embed`
goes straight to its handler, skipping FastAPI's routing, dependency solving and exception layers (about a
third of a small request's time on the event loop). Anything else (another route or method, a body that
is not JSON, one the schema refuses) goes on through FastAPI untouched, so every error keeps its one source
and its exact shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sentembed.server._middleware import replay
from sentembed.server._routes import embed, openai_embeddings
from sentembed.server._schemas import EmbeddingsRequest, EmbedRequest

Handler = Callable[[Any, Request], Awaitable[Response]]
# The routes taken directly: path -> (body schema, handler). The same handlers FastAPI calls for them.
DIRECT_ROUTES: dict[str, tuple[type[BaseModel], Handler]] = {
    "/v1/embeddings": (EmbeddingsRequest, openai_embeddings),
    "/embed": (EmbedRequest, embed),
}


def exception_handler(app: Any, error: Exception) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The handler `app` has registered for `error`'s class or its nearest base (the app registers one for
    `Exception`), as FastAPI's own exception layers would pick it."""
    handlers = app.exception_handlers
    return next(handlers[kind] for kind in type(error).__mro__ if kind in handlers)


def is_json(scope: Scope) -> bool:
    """Whether the request says its body is JSON (FastAPI reads a body as JSON then, too)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


def parsed_body(message: Message, schema: type[BaseModel]) -> BaseModel | None:
    """The body of a whole-body `message` checked against `schema`, or None for anything the router should see
    (a body in parts, JSON that orjson refuses, a body the schema refuses)."""
    if message["type"] != "http.request" or message.get("more_body", False):
        return None
    try:
        return schema.model_validate(orjson.loads(message.get("body", b"")))
    except (orjson.JSONDecodeError, ValidationError):
        return None


class DirectRoutes:
    """Answers the valid requests of `DIRECT_ROUTES` itself, in front of the FastAPI app (and behind the
    server's other layers: metrics, key, limits and the panic guard still see every request)."""

    def __init__(self, app: ASGIApp) -> None:
        """
        Args:
            app: the FastAPI app (or whatever follows), which gets every request not taken here.
        """
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = DIRECT_ROUTES.get(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if route is None or not is_json(scope):
            return await self.app(scope, receive, send)
        message = await receive()  # the payload limit hands the whole body over as one message
        body = parsed_body(message, route[0])
        if body is None:
            return await self.app(scope, replay([message], receive), send)
        request = Request(scope, receive)
        try:
            response = await route[1](body, request)
        except Exception as error:  # answered by the app's own handler for it, as through the router
            response = await exception_handler(request.app, error)(request, error)
        await response(scope, receive, send)
