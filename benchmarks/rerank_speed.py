"""Cross-encoder speed: pairs per second on WikiQA test pairs, sentembed and the reference side by side.

Run: .venv/bin/python benchmarks/rerank_speed.py [--pairs 2351] [--batch-size 32] [--repeats 3]
    [--backends torch onnx openvino]
All models score the same pairs in the same process, alternately; the best of the repeats is reported.
The ONNX and OpenVINO backends run a copy of the model folder, so their exports never touch ../shared.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WIKIQA_TEST = SHARED / "data" / "wikiqa" / "WikiQA-test.txt"
CROSS_ENCODER = SHARED / "models" / "wikiqa-MiniLM-L3-v2-cross-encoder"


def read_pairs(limit: int) -> list[tuple[str, str]]:
    with open(WIKIQA_TEST, encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    return [(question, sentence) for question, sentence, _ in rows][:limit]


def time_predict(model, pairs: list[tuple[str, str]], batch_size: int) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    scores = model.predict(pairs, batch_size=batch_size, show_progress_bar=False)
    return time.perf_counter() - start, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2351)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--backends", nargs="+", default=["torch", "onnx", "openvino"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from sentence_transformers import CrossEncoder as Reference

    from sentembed import CrossEncoder

    pairs = read_pairs(args.pairs)
    copy = Path(tempfile.mkdtemp(prefix="rerank-speed-")) / CROSS_ENCODER.name
    shutil.copytree(CROSS_ENCODER, copy, ignore=shutil.ignore_patterns("onnx"))
    models = {"reference": Reference(str(CROSS_ENCODER), device="cpu")}
    for backend in args.backends:
        models[f"sentembed {backend}"] = CrossEncoder(str(copy), device="cpu", backend=backend)
    for model in models.values():
        model.predict(pairs[:64], batch_size=args.batch_size)
    timings: dict[str, list[float]] = {name: [] for name in models}
    scores = {}
    for _ in range(args.repeats):
        for name, model in models.items():
            seconds, scores[name] = time_predict(model, pairs, args.batch_size)
            timings[name].append(seconds)
    print(f"{len(pairs)} WikiQA test pairs, batch_size={args.batch_size}, torch threads={torch.get_num_threads()}")
    print("| model | pairs/s | best seconds | ratio to reference | max abs score difference |")
    print("|---|---|---|---|---|")
    rates = {name: len(pairs) / min(seconds) for name, seconds in timings.items()}
    for name, rate in rates.items():
        difference = float(np.abs(scores[name] - scores["reference"]).max())
        print(
            f"| {name} | {rate:.1f} | {min(timings[name]):.2f} | {rate / rates['reference']:.2f}x | {difference:.1e} |"
        )
    shutil.rmtree(copy.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
