"""`sentembed distill`: a static model (a table of token vectors) distilled from a sentence transformer."""

from __future__ import annotations

import argparse
import sys

from sentembed.cli._common import DEFAULT_MODEL


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("distill", help="distil a fast static model from a sentence transformer")
    parser.add_argument(
        "model", nargs="?", default=DEFAULT_MODEL, help=f"model name or folder (default: {DEFAULT_MODEL})"
    )
    parser.add_argument("--output", "-o", required=True, help="folder to save the static model in")
    parser.add_argument("--pca-dims", type=int, default=256, help="dimensions kept by PCA (default: 256)")
    parser.add_argument("--sif-coefficient", type=float, default=1e-4, help="SIF weight coefficient (default: 1e-4)")
    parser.add_argument("--device", default=None, help="cpu, cuda, mps ... (default: the best available)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from sentembed import SentenceTransformer
    from sentembed.models import Normalize, StaticEmbedding
    from sentembed.models.distillation import check_distill_options

    check_distill_options(args.pca_dims, args.sif_coefficient, None)
    teacher = SentenceTransformer(args.model, device=args.device)
    static = StaticEmbedding.from_distillation(
        teacher, pca_dims=args.pca_dims, sif_coefficient=args.sif_coefficient, show_progress_bar=True
    )
    SentenceTransformer(modules=[static, Normalize()], device="cpu").save(args.output)
    vocabulary, dims = static.embedding.weight.shape
    print(f"wrote a static model ({vocabulary} tokens x {dims} dimensions) to {args.output}", file=sys.stderr)
    return 0
