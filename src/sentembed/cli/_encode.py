"""`sentembed encode`: texts in, embeddings out (.npy file or JSON lines)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from sentembed.cli._common import add_model_options, load_model, open_cache, read_lines
from sentembed.quantization import PRECISIONS

# Above this many texts a progress bar is shown on stderr.
PROGRESS_THRESHOLD = 256
TEXT_FILE_SUFFIXES = {".txt", ".jsonl", ".json", ".csv", ".tsv", ".md", ".text"}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("encode", help="embed texts from arguments, a file or stdin")
    parser.add_argument("texts", nargs="*", help="texts to embed, or one path to a file with one text per line")
    parser.add_argument("--input", "-i", help="file with one text per line ('-' for stdin)")
    parser.add_argument("--output", "-o", help="write a .npy file instead of JSON lines on stdout")
    add_model_options(parser)
    parser.add_argument("--normalize", action="store_true", help="L2-normalise the embeddings")
    parser.add_argument("--prompt-name", default=None, help="a prompt stored with the model, e.g. query")
    parser.add_argument("--precision", default="float32", choices=PRECISIONS)
    parser.add_argument("--truncate-dim", type=int, default=None, help="keep the first N dimensions")
    parser.add_argument("--cache", metavar="FILE", help="an embedding cache file: texts seen before are not encoded")
    parser.set_defaults(run=run)


def gather_texts(args: argparse.Namespace) -> list[str]:
    """Texts from --input, else a single positional path to a file, else the arguments, else stdin."""
    if args.input:
        return read_lines(args.input)
    if len(args.texts) == 1 and Path(args.texts[0]).is_file():
        return read_lines(args.texts[0])
    if len(args.texts) == 1 and looks_like_a_path(args.texts[0]):
        print(f"sentembed encode: warning: no file {args.texts[0]!r}; embedding it as a text", file=sys.stderr)
    if args.texts:
        return list(args.texts)
    return read_lines(None)


def looks_like_a_path(argument: str) -> bool:
    """A single word with a folder separator or a file extension, such as texts.txt or data/corpus."""
    return " " not in argument and (os.sep in argument or Path(argument).suffix.lower() in TEXT_FILE_SUFFIXES)


def run(args: argparse.Namespace) -> int:
    texts = gather_texts(args)
    if not texts:
        print("sentembed encode: warning: no texts were given (empty input); nothing to embed", file=sys.stderr)
        return 0
    model = load_model(args)
    embeddings = model.encode(
        texts,
        batch_size=args.batch_size,
        normalize_embeddings=args.normalize,
        prompt_name=args.prompt_name,
        precision=args.precision,
        truncate_dim=args.truncate_dim,
        show_progress_bar=len(texts) > PROGRESS_THRESHOLD,
        cache=open_cache(args.cache),
    )
    if args.output:
        written = args.output if args.output.endswith(".npy") else f"{args.output}.npy"  # np.save adds .npy
        np.save(written, embeddings)
        print(
            f"wrote {embeddings.shape[0]} embeddings of dimension {embeddings.shape[1]} to {written}", file=sys.stderr
        )
        return 0
    for text, vector in zip(texts, embeddings, strict=True):
        sys.stdout.write(json.dumps({"text": text, "embedding": vector.tolist()}) + "\n")
    return 0
