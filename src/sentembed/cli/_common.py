"""Options and input handling shared by the sub-commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", "-m", default=DEFAULT_MODEL, help=f"model name or folder (default: {DEFAULT_MODEL})")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps ... (default: the best available)")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per batch (default: 32)")
    add_backend_options(parser)


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """--backend, and --auto-quality for --backend auto."""
    parser.add_argument(
        "--backend",
        default="torch",
        choices=["torch", "onnx", "openvino", "auto"],
        help="inference backend; auto picks the fastest path for this CPU under --auto-quality (default: torch)",
    )
    parser.add_argument(
        "--auto-quality",
        default=None,
        choices=["exact", "int8"],
        help="with --backend auto: exact (fp32, within 1e-5 of torch; the default) or int8 (rank quality within 0.005)",
    )


def backend_arguments(args: argparse.Namespace) -> dict:
    """The model's `backend` and `model_kwargs` arguments from --backend, --auto-quality (and --model-kwargs)."""
    model_kwargs = dict(getattr(args, "model_kwargs", None) or {})
    if args.auto_quality is not None:
        if args.backend != "auto":
            raise ValueError("--auto-quality needs --backend auto")
        model_kwargs["auto_quality"] = args.auto_quality
    return {"backend": args.backend, "model_kwargs": model_kwargs or None}


def read_lines(path: str | Path | None) -> list[str]:
    """Non-empty lines of a file, or of stdin when `path` is None or '-'."""
    if path is None or str(path) == "-":
        lines = sys.stdin.read().splitlines()
    else:
        path = Path(path)
        if not path.is_file():
            raise OSError(f"input file {path} does not exist")
        lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()]


def open_cache(path: str | None):
    """The `--cache FILE` embedding cache, or None."""
    if path is None:
        return None
    from sentembed.cache import EmbeddingCache

    return EmbeddingCache(path)


def load_model(args: argparse.Namespace, **kwargs):
    from sentembed import SentenceTransformer

    return SentenceTransformer(args.model, device=args.device, **backend_arguments(args), **kwargs)
