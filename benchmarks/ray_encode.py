"""Encoding through Ray Data next to plain `encode` in one process (all-MiniLM-L6-v2, CPU, SciFact documents
as title + text): texts/s for plain encode with 1 and with every thread, and for `encode_dataset` with 1 and 2
workers of one CPU each, end to end (actor start-up included) and in steady state (the start-up, measured
on a one-row dataset, taken off); ratios; and the overhead per batch: one worker's time per one-row batch
(--overhead-batches of them, start-up taken off) less the time of the same call to the Embedder in-process.

Run: .venv/bin/python benchmarks/ray_encode.py [--texts 512] [--batch-size 64] [--repeats 2]
Each figure is the best of --repeats runs. Ray runs locally on this machine's cores, its workers at the
driver's priority (Ray starts them at niceness 15, which on a shared machine slows them against the plain
runs; RAY_worker_niceness set in the environment is kept).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import ray  # noqa: E402
import torch  # noqa: E402
from tests.support.paths import DATA, minilm_l6_folder  # noqa: E402

from sentembed import SentenceTransformer  # noqa: E402
from sentembed.common.runtime import available_cores  # noqa: E402
from sentembed.distributed import Embedder, encode_dataset  # noqa: E402


def read_scifact(limit: int) -> list[str]:
    with open(DATA / "scifact" / "corpus.jsonl", encoding="utf-8") as handle:
        rows = [json.loads(line) for _, line in zip(range(limit), handle, strict=False)]
    return [f"{row['title']} {row['text']}" for row in rows]


def best_of(repeats: int, run) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def plain(model: SentenceTransformer, texts: list[str], threads: int, repeats: int) -> float:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return best_of(repeats, lambda: model.encode(texts, show_progress_bar=False))
    finally:
        torch.set_num_threads(previous)


def through_ray(folder: str, texts: list[str], workers: int, batch_size: int, repeats: int) -> float:
    def run() -> None:
        ds = ray.data.from_items([{"text": text} for text in texts])
        rows = encode_dataset(ds, folder, batch_size=batch_size, workers=workers).take_all()
        assert len(rows) == len(texts)

    return best_of(repeats, run)


@ray.remote(num_cpus=1)
def actor_threads() -> int:
    return torch.get_num_threads()


def main() -> None:
    os.environ.setdefault("RAY_worker_niceness", "0")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64, help="rows per Ray batch")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--overhead-batches", type=int, default=64)
    args = parser.parse_args()
    texts, folder = read_scifact(args.texts), str(minilm_l6_folder())
    cores = available_cores()
    model = SentenceTransformer(folder, device="cpu")
    model.encode(texts[:32], show_progress_bar=False)  # warm up
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    threads = ray.get(actor_threads.remote())
    seconds = {
        "plain, 1 thread": plain(model, texts, 1, args.repeats),
        f"plain, {cores} threads": plain(model, texts, cores, args.repeats),
    }
    startup = {}
    for workers in (1, 2):
        startup[workers] = through_ray(folder, texts[:1], workers, args.batch_size, args.repeats)
        seconds[f"ray, {workers} worker(s)"] = through_ray(folder, texts, workers, args.batch_size, args.repeats)
    batches = -(-len(texts) // args.batch_size)
    print(f"{len(texts)} SciFact documents, all-MiniLM-L6-v2, {cores} cores, Ray batches of {args.batch_size} rows")
    print(f"({batches} batches), one CPU and {threads} torch thread(s) per Ray worker; best of {args.repeats}")
    print(f"{'run':<20} {'seconds':>8} {'texts/s':>8} {'steady texts/s':>15}")
    steady = {}
    for name, value in seconds.items():
        workers = int(name.split(", ")[1][0]) if name.startswith("ray") else None
        steady[name] = len(texts) / (value - startup[workers]) if workers else len(texts) / value
        print(f"{name:<20} {value:8.2f} {len(texts) / value:8.1f} {steady[name]:15.1f}")
    for workers in (1, 2):
        print(f"start-up and shut-down of a {workers}-worker pool (one-row dataset): {startup[workers]:.2f} s")
    one, every = steady["plain, 1 thread"], steady[f"plain, {cores} threads"]
    for workers in (1, 2):
        name = f"ray, {workers} worker(s)"
        end_to_end = len(texts) / seconds[name] / one
        print(f"{name} / plain 1 thread: end to end {end_to_end:.2f}x, steady {steady[name] / one:.2f}x")
    print(f"ray, 2 workers / plain {cores} threads, steady: {steady['ray, 2 worker(s)'] / every:.2f}x")
    print_overhead(folder, args.overhead_batches, startup[1], args.repeats)


def print_overhead(folder: str, count: int, startup: float, repeats: int) -> None:
    """Ray's cost per batch: one-row batches through one worker, against the same Embedder call in-process."""
    ray_seconds = through_ray(folder, ["a short text"] * count, 1, 1, repeats) - startup
    embedder = Embedder(folder, device="cpu")
    torch.set_num_threads(1)
    batch = {"text": np.array(["a short text"])}
    direct = best_of(repeats, lambda: [embedder(batch) for _ in range(count)])
    per_batch, in_process = ray_seconds / count * 1000, direct / count * 1000
    print(f"overhead per batch (1 worker, {count} one-row batches): {per_batch - in_process:.1f} ms")
    print(f"  (Ray {per_batch:.1f} ms per batch, the same call in-process {in_process:.1f} ms)")


if __name__ == "__main__":
    main()
