"""A static model distilled from all-MiniLM-L6-v2 against the reference's all-MiniLM-L6-v2, side by side: STSb
test Spearman and encoding speed on the STSb test sentences (CPU), median of --repeats runs.
Run: .venv/bin/python benchmarks/static_speed.py [--repeats 3] [--sif-coefficient 1e-5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scipy.stats import spearmanr  # noqa: E402
from tests.support.data import read_sts  # noqa: E402
from tests.support.paths import minilm_l6_folder  # noqa: E402

from sentembed import SentenceTransformer  # noqa: E402
from sentembed.models import Normalize, StaticEmbedding  # noqa: E402


def spearman(model, first: list[str], second: list[str], gold: list[float]) -> float:
    a, b = model.encode(first, normalize_embeddings=True), model.encode(second, normalize_embeddings=True)
    return spearmanr((a * b).sum(axis=1), gold).statistic


def texts_per_second(model, texts: list[str], repeats: int) -> float:
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.encode(texts)
        timings.append(time.perf_counter() - start)
    return len(texts) / statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pca-dims", type=int, default=256)
    parser.add_argument("--sif-coefficient", type=float, default=1e-5)
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer as Reference

    folder = str(minilm_l6_folder())
    teacher, reference = SentenceTransformer(folder, device="cpu"), Reference(folder, device="cpu")
    start = time.perf_counter()
    table = StaticEmbedding.from_distillation(teacher, pca_dims=args.pca_dims, sif_coefficient=args.sif_coefficient)
    static = SentenceTransformer(modules=[table, Normalize()], device="cpu")
    print(f"distilled in {time.perf_counter() - start:.1f} s (pca_dims={args.pca_dims}, sif={args.sif_coefficient})")
    first, second, gold = read_sts("test")
    texts = list(dict.fromkeys(first + second))
    static.encode(texts[:64]), reference.encode(texts[:64])
    reference_rate = texts_per_second(reference, texts, args.repeats)
    static_rate = texts_per_second(static, texts, args.repeats)
    print(f"{len(texts)} distinct STSb test sentences, median of {args.repeats}")
    for name, model, rate in (("reference MiniLM-L6", reference, reference_rate), ("static", static, static_rate)):
        print(f"{name:<20} Spearman {spearman(model, first, second, gold):.4f}  {rate:8.0f} texts/s")
    print(f"static / reference speed: {static_rate / reference_rate:.1f}x")


if __name__ == "__main__":
    main()
