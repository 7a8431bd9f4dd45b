"""`create_app`: the ASGI app for a model (and optionally a reranker); `serve`: run it on uvicorn."""

from __future__ import annotations

import dataclasses
import inspect
import logging
import signal
import socket
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from multiprocessing.connection import Connection
from typing import Any

import torch
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from sentembed.backend import pack_linear_weights
from sentembed.common.checks import check_port
from sentembed.common.types import Backend
from sentembed.cross_encoder import CrossEncoder
from sentembed.sentence_transformer import SentenceTransformer
from sentembed.server._engine import (
    Embedder,
    Reranker,
    ServerCache,
    SharedThreads,
    mark_lane_thread,
    per_thread_counts,
)
from sentembed.server._errors import ApiError, on_api_error, on_http_error, on_unexpected_error, on_validation_error
from sentembed.server._fastpath import DirectRoutes
from sentembed.server._metrics import Metrics
from sentembed.server._middleware import ApiKeyCheck, ConcurrencyLimit, PanicGuard, PayloadLimit, RequestMetrics
from sentembed.server._routes import router
from sentembed.server._searching import StoreSearcher
from sentembed.server._settings import BATCH_SIZE, ServeSettings, is_loopback_host
from sentembed.server._state import CLIENT_CLOSED, ClientGone, ServerState
from sentembed.server._workers import (
    WorkerPlan,
    check_worker_models,
    lane_threads,
    run_workers,
    stop_with_parent,
    torch_threads,
    with_backend_defaults,
    worker_threads,
)
from sentembed.version import __version__

logger = logging.getLogger(__name__)
# uvicorn's wait for in-flight requests after SIGTERM, before it closes what is left.
DRAIN_TIMEOUT_S = 60


async def on_client_gone(request: Request, error: ClientGone) -> Response:
    return Response(status_code=CLIENT_CLOSED)


def create_app(
    model: SentenceTransformer | None, reranker: CrossEncoder | None = None, settings: ServeSettings | None = None
) -> FastAPI:
    """The server's ASGI app around loaded models; mount it, or run it with `serve` or any ASGI server.

    Args:
        model: The embedding model, or None for a reranker alone.
        reranker: A cross-encoder with one output, or None.
        settings: The server's limits, names, cache and store. Default None: `ServeSettings()`.

    Returns:
        The FastAPI app.

    Raises:
        TypeError: A model that is not a SentenceTransformer, or a reranker that is not a CrossEncoder.
        ValueError: Neither model nor reranker, or a store without the embedding model.
    """
    settings = settings or ServeSettings()
    if model is None and reranker is None:
        raise ValueError("create_app needs a model, a reranker, or both")
    if model is not None and not isinstance(model, SentenceTransformer):
        raise TypeError(f"model must be a SentenceTransformer, not {type(model).__name__}")
    if reranker is not None and not isinstance(reranker, CrossEncoder):
        raise TypeError(f"reranker must be a CrossEncoder, not {type(reranker).__name__}")
    metrics = Metrics()
    cache = ServerCache(settings.cache_path, model, metrics) if settings.cache_path and model is not None else None
    lane_count = lanes_for(settings.lanes, [item for item in (model, reranker) if item is not None])
    batch_size = settings.batch_size or BATCH_SIZE
    settings = dataclasses.replace(settings, batch_size=batch_size, lanes=lane_count)  # what /info reports
    lanes = (
        ThreadPoolExecutor(lane_count, thread_name_prefix="sentembed-lane", initializer=mark_lane_thread)
        if lane_count > 1
        else None
    )
    embedder = Embedder(model, batch_size, cache, lanes) if model is not None else None
    ranker = Reranker(reranker, batch_size, lanes) if reranker is not None else None
    if settings.store_path is not None and model is None:
        raise ValueError("a store to search (store_path) needs the embedding model it was built with")
    searcher = StoreSearcher(settings.store_path, model) if settings.store_path is not None else None
    state = ServerState(embedder, ranker, settings, metrics, searcher, runs_at_once=lane_count)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.batcher.start()
        try:
            yield
        finally:
            state.batcher.stop()
            if lanes is not None:
                lanes.shutdown()

    app = FastAPI(title="sentembed", version=__version__, lifespan=lifespan, **without_telemetry())
    app.state.server = state
    app.include_router(router)
    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(ClientGone, on_client_gone)
    app.add_exception_handler(Exception, on_unexpected_error)
    # Added innermost first: a request meets metrics, then CORS, the key, the concurrency limit, the body limit,
    # the panic guard, and the direct way to the embedding routes (see `fastpath`).
    app.add_middleware(DirectRoutes)
    app.add_middleware(PanicGuard)
    app.add_middleware(PayloadLimit, limit=settings.payload_limit, body_timeout=settings.body_timeout)
    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrent_requests)
    app.add_middleware(ApiKeyCheck, api_key=settings.api_key)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type"])  # fmt: skip
    app.add_middleware(RequestMetrics, metrics=state.metrics, routes=route_paths(app))
    return app


