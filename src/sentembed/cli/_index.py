"""`sentembed index`: encode a text file (one text per line), JSON lines or Parquet into an embedding store,
in this process or (`--ray`) on a Ray cluster."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sentembed.cli._common import add_model_options, backend_arguments, load_model, open_cache, read_lines
from sentembed.store import STORE_PRECISIONS

# Options that mean something only with --ray, by flag and argument name.
RAY_ONLY = {
    "--address": "address",
    "--workers": "workers",
    "--gpus-per-worker": "gpus_per_worker",
    "--shard-dir": "shard_dir",
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("index", help="encode a corpus into an embedding store (resumable)")
    parser.add_argument(
        "input", help="a .txt file (one text per line), .jsonl file (objects with 'text') or .parquet file"
    )
    parser.add_argument("--store", required=True, help="folder of the store (created, or resumed if it exists)")
    add_model_options(parser)
    parser.add_argument("--precision", default="float32", choices=STORE_PRECISIONS, help="also store quantized")
    parser.add_argument("--text-field", default="text", help="JSON lines, Parquet: the field holding the text")
    parser.add_argument("--id-field", default="id", help="JSON lines, Parquet: the field holding the id, if present")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--chunk-tokens", type=int, default=None, help="store each text as chunks of N tokens")
    parser.add_argument("--chunk-overlap", type=int, default=0, help="with --chunk-tokens: tokens shared by neighbours")
    parser.add_argument("--cache", metavar="FILE", help="an embedding cache file: texts seen before are not encoded")
    parser.add_argument("--segment-size", type=int, default=4096, help="rows per store segment (with --ray: per shard)")
    parser.add_argument("--lexical", action="store_true", help="also a BM25 index, for search --mode lexical/hybrid")
    parser.add_argument("--index", choices=["hnsw"], help="also an approximate nearest-neighbour index (usearch HNSW)")
    add_ray_options(parser)
    parser.set_defaults(run=run)


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Ray", 'encode on a Ray cluster (pip install "sentembed[ray]")')
    group.add_argument("--ray", action="store_true", help="encode shards on Ray workers; this process commits them")
    group.add_argument("--address", help="with --ray: join this Ray cluster (default: start one on this machine)")
    group.add_argument("--workers", type=int, help="with --ray: model actors (default: as many as the cluster fits)")
    group.add_argument("--gpus-per-worker", type=float, help="with --ray: GPUs per actor (default: 0)")
    group.add_argument(
        "--shard-dir", help="with --ray: staging folder for shards, shared by all nodes (default: in the store)"
    )


def read_corpus(path: str, text_field: str, id_field: str) -> tuple[list[str], list | None, list[dict] | None]:
    """(texts, ids or None, metadata or None) from a .jsonl or .parquet file, or the non-empty lines of a text
    file."""
    if path.endswith(".parquet"):
        return read_parquet(path, text_field, id_field)
    if not path.endswith(".jsonl"):
        return read_lines(path), None, None
    if not Path(path).is_file():
        raise OSError(f"input file {path} does not exist")
    texts: list[str] = []
    ids: list = []
    metadata: list[dict] = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            record = _parse_record(line, path, number, text_field)
            texts.append(record.pop(text_field))
            ids.append(record.pop(id_field, None))
            metadata.append(record)
    known_ids = None if any(value is None for value in ids) else ids
    return texts, known_ids, metadata if any(metadata) else None


def read_parquet(path: str, text_field: str, id_field: str) -> tuple[list[str], list | None, list[dict] | None]:
    """(texts, ids or None, metadata or None) from a Parquet file's columns: the other columns are metadata."""
    try:
        import pyarrow.parquet as parquet
    except ImportError as error:
        raise ImportError('reading Parquet needs pyarrow: pip install pyarrow (or "sentembed[ray]")') from error
    if not Path(path).is_file():
        raise OSError(f"input file {path} does not exist")
    table = parquet.read_table(path)
    if text_field not in table.column_names:
        raise ValueError(f"{path} has no column {text_field!r} (--text-field); its columns are {table.column_names}")
    texts = table.column(text_field).to_pylist()
    bad = next((row for row, text in enumerate(texts) if not isinstance(text, str)), None)
    if bad is not None:
        raise ValueError(f"{path}: row {bad} of column {text_field!r} is {texts[bad]!r}, not a string")
    ids = table.column(id_field).to_pylist() if id_field in table.column_names else None
    others = table.drop_columns([name for name in (text_field, id_field) if name in table.column_names])
    return texts, ids, others.to_pylist() if others.num_columns else None


def _parse_record(line: str, path: str, number: int, text_field: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{number} is not valid JSON: {error}") from None
    if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
        raise ValueError(f"{path}:{number} must be a JSON object with a string field {text_field!r}")
    return record


def run(args: argparse.Namespace) -> int:
    texts, ids, metadata = read_corpus(args.input, args.text_field, args.id_field)
    if not texts:
        raise ValueError(f"{args.input} holds no texts")
    options = {
        "ids": ids,
        "metadata": metadata,
        "precision": args.precision,
        "batch_size": args.batch_size,
        "show_progress_bar": not args.no_progress,
        "chunk_tokens": args.chunk_tokens,
        "chunk_overlap": args.chunk_overlap,
        "segment_size": args.segment_size,
    }
    store = build_on_ray(args, texts, options) if args.ray else build_here(args, texts, options)
    if args.lexical and store.manifest.lexical is None:
        store.build_lexical_index()
    if args.index is not None and store.manifest.index is None:
        store.build_index(args.index)
    print(f"{args.store}: {store.count} embeddings of dimension {store.dim} ({store.precision})", file=sys.stderr)
    return 0


def build_here(args: argparse.Namespace, texts: list[str], options: dict):
    """The store built in this process."""
    from sentembed.store import EmbeddingStore

    ray_only = [flag for flag, value in RAY_ONLY.items() if getattr(args, value) is not None]
    if ray_only:
        raise ValueError(f"{ray_only[0]} needs --ray")
    model = args.model if args.backend == "torch" else load_model(args)
    return EmbeddingStore.build(args.store, model, texts, cache=open_cache(args.cache), **options)


def build_on_ray(args: argparse.Namespace, texts: list[str], options: dict):
    """The store built by Ray workers, committed by this process."""
    from sentembed.distributed import build_store, require_ray

    try:
        require_ray()
    except ImportError as error:
        raise ValueError(f"--ray: {error}") from None
    if args.cache is not None:
        raise ValueError("--cache works without --ray only: Ray workers on other machines cannot share the file")
    return build_store(
        args.store, args.model, texts, workers=args.workers, gpus_per_worker=args.gpus_per_worker or 0,
        device=args.device, address=args.address, shard_dir=args.shard_dir, model_options=backend_arguments(args),
        **options,
    )  # fmt: skip
