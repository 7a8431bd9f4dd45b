"""The store's HNSW index against its exact scan at 100k and 1M rows: recall@10, one-query latency, build time,
memory, and a filter that keeps 1% of the rows.

Corpus (384 dims, all-MiniLM-L6-v2): the real embeddings of every distinct sentence in ../shared/data
(SciFact abstracts and queries, STSb, MRPC, WikiQA, Tatoeba's English side; about 58k texts, encoded once and
kept in --cache), then synthetic rows up to --rows, each the normalised mix `a * r1 + b * r2 + c * noise` of two
random real rows with a ~ U(0.5, 1), b ~ U(0, 0.5) and Gaussian noise of norm c = 0.35: rows that sit between
real sentences (their cosine to the nearest real row is about 0.8-0.9), not near-duplicates of a few thousand.
Queries: --queries real rows left out of the corpus, mixed the same way.

Exact search is the float32 store's scan (`search(..., exact=True)`); recall@10 is against it. Latency is one
query at a time (the serving case), median over the queries. Memory is the process's peak RSS after each phase.
Results (2026-12-07, 2 idle cores) are in docs/performance.md. Command (`--keep` keeps the stores and their graphs
to time them again without rebuilding; `--exact-queries` times fewer queries):
  OMP_NUM_THREADS=<cores> .venv/bin/python benchmarks/ann_scale.py --rows 100000 1000000 --cache ann-real.npy \
      --keep ann-stores --exact-queries 300
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.paths import DATA, minilm_l6_folder  # noqa: E402

from sentembed import SentenceTransformer  # noqa: E402
from sentembed.store import EmbeddingStore  # noqa: E402


def real_texts() -> list[str]:
    """Every distinct sentence of the shared data sets named in the docstring."""
    texts = []
    for name in ("scifact/corpus.jsonl", "scifact/queries.jsonl"):
        for line in read_lines(DATA / name):
            record = json.loads(line)
            texts.append((record.get("title", "") + " " + record["text"]).strip())
    for split in ("train", "dev", "test"):
        with open(DATA / "stsbenchmark" / f"sts-{split}.csv", encoding="utf-8") as handle:
            for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                texts += row[5:7]
    for path in sorted((DATA / "mrpc").glob("*.txt")):
        for row in tsv_rows(path)[1:]:
            texts += row[3:5]
    for path in sorted((DATA / "wikiqa").rglob("*")):
        if path.is_file() and path.suffix in (".tsv", ".txt"):
            for row in tsv_rows(path):
                texts += [cell for cell in row if len(cell.split()) > 3]
    for path in sorted((DATA / "tatoeba").glob("*.eng")):
        texts += read_lines(path)
    return [text for text in dict.fromkeys(texts) if text]


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8-sig").splitlines()


def tsv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(read_lines(path), delimiter="\t", quoting=csv.QUOTE_NONE))


def real_embeddings(cache: str | None) -> np.ndarray:
    if cache and Path(cache).is_file():
        return np.load(cache)
    model = SentenceTransformer(str(minilm_l6_folder()), device="cpu")
    vectors = model.encode(real_texts(), batch_size=128, normalize_embeddings=True, show_progress_bar=True)
    if cache:
        np.save(cache, vectors)
    return vectors


def mixtures(real: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` rows between random pairs of real rows, with noise (see the module docstring)."""
    rows = np.empty((count, real.shape[1]), dtype=np.float32)
    for start in range(0, count, 100_000):
        n = min(100_000, count - start)
        first, second = real[rng.integers(0, len(real), n)], real[rng.integers(0, len(real), n)]
        noise = rng.normal(size=(n, real.shape[1])).astype(np.float32)
        noise *= 0.35 / np.linalg.norm(noise, axis=1, keepdims=True)
        mixed = rng.uniform(0.5, 1, (n, 1)) * first + rng.uniform(0, 0.5, (n, 1)) * second + noise
        rows[start : start + n] = mixed / np.linalg.norm(mixed, axis=1, keepdims=True)
    return rows


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def one_at_a_time(store: EmbeddingStore, queries: np.ndarray, **options) -> tuple[list[list], float]:
    """Hits and median milliseconds per query, searching one query per call."""
    hits, times = [], []
    for query in queries:
        start = time.perf_counter()
        hits.append([hit["corpus_id"] for hit in store.search(query[None], top_k=10, **options)[0]])
        times.append(time.perf_counter() - start)
    return hits, 1000 * float(np.median(times))


