"""`sentembed verify`: check a store's files against the sizes and checksums recorded when they were committed."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("verify", help="check an embedding store's files for damage")
    parser.add_argument("--store", required=True, help="folder of the store")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sentembed.store import EmbeddingStore

    store = EmbeddingStore.open(args.store)
    checked = store.verify()
    segments = len(store.manifest.segments)
    if checked == 0 and segments:
        print(f"{args.store}: a version-1 store records no checksums; nothing to verify", file=sys.stderr)
        return 0
    print(f"{args.store}: {checked} files in {segments} segments match their checksums ({store.count} rows)")
    return 0
