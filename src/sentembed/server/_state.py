"""What one server holds: its models, the batcher that runs them, its metrics and settings; and the steps
every route shares (checking inputs, queueing a job and waiting for it, dropping it if the client leaves)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import torch
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sentembed.common.checks import check_text
from sentembed.server._batcher import Batcher, Job
from sentembed.server._engine import Embedder, Reranker, TextModel, Tokenized
from sentembed.server._errors import ApiError
from sentembed.server._metrics import Metrics
from sentembed.server._searching import StoreSearcher
from sentembed.server._settings import ServeSettings

TRUNCATED_HEADER = "X-Sentembed-Truncated"
CLIENT_CLOSED = 499
# Requests with at most this many characters of text are tokenized on the event loop (see `tokenize_near`).
INLINE_CHARACTERS = 4_000


class ClientGone(Exception):
    """The client disconnected before its result was ready; its queued work was dropped."""


def json_response(content: Any, headers: dict[str, str] | None = None) -> Response:
    """JSON with numpy arrays written directly (orjson), which keeps large embedding responses cheap."""
    body = orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, media_type="application/json", headers=headers)


def check_inputs(value: str | list, param: str, limit: int) -> list:
    """A single input or a non-empty list of at most `limit`, with no empty string among them."""
    inputs = [value] if isinstance(value, str) else list(value)
    if not inputs:
        raise ApiError(422, f"{param} is an empty list; send at least one input", param, "empty_input")
    if len(inputs) > limit:
        message = f"{param} holds {len(inputs)} inputs; this server takes at most {limit} per request"
        raise ApiError(413, message, param, "too_many_inputs")
    for index, item in enumerate(inputs):
        if isinstance(item, str):
            check_request_text(item, param if isinstance(value, str) else f"{param}[{index}]")
    return inputs


def check_request_text(text: str, where: str) -> None:
    """A 422 naming `where` for an empty text or one no tokenizer can read (a lone surrogate)."""
    if not text:
        raise ApiError(422, f"{where} is an empty string", where, "empty_input")
    try:
        check_text(text, where)
    except ValueError as error:
        raise ApiError(422, str(error), where, "invalid_text") from None


async def wait_for_disconnect(request: Request) -> None:
    """Return once the client has closed its connection."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def tokenize_near(
    engine: TextModel, characters: int, tokenize: Callable[..., Tokenized], *args: Any
) -> Tokenized:
    """`tokenize(*args)` on the event loop for a request of at most `INLINE_CHARACTERS` characters whose model's
    tokenizer is free (a fraction of a millisecond, less than the hop to a worker thread and back costs), else
    in a worker thread, so that a large request never holds up the loop."""
    if characters <= INLINE_CHARACTERS and engine.lock.acquire(blocking=False):
        try:
            return tokenize(*args)
        finally:
            engine.lock.release()
    return await run_in_threadpool(tokenize, *args)


def truncation_headers(tokenized: Tokenized) -> dict[str, str]:
    """The response header that counts the inputs cut at the model's length."""
    return {TRUNCATED_HEADER: str(tokenized.truncated)}


def _served(engine: Any, kind: str, option: str, names: tuple[str, ...], asked: str | None, missing_code: str) -> Any:
    """`engine`, if the server has one and `asked` (a request's `model`, if any) is one of its names; else a 404
    (`model_not_found` for a name the server does not know, as OpenAI and vLLM answer)."""
    if engine is None:
        raise ApiError(404, f"this server has no {kind}; start it with {option}", "model", missing_code)
    if asked is not None and asked not in names:
        known = ", ".join(repr(name) for name in names)
        raise ApiError(404, f"model {asked!r} is not served here; the {kind} is {known}", "model", "model_not_found")
    return engine