def recall(found: list[list], exact: list[list]) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, exact, strict=True)]))


def corpus_rows(rows: int, real: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """The corpus of `rows` rows (the real rows, then mixtures) and one `bucket` in 0..99 per row, the same on
    every run."""
    rng = np.random.default_rng(rows)
    corpus = np.concatenate([real, mixtures(real, max(rows - len(real), 0), rng)])[:rows]
    return corpus, [{"bucket": int(bucket)} for bucket in rng.integers(0, 100, rows)]


def open_or_build(path: Path, corpus: np.ndarray, metadata: list[dict], args) -> EmbeddingStore:
    """The store at `path` with its HNSW graph: opened when an earlier run kept it (`--keep`), else written and
    indexed here, with the time and memory each step took."""
    if (path / "manifest.json").is_file():
        print(f"\n{len(corpus):,} rows: store and HNSW graph kept from an earlier run at {path}")
        return EmbeddingStore.open(path)
    start = time.perf_counter()
    store = EmbeddingStore.create(path, corpus, metadata=metadata)
    print(
        f"\n{len(corpus):,} rows: store written in {time.perf_counter() - start:.1f} s, peak RSS {peak_rss_gb():.2f} GB"
    )
    start = time.perf_counter()
    store.build_index("hnsw", connectivity=args.connectivity)
    built = time.perf_counter() - start
    size = (store.path / store.manifest.index["file"]).stat().st_size / 2**30
    print(f"  HNSW (connectivity {args.connectivity}) built in {built:.1f} s, {size:.2f} GB on disk, "
          f"peak RSS {peak_rss_gb():.2f} GB")  # fmt: skip
    return store


def run(rows: int, real: np.ndarray, queries: np.ndarray, args, folder: Path) -> None:
    corpus, metadata = corpus_rows(rows, real)
    store = open_or_build(folder / f"store-{rows}", corpus, metadata, args)
    queries = queries[: args.exact_queries]
    exact, exact_ms = one_at_a_time(store, queries, exact=True)
    print(f"  exact scan (today's store search, float32): {exact_ms:.2f} ms/query over {len(queries)} queries")
    for expansion in args.expansion_search:
        found, ann_ms = one_at_a_time(store, queries, expansion_search=expansion)
        print(f"  HNSW expansion_search {expansion}: {ann_ms:.3f} ms/query ({exact_ms / ann_ms:.1f}x faster), "
              f"recall@10 {recall(found, exact):.4f}")  # fmt: skip
    conditions = {"bucket": 7}  # 1% of the rows
    matching = np.flatnonzero([meta["bucket"] == 7 for meta in metadata])
    filtered, filter_ms = one_at_a_time(store, queries[:100], filter=conditions)
    scores = queries[:100] @ corpus[matching].T
    truth = [matching[np.argsort(-row, kind="stable")[:10]].tolist() for row in scores]
    full = all(len(hits) == 10 for hits in filtered)
    print(f"  filter keeping 1% ({len(matching):,} rows): {filter_ms:.2f} ms/query, "
          f"recall@10 against brute force {recall(filtered, truth):.4f}, every top-10 full: {full}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--connectivity", type=int, default=16)
    parser.add_argument("--expansion-search", type=int, nargs="+", default=[64, 128, 256],
                        help="search-time graph widths to compare on the same graph")  # fmt: skip
    parser.add_argument("--exact-queries", type=int, default=None, help="how many queries to time (default all)")
    parser.add_argument("--keep", help="a folder to keep the stores in, and to reuse them from on the next run")
    parser.add_argument("--cache", help="a .npy file for the real embeddings (encoded once)")
    args = parser.parse_args()
    real = real_embeddings(args.cache)
    rng = np.random.default_rng(0)
    held_out = rng.permutation(len(real))
    queries = mixtures(real[held_out[: args.queries]], args.queries, rng)
    real = real[held_out[args.queries :]]
    print(f"{len(real):,} real rows, {args.queries} queries")
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        for rows in args.rows:
            run(rows, real, queries, args, Path(args.keep))
        return
    with tempfile.TemporaryDirectory() as folder:
        for rows in args.rows:
            run(rows, real, queries, args, Path(folder))


if __name__ == "__main__":
    main()