def lanes_for(lanes: int | None, models: list[Any]) -> int:
    """How many of a run's batches compute at once: `lanes` (None: 1) for models on the CPU; 1 elsewhere."""
    return 1 if any(model.device.type != "cpu" for model in models) else lanes or 1


def without_telemetry() -> dict[str, Any]:
    """FastAPI's own OpenTelemetry hooks (in versions that have them) look up the global providers on every
    request; the server has its own `/metrics`, so they are turned off."""
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters:
        return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    return {}


def route_paths(app: FastAPI) -> frozenset[str]:
    """The paths the app answers: its own (the docs) and our router's. None has path parameters, so each is
    one fixed string."""
    paths = (getattr(route, "path", None) for route in [*app.routes, *router.routes])
    return frozenset(path for path in paths if isinstance(path, str))


def load_models(
    model: str | SentenceTransformer | None,
    reranker: str | CrossEncoder | None = None,
    backend: Backend = "torch",
    model_kwargs: dict[str, Any] | None = None,
    device: str | None = None,
) -> tuple[SentenceTransformer | None, CrossEncoder | None]:
    """Models from names or folders (already loaded ones pass through), on one backend and device.

    Args:
        model: The embedding model's name, folder or object, or None.
        reranker: The cross-encoder's name, folder or object, or None. Default None.
        backend: "torch" (default), "onnx", "openvino" or "auto", for models given by name.
        model_kwargs: Loading options for models given by name. Default None.
        device: Where the models run. Default None: the best available.

    Returns:
        (the SentenceTransformer or None, the CrossEncoder or None).
    """
    options: dict[str, Any] = {"backend": backend, "model_kwargs": model_kwargs, "device": device}
    if isinstance(model, str):
        model = SentenceTransformer(model, **options)
    if isinstance(reranker, str):
        reranker = CrossEncoder(reranker, **options)
    return model, reranker


def serve(
    model: str | SentenceTransformer | None,
    reranker: str | CrossEncoder | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    settings: ServeSettings | None = None,
    backend: Backend = "torch",
    model_kwargs: dict[str, Any] | None = None,
    device: str | None = None,
    log_level: str = "info",
    workers: int = 1,
) -> None:
    """Load the models and serve them on uvicorn until SIGINT/SIGTERM, which drains in-flight requests first.

    Args:
        model: the embedding model (name, folder or loaded), or None for a reranker alone.
        reranker: a cross-encoder with one output (name, folder or loaded), or None.
        host: the address to bind (127.0.0.1: this machine only).
        port: the TCP port (0: the system picks one).
        settings: the server's limits, names and cache (`ServeSettings`).
        backend: `torch`, `onnx` or `openvino`, for models given by name.
        model_kwargs: loading options for models given by name.
        device: where the models run (None: the best available).
        log_level: uvicorn's log level.
        workers: server processes on the one port, each with its models, batcher and `cores // workers`
            threads (see `sentembed.server._workers`); above 1, models must be given by name or folder.

    Raises:
        ImportError: The `serve` extra is not installed.
        ValueError: A port out of range, model objects with several workers, or what `create_app` refuses.
    """
    import uvicorn

    settings = settings or ServeSettings()
    check_port(port)
    check_worker_models(workers, model, reranker)
    names = {"model_name": model if isinstance(model, str) else settings.model_name}
    if isinstance(reranker, str):
        names["reranker_name"] = reranker
    settings = dataclasses.replace(settings, **names)
    if not is_loopback_host(host) and settings.api_key is None:
        logger.warning("serving on %s without --api-key: anyone who can reach this address may use it", host)
    threads = worker_threads(workers)
    settings = with_backend_defaults(settings, threads, threads_backend(model, reranker, backend))
    if workers > 1:
        plan = WorkerPlan(model, reranker, backend, model_kwargs, device, settings, log_level, threads)
        return run_workers(workers, plan, host, port, worker_main)
    app = create_app(
        *load_on_lanes(model, reranker, backend, model_kwargs, device, settings, threads), settings=settings
    )
    app.state.server.metrics.mark_worker(0)
    uvicorn.Server(uvicorn_config(app, host, port, settings, log_level)).run()


