"""Errors as JSON in the OpenAI shape, `{"error": {"message", "type", "param", "code"}}`, for every status."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from sentembed.common.errors import SentembedError

logger = logging.getLogger(__name__)

# Statuses with an error type of their own; any other 4xx is an invalid request, any 5xx a server error.
ERROR_TYPES = {
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
}


def error_type(status: int) -> str:
    """The OpenAI-style error type of an HTTP status."""
    return ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "server_error")


def is_panic(error: BaseException) -> bool:
    """Whether `error` is a BaseException that is neither an Exception nor a request to stop (KeyboardInterrupt,
    SystemExit, a cancellation, a closed generator): a Rust panic in `tokenizers` (pyo3's PanicException) is."""
    return not isinstance(error, (Exception, KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError))


class ApiError(SentembedError):
    """A request the server refuses, with the status, message and parameter the client is told.

    Args:
        status: The HTTP status, e.g. 422.
        message: What the client is told.
        param: The request field at fault, if any.
        code: A machine-readable error code, if any.
        headers: Extra response headers (e.g. Retry-After), if any.
    """

    def __init__(
        self,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers


def error_response(
    status: int, message: str, param: str | None = None, code: str | None = None, headers: dict | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": error_type(status), "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


# What a field that takes several shapes expects, for the one message its type errors give.
EXPECTED_SHAPES = {
    "input": "a string, a list of strings, a list of token ids or a list of lists of token ids",
    "inputs": "a string or a list of strings",
    "documents": "a list of strings or of {'text': ...} objects",
}


# The names pydantic gives the members of a union in an error's location: not fields, so left out.
UNION_MEMBERS = {"str", "int", "bool", "float"}


def _parameter(loc: tuple[Any, ...]) -> str | None:
    """`("body", "inputs", "sentences", 3)` as `inputs.sentences[3]`: the field an error is about."""
    parts = [part for part in loc if part != "body"]
    if not parts:
        return None
    text = str(parts[0])
    for part in parts[1:]:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier() and part.islower() and part not in UNION_MEMBERS:
            text += f".{part}"
    return text


async def on_api_error(request: Request, error: ApiError) -> JSONResponse:
    return error_response(error.status, error.message, error.param, error.code, error.headers)


async def on_validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """Invalid JSON or types: 422 naming the first field that is wrong."""
    errors = error.errors() or [{"loc": (), "msg": "invalid request", "type": "invalid"}]
    first = errors[0]
    if first.get("type") == "json_invalid":
        return error_response(422, f"the body is not valid JSON: {first.get('msg')}", None, "invalid_json")
    param = _parameter(tuple(first.get("loc", ())))
    field = param.split("[")[0] if param else None
    if field in EXPECTED_SHAPES and len(errors) > 1:
        return error_response(422, f"{param} must be {EXPECTED_SHAPES[field]}", param, "invalid_type")
    message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
    return error_response(422, message, param, str(first.get("type")))


async def on_unexpected_error(request: Request, error: BaseException) -> JSONResponse:
    """A fault of ours (the model failed, say): still JSON, logged with its traceback, and never a hang."""
    logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return unexpected_error_response(error)


def unexpected_error_response(error: BaseException) -> JSONResponse:
    """The JSON 500 that names an error of ours."""
    return error_response(500, f"the server failed on this request: {type(error).__name__}: {error}")


async def on_http_error(request: Request, error: HTTPException) -> JSONResponse:
    """Unknown routes (404), wrong methods (405) and the like, in the same JSON shape."""
    message = {404: f"no route {request.url.path}", 405: f"{request.method} is not allowed on {request.url.path}"}
    return error_response(error.status_code, message.get(error.status_code, str(error.detail)), headers=error.headers)
