"""Small model builders and private copies of the shared model folders, for tests that change them."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.paths import CROSS_ENCODER, minilm_l6_folder


def random_static_model(dimension: int = 64, seed: int = 0):
    """A SentenceTransformer of StaticEmbedding (seeded RANDOM token vectors on the all-MiniLM-L6-v2 tokenizer)
    and Normalize: it tests mechanics and the folder format, not embedding quality."""
    import torch
    from tokenizers import Tokenizer

    from sentembed import SentenceTransformer
    from sentembed.models import Normalize, StaticEmbedding

    tokenizer = Tokenizer.from_file(str(minilm_l6_folder() / "tokenizer.json"))
    table = torch.randn(tokenizer.get_vocab_size(), dimension, generator=torch.Generator().manual_seed(seed))
    return SentenceTransformer(modules=[StaticEmbedding(tokenizer, embedding_weights=table), Normalize()], device="cpu")


def copy_without_exports(source: Path, target: Path) -> Path:
    """A private copy of a model folder without its onnx/ exports, so that tests export into it, not ../shared."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("onnx"))
    return target


def copy_checkpoint(folder: Path) -> Path:
    """A private copy of the test cross-encoder, to edit its config."""
    shutil.copytree(CROSS_ENCODER, folder)
    return folder


def fake_hub_cache(cache: Path, repo_id: str, source: Path) -> Path:
    """Lay out `source` as huggingface_hub caches a downloaded repository; returns its snapshot folder."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / ("a" * 40)
    shutil.copytree(source, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("a" * 40)
    return snapshot
