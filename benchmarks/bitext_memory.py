"""Peak memory and time of mine_translations on n x n random unit vectors (default 100k x 100k, 384 dimensions).

Usage: .venv/bin/python benchmarks/bitext_memory.py [--rows 100000] [--dim 384] [--threads 2]

The vectors are random (seeded), not sentence embeddings: memory and time depend only on the counts and the
dimension. The full score matrix would be rows^2 x 4 bytes (40 GB at 100k); the peak resident memory (VmHWM)
during mining is printed next to the size of the two input matrices.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from tests.search.memory_probe import peak_rss_bytes, reset_peak  # noqa: E402

from sentembed.util import mine_translations  # noqa: E402


def unit_vectors(rows: int, dim: int, seed: int) -> torch.Tensor:
    vectors = np.random.default_rng(seed).standard_normal((rows, dim), dtype=np.float32)
    return torch.from_numpy(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--threads", type=int, default=2)
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    source = unit_vectors(options.rows, options.dim, 0)
    target = unit_vectors(options.rows, options.dim, 1)
    mine_translations(source[:500], target[:500])  # warm up the libraries before measuring
    reset_peak()
    before = peak_rss_bytes()
    started = time.perf_counter()
    pairs = mine_translations(source, target)
    seconds = time.perf_counter() - started
    peak = peak_rss_bytes()
    result = {
        "rows": options.rows, "dim": options.dim, "threads": options.threads, "pairs": len(pairs),
        "seconds": round(seconds, 1), "inputs_bytes": 2 * source.numel() * 4, "rss_before_bytes": before,
        "peak_rss_bytes": peak, "peak_rise_bytes": peak - before, "full_matrix_bytes": options.rows**2 * 4,
    }  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
