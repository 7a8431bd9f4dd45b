"""Search speed and peak memory: sentembed next to the reference util, in one process.

Embeddings are all-MiniLM-L6-v2 vectors of the SciFact 1k documents, repeated with small noise to reach
100k and 1M rows; 100 SciFact queries. Peak memory is the rise of the process's peak RSS (Linux VmHWM)
during one call. Run: .venv/bin/python benchmarks/search_speed.py [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

SCIFACT_1K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact_1k"


def load_embeddings(cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(documents, queries) embeddings, encoded once and cached as .npy files."""
    if cache is not None and (cache / "docs.npy").is_file():
        return np.load(cache / "docs.npy"), np.load(cache / "queries.npy")
    from sentembed import SentenceTransformer

    model = SentenceTransformer("all-MiniLM-L6-v2", device="cpu")
    with open(SCIFACT_1K / "corpus.jsonl", encoding="utf-8") as handle:
        docs = [json.loads(line) for line in handle]
    with open(SCIFACT_1K / "queries.jsonl", encoding="utf-8") as handle:
        queries = [json.loads(line)["text"] for line in handle][:100]
    doc_embeddings = model.encode([d["title"] + " " + d["text"] for d in docs], batch_size=64)
    query_embeddings = model.encode(queries, batch_size=64)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.save(cache / "docs.npy", doc_embeddings)
        np.save(cache / "queries.npy", query_embeddings)
    return doc_embeddings, query_embeddings


def tile_with_noise(docs: np.ndarray, rows: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    corpus = np.empty((rows, docs.shape[1]), dtype=np.float32)
    for start in range(0, rows, len(docs)):
        block = docs[: min(len(docs), rows - start)]
        corpus[start : start + len(block)] = block + rng.normal(0, 0.01, block.shape).astype(np.float32)
    return corpus


def peak_rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))


def measure(function) -> tuple[float, int]:
    """(seconds, peak memory rise in bytes) of one call."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")
    before = peak_rss()
    start = time.perf_counter()
    function()
    return time.perf_counter() - start, peak_rss() - before


def cases(corpus: np.ndarray, queries: np.ndarray, folder: Path):
    """(name, ours, reference or None) callables for one corpus size."""
    from sentence_transformers.util import quantization as ref_quantization
    from sentence_transformers.util import semantic_search as ref_semantic_search

    from sentembed.quantization import quantize_embeddings, semantic_search_faiss, semantic_search_usearch
    from sentembed.store import EmbeddingStore
    from sentembed.util import semantic_search

    corpus_tensor, query_tensor = torch.from_numpy(corpus), torch.from_numpy(queries)
    ubinary = quantize_embeddings(corpus, "ubinary")
    int8 = quantize_embeddings(corpus, "int8", calibration_embeddings=corpus[:10000])
    int8_options = {"corpus_precision": "int8", "calibration_embeddings": corpus[:10000], "rescore_multiplier": 4}
    binary_options = {"corpus_precision": "ubinary", "rescore_multiplier": 4}
    yield (
        "exact float32 (semantic_search)",
        lambda: semantic_search(query_tensor, corpus_tensor, top_k=10),
        lambda: ref_semantic_search(query_tensor, corpus_tensor, top_k=10),
    )
    yield (
        "ubinary, faiss, rescore x4 (incl. index build)",
        lambda: semantic_search_faiss(queries, ubinary, **binary_options),
        lambda: ref_quantization.semantic_search_faiss(queries, ubinary, **binary_options),
    )
    if len(corpus) <= 100_000:
        yield (
            "int8, usearch, rescore x4 (incl. index build)",
            lambda: semantic_search_usearch(queries, int8, **int8_options),
            lambda: ref_quantization.semantic_search_usearch(queries, int8, **int8_options),
        )
    for precision in ("ubinary", "int8"):
        path = folder / f"{precision}-{len(corpus)}"
        yield (
            f"`EmbeddingStore.create` {precision} (writes float32 + {precision})",
            lambda p=path, q=precision: EmbeddingStore.create(p, corpus, precision=q),
            None,
        )
        yield (f"`EmbeddingStore.open` {precision}", lambda p=path: EmbeddingStore.open(p), None)
        yield (
            f"`EmbeddingStore.add` 10,000 rows to the {precision} store",
            lambda p=path: EmbeddingStore.open(p).add(corpus[:10_000]),
            None,
        )
        yield (
            f"`EmbeddingStore` {precision} search, rescored on float32 mmap",
            lambda p=path: EmbeddingStore.open(p).search(queries),
            None,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--cache", type=Path, default=Path(".cache/search-bench"))
    args = parser.parse_args()
    docs, queries = load_embeddings(args.cache)
    print(f"torch threads: {torch.get_num_threads()}, queries: {len(queries)}, dim: {docs.shape[1]}")
    print("| corpus | operation | sentembed s | reference s | ref/ours | sentembed peak MB | reference peak MB |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for rows in args.sizes:
            corpus = tile_with_noise(docs, rows)
            for name, ours, reference in cases(corpus, queries, Path(folder)):
                our_seconds, our_peak = measure(ours)
                ref_seconds, ref_peak = measure(reference) if reference else (float("nan"), 0)
                ratio = ref_seconds / our_seconds if reference else float("nan")
                ref_text = f"{ref_seconds:.3f}" if reference else "-"
                ref_peak_text = f"{ref_peak / 2**20:.0f}" if reference else "-"
                print(
                    f"| {rows:,} | {name} | {our_seconds:.3f} | {ref_text} | {ratio:.2f} | "
                    f"{our_peak / 2**20:.0f} | {ref_peak_text} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
