"""The routes: OpenAI's /v1/embeddings, TEI's /embed, /rerank, /similarity and /tokenize, Cohere/Jina's
/v1/rerank, and /health, /info, /v1/models and /metrics."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import numpy as np
import torch
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from sentembed.backend import PackedLinear
from sentembed.sentence_transformer import postprocess
from sentembed.server._errors import ApiError
from sentembed.server._schemas import (
    CohereRerankRequest,
    EmbeddingsRequest,
    EmbedRequest,
    RerankRequest,
    SearchRequest,
    SimilarityRequest,
    TokenizeRequest,
)
from sentembed.server._state import ServerState, check_inputs, json_response, truncation_headers
from sentembed.store import parse_filter
from sentembed.version import __version__

router = APIRouter()
STARTED = int(time.time())


def state_of(request: Request) -> ServerState:
    return request.app.state.server


def as_base64(vector: np.ndarray) -> str:
    """A vector as OpenAI's base64: little-endian float32 bytes."""
    return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")


@router.post("/v1/embeddings", summary="Embeddings in the OpenAI schema")
async def openai_embeddings(body: EmbeddingsRequest, request: Request) -> Response:
    state = state_of(request)
    embedder = state.need_embedder(body.model)
    inputs = check_inputs(body.input, "input", state.settings.openai_max_inputs)
    if isinstance(inputs[0], int):  # one text given as a list of token ids
        inputs = [inputs]
    if not isinstance(inputs[0], str):
        inputs = await run_in_threadpool(embedder.decode_ids, inputs)
    dimensions = state.dimensions(body.dimensions)
    raw, tokenized = await state.embed(request, "/v1/embeddings", inputs, body.prompt_name, True, "input")
    vectors = postprocess(raw, dimensions, normalize=True).numpy()
    encode = as_base64 if body.encoding_format == "base64" else (lambda vector: vector)
    data = [{"object": "embedding", "embedding": encode(vector), "index": i} for i, vector in enumerate(vectors)]
    usage = {"prompt_tokens": tokenized.tokens, "total_tokens": tokenized.tokens}
    content = {"object": "list", "data": data, "model": body.model or state.settings.model_names[0], "usage": usage}
    return json_response(content, truncation_headers(tokenized))


@router.post("/embed", summary="Embeddings in TEI's schema")
async def embed(body: EmbedRequest, request: Request) -> Response:
    state = state_of(request)
    state.need_embedder()
    texts = check_inputs(body.inputs, "inputs", state.settings.max_client_batch_size)
    dimensions = state.dimensions(body.dimensions)
    raw, tokenized = await state.embed(request, "/embed", texts, body.prompt_name, body.truncate, "inputs")
    return json_response(postprocess(raw, dimensions, body.normalize).numpy(), truncation_headers(tokenized))


@router.post("/similarity", summary="The source sentence's similarity to each sentence (TEI)")
async def similarity(body: SimilarityRequest, request: Request) -> Response:
    state = state_of(request)
    embedder = state.need_embedder()
    sentences = check_inputs(body.inputs.sentences, "inputs.sentences", state.settings.max_client_batch_size)
    check_inputs(body.inputs.source_sentence, "inputs.source_sentence", 1)
    texts = [body.inputs.source_sentence, *sentences]
    raw, tokenized = await state.embed(request, "/similarity", texts, body.prompt_name, body.truncate, "inputs")
    scores = embedder.model.similarity(raw[:1], raw[1:])[0]
    return json_response(scores.tolist(), truncation_headers(tokenized))


@router.post("/rerank", summary="Texts ranked by relevance to a query (TEI)")
async def rerank(body: RerankRequest, request: Request) -> Response:
    state = state_of(request)
    reranker = state.need_reranker()
    check_inputs(body.query, "query", 1)
    texts = check_inputs(body.texts, "texts", state.settings.max_client_batch_size)
    logits, tokenized = await state.score(request, "/rerank", body.query, texts, body.truncate)
    scores = reranker.scores(logits, body.raw_scores)
    order = sorted(range(len(texts)), key=lambda index: -scores[index])
    ranked = [
        {"index": index, "score": scores[index], **({"text": texts[index]} if body.return_text else {})}
        for index in order
    ]
    return json_response(ranked, truncation_headers(tokenized))