def threads_backend(model: Any, reranker: Any, backend: Backend) -> str:
    """The backend whose rules decide lanes, batch size and threads: `backend` for models given by name, torch's
    for loaded ones (a loaded onnx session keeps the threads it was made with)."""
    return backend if all(item is None or isinstance(item, str) for item in (model, reranker)) else "torch"


def load_on_lanes(
    model: str | SentenceTransformer | None,
    reranker: str | CrossEncoder | None,
    backend: Backend,
    model_kwargs: dict[str, Any] | None,
    device: str | None,
    settings: ServeSettings,
    threads: int,
) -> tuple[SentenceTransformer | None, CrossEncoder | None]:
    """`load_models` in a process with `threads` threads split over the settings' lanes: torch's threads set
    first (see `torch_threads`), with `settings.packed_weights` the torch layers on the CPU packed
    (`pack_linear_weights`), and with several lanes every graph module given a session with each lane's share
    and torch models given `SharedThreads` (where torch keeps a thread count per thread).

    Args:
        model: The embedding model's name, folder or object, or None.
        reranker: The cross-encoder's name, folder or object, or None.
        backend: The backend for models given by name.
        model_kwargs: Loading options for models given by name.
        device: Where the models run (None: the best available).
        settings: The server's settings, lanes decided (`with_backend_defaults`).
        threads: The threads this process may use.

    Returns:
        (the SentenceTransformer or None, the CrossEncoder or None).
    """
    lanes = settings.lanes or 1
    share = lane_threads(threads, lanes)
    shared = SharedThreads(threads, share) if lanes > 1 and per_thread_counts() else None
    torch.set_num_threads(torch_threads(threads_backend(model, reranker, backend), threads, lanes, shared is not None))
    models = load_models(model, reranker, backend, model_kwargs, device)
    for loaded in (item for item in models if item is not None):
        if settings.packed_weights:
            pack_linear_weights(loaded)
        graphs = [module for module in loaded.modules() if hasattr(module, "open_lane_session")]
        for graph in graphs if lanes > 1 else []:
            graph.open_lane_session(share)
        if shared is not None and not graphs:
            shared.attach(loaded)
    return models


def uvicorn_config(app: FastAPI, host: str, port: int, settings: ServeSettings, log_level: str = "info") -> Any:
    """The `uvicorn.Config` that `serve` runs `app` with: httptools with `settings.header_timeout` on request
    headers (and a 16 KiB bound on them), and SIGTERM draining in-flight requests for up to 60 s.

    Args:
        app: the app from `create_app`.
        host: the address to bind.
        port: the TCP port to bind.
        settings: the server's settings (the same as the app's).
        log_level: uvicorn's log level.
    """
    import uvicorn

    from sentembed.server._connections import header_deadline_protocol

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=DRAIN_TIMEOUT_S,
        http=header_deadline_protocol(settings.header_timeout),
    )


def worker_main(index: int, plan: WorkerPlan, listener: socket.socket, report: Connection) -> None:
    """One of `serve(workers=N)`'s processes: its share of the cores, its models and app, and uvicorn on the
    socket the parent bound. Models that fail to load are reported to the parent (`report`), which raises."""
    import uvicorn

    # uvicorn re-raises the SIGTERM it drained for; exiting through SystemExit lets the process clean up
    # (multiprocessing's semaphores, the cache) instead of dying of the signal.
    signal.signal(signal.SIGTERM, exit_quietly)
    stop_with_parent()
    try:
        models = load_on_lanes(
            plan.model, plan.reranker, plan.backend, plan.model_kwargs, plan.device, plan.settings, plan.threads
        )
        app = create_app(*models, settings=plan.settings)
    except Exception as error:
        logger.debug("worker %d could not start", index, exc_info=error)
        report.send(f"{type(error).__name__}: {error}")
        raise SystemExit(1) from None
    app.state.server.metrics.mark_worker(index)
    host, port = listener.getsockname()[:2]
    uvicorn.Server(uvicorn_config(app, host, port, plan.settings, plan.log_level)).run(sockets=[listener])


def exit_quietly(signum: int, frame: Any) -> None:
    raise SystemExit(0)
