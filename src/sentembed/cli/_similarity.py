"""`sentembed similarity`: embed a few texts and print their similarity matrix."""

from __future__ import annotations

import argparse

from sentembed.cli._common import add_model_options, load_model
from sentembed.cli._encode import gather_texts


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("similarity", help="print the similarity of every pair of texts")
    parser.add_argument("texts", nargs="*", help="texts to compare, or one path to a file with one text per line")
    parser.add_argument("--input", "-i", help="file with one text per line ('-' for stdin)")
    add_model_options(parser)
    parser.set_defaults(run=run)


def format_matrix(texts: list[str], scores) -> str:
    """A readable table: one row per text, its scores against every text."""
    labels = [text if len(text) <= 40 else text[:37] + "..." for text in texts]
    width = max(len(label) for label in labels)
    header = " " * (width + 5) + " ".join(f"{index:>6}" for index in range(len(texts)))
    rows = [
        f"{label:<{width}}  " + " ".join(f"{score:6.3f}" for score in row)
        for label, row in zip(labels, scores.tolist(), strict=True)
    ]
    return "\n".join([header, *[f"{index:>2} {row}" for index, row in enumerate(rows)]])


def run(args: argparse.Namespace) -> int:
    texts = gather_texts(args)
    if not texts:
        raise ValueError("give at least one text to compare")
    model = load_model(args)
    embeddings = model.encode(texts, batch_size=args.batch_size)
    print(f"model: {args.model}  similarity: {model.similarity_fn_name or 'cosine'}")
    print(format_matrix(texts, model.similarity(embeddings, embeddings)))
    return 0
