"""The embedding cache on the STSb test sentences (all-MiniLM-L6-v2, CPU): encoding without a cache, with an
empty cache (every text a miss, written), and from a full cache (every text a hit), next to the reference's
plain encode. Each figure is the median of --repeats runs.
Run: .venv/bin/python benchmarks/cache_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from tests.support.data import sts_test_sentences  # noqa: E402
from tests.support.paths import minilm_l6_folder  # noqa: E402

from sentembed import SentenceTransformer  # noqa: E402
from sentembed.cache import EmbeddingCache  # noqa: E402


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer as Reference

    texts = sts_test_sentences()
    folder = str(minilm_l6_folder())
    model, reference = SentenceTransformer(folder, device="cpu"), Reference(folder, device="cpu")
    model.encode(texts[:64]), reference.encode(texts[:64])  # warm up
    figures: dict[str, list[float]] = {"reference": [], "no cache": [], "cold cache": [], "warm cache": []}
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(args.repeats):
            figures["reference"].append(timed(lambda: reference.encode(texts))[0])
            cache = EmbeddingCache(Path(scratch) / f"cache-{repeat}.db")
            runs = [
                ("no cache", lambda: model.encode(texts)),
                ("cold cache", lambda c=cache: model.encode(texts, cache=c)),
            ]
            results = {}
            for name, run in runs if repeat % 2 == 0 else runs[::-1]:  # alternate the order: no drift favours one
                seconds, results[name] = timed(run)
                figures[name].append(seconds)
            plain, cold = results["no cache"], results["cold cache"]
            seconds, warm = timed(lambda cache=cache: model.encode(texts, cache=cache))
            figures["warm cache"].append(seconds)
            assert np.array_equal(plain, cold) and np.array_equal(plain, warm)
            cache.close()
    medians = {name: statistics.median(values) for name, values in figures.items()}
    print(f"{len(texts)} distinct STSb test sentences, all-MiniLM-L6-v2, {args.repeats} repeats (median)")
    for name, seconds in medians.items():
        print(f"{name:<11} {seconds * 1000:9.1f} ms  {len(texts) / seconds:10.0f} texts/s")
    print(f"cold cache overhead over no cache: {100 * (medians['cold cache'] / medians['no cache'] - 1):+.1f}%")
    print(f"warm cache speed-up over no cache: {medians['no cache'] / medians['warm cache']:.0f}x")
    print(f"warm cache speed-up over the reference: {medians['reference'] / medians['warm cache']:.0f}x")


if __name__ == "__main__":
    main()
