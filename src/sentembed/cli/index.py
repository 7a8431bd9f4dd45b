"""`sentembed index`: encode a text file (one text per line) or JSON lines into an embedding store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sentembed.cli.common import add_model_options, open_cache, read_lines
from sentembed.store.manifest import STORE_PRECISIONS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("index", help="encode a corpus into an embedding store (resumable)")
    parser.add_argument("input", help="a .txt file (one text per line) or .jsonl file (objects with 'text')")
    parser.add_argument("--store", required=True, help="folder of the store (created, or resumed if it exists)")
    add_model_options(parser)
    parser.add_argument("--precision", default="float32", choices=STORE_PRECISIONS, help="also store quantized")
    parser.add_argument("--text-field", default="text", help="JSON lines: the field holding the text")
    parser.add_argument("--id-field", default="id", help="JSON lines: the field holding the id, if present")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--chunk-tokens", type=int, default=None, help="store each text as chunks of N tokens")
    parser.add_argument("--chunk-overlap", type=int, default=0, help="with --chunk-tokens: tokens shared by neighbours")
    parser.add_argument("--cache", metavar="FILE", help="an embedding cache file: texts seen before are not encoded")
    parser.set_defaults(run=run)


def read_corpus(path: str, text_field: str, id_field: str) -> tuple[list[str], list | None, list[dict] | None]:
    """(texts, ids or None, metadata or None) from a .jsonl file, or the non-empty lines of a text file."""
    if not path.endswith(".jsonl"):
        return read_lines(path), None, None
    if not Path(path).is_file():
        raise OSError(f"input file {path} does not exist")
    texts, ids, metadata = [], [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            record = _parse_record(line, path, number, text_field)
            texts.append(record.pop(text_field))
            ids.append(record.pop(id_field, None))
            metadata.append(record)
    if any(value is None for value in ids):
        ids = None
    return texts, ids, metadata if any(metadata) else None


def _parse_record(line: str, path: str, number: int, text_field: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{number} is not valid JSON: {error}") from None
    if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
        raise ValueError(f"{path}:{number} must be a JSON object with a string field {text_field!r}")
    return record


def run(args: argparse.Namespace) -> int:
    from sentembed.store import EmbeddingStore

    texts, ids, metadata = read_corpus(args.input, args.text_field, args.id_field)
    if not texts:
        raise ValueError(f"{args.input} holds no texts")
    store = EmbeddingStore.build(
        args.store,
        args.model,
        texts,
        ids=ids,
        metadata=metadata,
        precision=args.precision,
        batch_size=args.batch_size,
        show_progress_bar=not args.no_progress,
        chunk_tokens=args.chunk_tokens,
        chunk_overlap=args.chunk_overlap,
        cache=open_cache(args.cache),
    )
    print(f"{args.store}: {store.count} embeddings of dimension {store.dim} ({store.precision})", file=sys.stderr)
    return 0
