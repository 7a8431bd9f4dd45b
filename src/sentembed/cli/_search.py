"""`sentembed search`: find the stored texts closest to a query in an embedding store."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("search", help="search an embedding store built by `sentembed index`")
    parser.add_argument("query", help="the text to search for")
    parser.add_argument("--store", required=True, help="folder of the store")
    parser.add_argument("-k", "--top-k", type=int, default=10, help="number of results (default: 10)")
    parser.add_argument("--no-rescore", action="store_true", help="quantized stores: keep the quantized scores")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    parser.add_argument(
        "--mode", default="dense", choices=["dense", "lexical", "hybrid"], help="lexical, hybrid: needs index --lexical"
    )
    parser.add_argument(
        "--filter", type=json_filter, help='metadata filter as JSON, such as \'{"year": {"$gte": 2010}}\''
    )
    parser.add_argument("--rerank", metavar="MODEL", help="re-rank the hits with this cross-encoder (name or folder)")
    parser.add_argument(
        "--rerank-top-n", type=int, default=100, help="with --rerank: candidates to re-rank (default: 100)"
    )
    parser.add_argument(
        "--device", default=None, help="with --rerank: cpu, cuda, mps ... (default: the best available)"
    )
    parser.set_defaults(run=run)


def search(args: argparse.Namespace) -> list[dict]:
    """The hits for the query, best first, each with its stored text."""
    from sentembed.store import EmbeddingStore

    store = EmbeddingStore.open(args.store)
    if args.rerank:
        if args.mode != "dense" or args.filter is not None:
            raise ValueError("--rerank re-ranks a dense search: it takes neither --mode nor --filter")
        return rerank_search(args, store)
    options = {"mode": args.mode, "filter": args.filter}
    return store.search(args.query, top_k=args.top_k, rescore=not args.no_rescore, return_texts=True, **options)[0]


def json_filter(text: str) -> dict:
    """--filter's JSON object."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object of metadata conditions")
    return value


def rerank_search(args: argparse.Namespace, store) -> list[dict]:
    """The store's top `--rerank-top-n` hits re-ranked by a cross-encoder; the best `-k` of them."""
    from sentembed.cross_encoder import CrossEncoder, RetrieveAndRerank

    if args.rerank_top_n < args.top_k:
        raise ValueError(f"--rerank-top-n ({args.rerank_top_n}) must be at least -k ({args.top_k})")
    cross_encoder = CrossEncoder(args.rerank, device=args.device)
    pipeline = RetrieveAndRerank.from_store(cross_encoder, store, args.rerank_top_n, rescore=not args.no_rescore)
    return pipeline.search(args.query, top_k=args.top_k)


def print_hits(hits: list[dict], as_json: bool) -> None:
    for rank, hit in enumerate(hits, start=1):
        if as_json:
            print(json.dumps(hit, ensure_ascii=False))
        else:
            text = hit.get("text") or ""
            retrieval = f" (retrieval {hit['retrieval_score']:.4f})" if "retrieval_score" in hit else ""
            print(f"{rank:>3}  {hit['score']:.4f}{retrieval}  {hit['corpus_id']}  {text[:100]}")


def run(args: argparse.Namespace) -> int:
    print_hits(search(args), args.json)
    return 0
