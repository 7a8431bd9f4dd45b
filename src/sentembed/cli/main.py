"""The `sentembed` command: one sub-command per job, each in its own module."""

from __future__ import annotations

import argparse
import logging
import sys

from sentembed.cli import _distill as distill
from sentembed.cli import _encode as encode
from sentembed.cli import _index as index
from sentembed.cli import _search as search
from sentembed.cli import _serve as serve
from sentembed.cli import _similarity as similarity
from sentembed.cli import _verify as verify
from sentembed.common.errors import WorkerError

COMMANDS = [encode, similarity, index, search, verify, distill, serve]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sentembed", description="Text embeddings from the command line.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and details")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def quiet_transformers() -> None:
    """Hide transformers' weight-loading bars and notes, which say nothing to a CLI user."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if not args.verbose:
        quiet_transformers()
    try:
        return args.run(args) or 0
    except (OSError, ValueError, TypeError, WorkerError) as error:
        print(f"sentembed {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