@router.post("/v1/rerank", summary="Documents ranked by relevance to a query (Cohere and Jina)")
async def cohere_rerank(body: CohereRerankRequest, request: Request) -> Response:
    state = state_of(request)
    reranker = state.need_reranker(body.model)
    check_inputs(body.query, "query", 1)
    documents = [item if isinstance(item, str) else item.text for item in body.documents]
    documents = check_inputs(documents, "documents", state.settings.openai_max_inputs)
    logits, tokenized = await state.score(request, "/v1/rerank", body.query, documents, truncate=True)
    scores = reranker.scores(logits, raw=False)
    order = sorted(range(len(documents)), key=lambda index: -scores[index])[: body.top_n]
    results = [
        {
            "index": index,
            "relevance_score": scores[index],
            **({"document": {"text": documents[index]}} if body.return_documents else {}),
        }
        for index in order
    ]
    content = {
        "id": str(uuid.uuid4()),
        "results": results,
        "model": state.settings.reranker_name,
        "usage": {"total_tokens": tokenized.tokens},
    }
    return json_response(content, truncation_headers(tokenized))


@router.post("/search", summary="The served store's hits for each query (ours)")
async def search(body: SearchRequest, request: Request) -> Response:
    state = state_of(request)
    searcher = state.need_searcher()
    queries = check_inputs(body.query, "query", state.settings.max_client_batch_size)
    state.count("/search", len(queries), 0)
    if body.filter is not None:
        try:
            parse_filter(body.filter)
        except (ValueError, TypeError) as error:
            raise ApiError(422, str(error), "filter", "invalid_filter") from None
    options = (body.top_k, body.mode, body.filter, body.return_texts)
    try:
        hits = await run_in_threadpool(searcher.search, queries, *options)
    except ValueError as error:  # e.g. mode="lexical" on a store without a lexical index
        raise ApiError(422, str(error), "mode", "invalid_search") from None
    return json_response(hits[0] if isinstance(body.query, str) else hits)


@router.post("/tokenize", summary="Token ids with character offsets (TEI)")
async def tokenize(body: TokenizeRequest, request: Request) -> Response:
    state = state_of(request)
    embedder = state.need_embedder()
    texts = check_inputs(body.inputs, "inputs", state.settings.max_client_batch_size)
    texts = embedder.prompted(texts, embedder.prompt(body.prompt_name))
    budget = state.settings.max_batch_tokens
    tokens = await run_in_threadpool(embedder.tokens, texts, body.add_special_tokens, body.truncate, budget)
    return json_response(tokens)


@router.get("/health", summary="200 while the models answer, 503 otherwise")
async def health(request: Request) -> Response:
    if not state_of(request).batcher.alive:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/info", summary="The served models and the server's limits")
async def info(request: Request) -> Response:
    state = state_of(request)
    settings = state.settings
    embedder, reranker = state.embedder, state.reranker
    return JSONResponse(
        {
            "version": __version__,
            "model_id": settings.model_names[0] if embedder else None,
            "model_names": list(settings.model_names) if embedder else [],
            "embedding_dimension": embedder.dimension if embedder else None,
            "max_input_length": embedder.max_length if embedder else None,
            "prompts": sorted(embedder.model.prompts) if embedder else [],
            "reranker_id": settings.reranker_name if reranker else None,
            "reranker_max_input_length": reranker.max_length if reranker else None,
            "max_concurrent_requests": settings.max_concurrent_requests,
            "max_batch_tokens": settings.max_batch_tokens,
            "max_client_batch_size": settings.max_client_batch_size,
            "max_openai_inputs": settings.openai_max_inputs,
            "payload_limit": settings.payload_limit,
            "header_timeout": settings.header_timeout,
            "body_timeout": settings.body_timeout,
            "batch_size": settings.batch_size,
            "lanes": settings.lanes,
            "threads": torch.get_num_threads(),
            "packed_layers": packed_layers(embedder, reranker),
        }
    )


def packed_layers(*engines: Any) -> int:
    """How many linear layers of the served models compute from packed weights (`pack_linear_weights`)."""
    return sum(isinstance(layer, PackedLinear) for engine in engines if engine for layer in engine.model.modules())


@router.get("/v1/models", summary="The served models (OpenAI)")
async def models(request: Request) -> Response:
    state = state_of(request)
    settings = state.settings
    names = [*(settings.model_names if state.embedder else ()), *([settings.reranker_name] if state.reranker else [])]
    card = {"object": "model", "created": STARTED, "owned_by": "sentembed"}
    data = [{"id": name, **card} for name in names]
    return JSONResponse({"object": "list", "data": data})


@router.get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request) -> Response:
    return Response(state_of(request).metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")
