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
    parser.set_defaults(run=run)


def search(args: argparse.Namespace) -> list[dict]:
    """The hits for the query, best first, each with its stored text."""
    from sentembed.store import EmbeddingStore

    store = EmbeddingStore.open(args.store)
    return store.search(args.query, top_k=args.top_k, rescore=not args.no_rescore, return_texts=True)[0]


def print_hits(hits: list[dict], as_json: bool) -> None:
    for rank, hit in enumerate(hits, start=1):
        if as_json:
            print(json.dumps(hit, ensure_ascii=False))
        else:
            text = hit.get("text") or ""
            print(f"{rank:>3}  {hit['score']:.4f}  {hit['corpus_id']}  {text[:100]}")


def run(args: argparse.Namespace) -> int:
    print_hits(search(args), args.json)
    return 0
