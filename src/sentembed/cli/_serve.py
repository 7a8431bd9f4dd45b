"""`sentembed serve`: the HTTP server for embeddings and re-ranking (needs the `serve` extra)."""

from __future__ import annotations

import argparse
import json
import os

from sentembed.cli._common import DEFAULT_MODEL, add_backend_options, backend_arguments
from sentembed.common.checks import check_port

API_KEY_VARIABLE = "SENTEMBED_API_KEY"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve embeddings and re-ranking over HTTP (OpenAI and TEI routes)")
    parser.add_argument("--model", "-m", default=DEFAULT_MODEL, help=f"embedding model (default: {DEFAULT_MODEL})")
    parser.add_argument("--reranker", default=None, help="a cross-encoder for /rerank and /v1/rerank")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=port_number, default=8000, help="TCP port, 0 to 65535 (default: 8000)")
    add_backend_options(parser)
    parser.add_argument("--model-kwargs", type=json.loads, default=None, help="JSON, e.g. '{\"file_name\": ...}'")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps ... (default: the best available)")
    parser.add_argument(
        "--batch-size", type=int, default=None, help="texts per model batch (default: 4 on onnx/openvino, 8 on torch)"
    )
    parser.add_argument("--api-key", default=None, help=f"require 'Bearer KEY' auth (or set {API_KEY_VARIABLE})")
    parser.add_argument("--max-concurrent-requests", type=int, default=512, help="more get 429 (default: 512)")
    parser.add_argument("--max-batch-tokens", type=int, default=16_384, help="tokens per model run (default: 16384)")
    parser.add_argument("--max-client-batch-size", type=int, default=32, help="inputs per request (default: 32)")
    parser.add_argument("--payload-limit", type=int, default=2_000_000, help="request body bytes (default: 2000000)")
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        help="seconds a connection may take to send its request headers (default: 10)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=30.0,
        help="seconds a request body may take to arrive in full; then 408 (default: 30)",
    )
    parser.add_argument(
        "--served-model-name",
        action="append",
        default=[],
        metavar="NAME",
        help="another name requests may give the embedding model (repeatable; the first is the name answers give)",
    )
    parser.add_argument(
        "--cache", default=None, metavar="DB", help="an embedding cache file: repeated texts skip the model"
    )
    parser.add_argument(
        "--store",
        default=None,
        metavar="DIR",
        help="an embedding store (built with --model) that POST /search searches",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes on the one port, each with its model and cores // N threads (default: 1)",
    )
    parser.add_argument(
        "--lanes",
        type=int,
        default=None,
        help="batches computed at once on the CPU, each on cores // lanes threads (default: one per core, at "
        "most 2; 1 on torch with --no-packed-weights)",
    )
    parser.add_argument(
        "--no-packed-weights",
        dest="packed_weights",
        action="store_false",
        help="on the CPU, compute torch's linear layers without a oneDNN-packed copy of their weights (saves "
        "that memory; slower on short inputs)",
    )
    parser.add_argument("--cors-origin", action="append", default=[], help="allow this browser origin (repeatable)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.set_defaults(run=run)


def port_number(text: str) -> int:
    """An argparse type: a TCP port number, 0 to 65535."""
    try:
        return check_port(int(text), "--port")
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port number, 0 to 65535") from None


def run(args: argparse.Namespace) -> int:
    try:
        from sentembed.server import ServeSettings, serve
    except ImportError as error:
        raise OSError(f'sentembed serve needs the serve extra: pip install "sentembed[serve]" ({error})') from None
    settings = ServeSettings(
        max_concurrent_requests=args.max_concurrent_requests,
        max_batch_tokens=args.max_batch_tokens,
        max_client_batch_size=args.max_client_batch_size,
        payload_limit=args.payload_limit,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        batch_size=args.batch_size,
        api_key=args.api_key or os.environ.get(API_KEY_VARIABLE) or None,
        cors_origins=tuple(args.cors_origin),
        served_model_names=tuple(args.served_model_name),
        cache_path=args.cache,
        store_path=args.store,
        lanes=args.lanes,
        packed_weights=args.packed_weights,
    )
    args.model_kwargs = backend_arguments(args)["model_kwargs"]  # with --auto-quality
    serve(args.model, args.reranker, args.host, args.port, settings, args.backend, args.model_kwargs, args.device,
          args.log_level, args.workers)  # fmt: skip
    return 0