class ServerState:
    def __init__(
        self,
        embedder: Embedder | None,
        reranker: Reranker | None,
        settings: ServeSettings,
        metrics: Metrics,
        searcher: StoreSearcher | None = None,
        runs_at_once: int = 1,
    ) -> None:
        """
        Args:
            embedder: the embedding model's engine, or None.
            reranker: the cross-encoder's engine, or None.
            settings: the server's settings.
            metrics: the server's metrics.
            searcher: the served store, or None.
            runs_at_once: model runs under way together (the lanes, where there are several). Default 1.
        """
        self.embedder = embedder
        self.searcher = searcher
        self.reranker = reranker
        self.settings = settings
        self.metrics = metrics
        self.batcher = Batcher(self._run, settings.max_batch_tokens, self.metrics, runs_at_once=runs_at_once)

    def _run(self, key: Any, jobs: list[Job]) -> list[torch.Tensor]:
        engine = self.embedder if key[0] == "embed" else self.reranker
        return engine.run(key, jobs)

    def need_embedder(self, model: str | None = None) -> Embedder:
        names = self.settings.model_names
        return _served(self.embedder, "embedding model", "--model", names, model, "no_model")

    def need_searcher(self) -> StoreSearcher:
        """The served store, or a 404 saying the server was started without one."""
        if self.searcher is None:
            raise ApiError(404, "this server has no store to search; start it with --store DIR", code="no_store")
        return self.searcher

    def need_reranker(self, model: str | None = None) -> Reranker:
        names = (self.settings.reranker_name,)
        return _served(self.reranker, "reranker", "--reranker", names, model, "no_reranker")

    async def check_truncation(
        self, engine: Any, tokenized: Tokenized, truncate: bool, find_cut: Callable[[], str]
    ) -> None:
        """With `truncate=false`, inputs over the model's length are a 422 naming the first one (`find_cut`)."""
        if not tokenized.truncated:
            return
        self.metrics.truncated.inc(tokenized.truncated)
        if truncate:
            return
        where = await run_in_threadpool(find_cut)
        message = (
            f"{where} is longer than the model's {engine.max_length} tokens "
            f"({tokenized.truncated} inputs are); send truncate=true to have them cut"
        )
        raise ApiError(422, message, where, "input_too_long")

    async def run_job(self, request: Request, job: Job) -> torch.Tensor:
        """Queue a job and wait for it; if the client disconnects first, drop the job."""
        if not self.batcher.alive:
            raise ApiError(503, "the server is shutting down", code="unavailable")
        result = self.batcher.submit(job)
        gone = asyncio.ensure_future(wait_for_disconnect(request))
        try:
            done, _ = await asyncio.wait({result, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if result in done:
            return result.result()
        self.batcher.drop(job)
        result.cancel()
        raise ClientGone

    async def embed(
        self, request: Request, route: str, texts: list[str], prompt_name: str | None, truncate: bool, param: str
    ) -> tuple[torch.Tensor, Tokenized]:
        """Raw embeddings of `texts` from the shared batcher, exactly as `encode` computes them."""
        embedder = self.need_embedder()
        prompt = embedder.prompt(prompt_name)
        tokenized = await tokenize_near(embedder, sum(map(len, texts)), embedder.tokenize, texts, prompt)
        prompted = embedder.prompted(texts, prompt)
        await self.check_truncation(
            embedder, tokenized, truncate, lambda: embedder.first_cut(prompted, tokenized.rows, param)
        )
        self.count(route, len(texts), tokenized.tokens)
        job = Job(("embed", prompt), tokenized.rows, tokenized.tokens, tokenized.features)
        if embedder.cache is not None:
            job.cache_keys = embedder.cache.keys(prompted, prompt)
        return await self.run_job(request, job), tokenized

    async def score(
        self, request: Request, route: str, query: str, texts: list[str], truncate: bool
    ) -> tuple[torch.Tensor, Tokenized]:
        """Logits of (query, text) pairs from the shared batcher."""
        reranker = self.need_reranker()
        size = len(query) * len(texts) + sum(map(len, texts))
        tokenized = await tokenize_near(reranker, size, reranker.tokenize, query, texts)
        await self.check_truncation(
            reranker, tokenized, truncate, lambda: reranker.first_cut(query, texts, tokenized.rows)
        )
        self.count(route, len(texts), tokenized.tokens)
        job = Job(("rerank",), tokenized.rows, tokenized.tokens)
        return await self.run_job(request, job), tokenized

    def count(self, route: str, inputs: int, tokens: int) -> None:
        self.metrics.count(route, inputs, tokens)

    def dimensions(self, dimensions: int | None) -> int | None:
        """`dimensions` if the model has that many, else a 422."""
        size = self.need_embedder().dimension
        if dimensions is not None and size is not None and dimensions > size:
            message = f"dimensions={dimensions} is more than the model's {size}"
            raise ApiError(422, message, "dimensions", "invalid_dimensions")
        return dimensions
