"""SciFact retrieval in every search mode of an EmbeddingStore: dense, BM25 (lexical) and hybrid (RRF and weighted).

all-MiniLM-L6-v2, the 5,183 SciFact abstracts (`title + " " + text`) and the 300 test queries; NDCG@10. Builds a
store with `lexical=True` (one row per document, truncated at 256 tokens) and, with `--chunked`, a store of
128-token chunks with 32 tokens of overlap, searched by documents in every mode. `--cache FILE` keeps the
embeddings in an EmbeddingCache so that a second run does not encode again. It is a quality figure, not a timing.
Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/hybrid_scifact.py [--chunked] [--cache FILE]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.data import read_beir_lists  # noqa: E402
from tests.support.paths import minilm_l6_folder  # noqa: E402
from tests.support.retrieval import SCIFACT, ndcg_at_10  # noqa: E402

from sentembed import SentenceTransformer  # noqa: E402
from sentembed.cache import EmbeddingCache  # noqa: E402
from sentembed.store import EmbeddingStore  # noqa: E402

SEARCHES = {
    "dense": {"mode": "dense"},
    "lexical (BM25)": {"mode": "lexical"},
    "hybrid, RRF k=60": {"mode": "hybrid"},
    "hybrid, weighted (1, 1)": {"mode": "hybrid", "fusion": "weighted"},
}


def evaluate(store: EmbeddingStore, model, queries: list[str], doc_ids, query_ids, qrels) -> dict[str, float]:
    results = {}
    for name, options in SEARCHES.items():
        hits = store.search(queries, top_k=10, model=model, **options)
        results[name] = ndcg_at_10(hits, doc_ids, query_ids, qrels)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunked", action="store_true", help="also a store of 128-token chunks, overlap 32")
    parser.add_argument("--cache", help="an EmbeddingCache file for the document and query embeddings")
    args = parser.parse_args()
    doc_ids, doc_texts, query_ids, query_texts, qrels = read_beir_lists(SCIFACT)
    model = SentenceTransformer(str(minilm_l6_folder()), device="cpu")
    cache = EmbeddingCache(args.cache) if args.cache else None
    configs = {"one row per document": {}}
    if args.chunked:
        configs["chunks of 128 tokens, overlap 32"] = {"chunk_tokens": 128, "chunk_overlap": 32}
    with tempfile.TemporaryDirectory() as folder:
        for label, chunking in configs.items():
            start = time.perf_counter()
            store = EmbeddingStore.build(
                Path(folder) / label.replace(" ", "-"), model, doc_texts, ids=doc_ids, lexical=True,
                batch_size=64, cache=cache, show_progress_bar=False, **chunking,
            )  # fmt: skip
            built = time.perf_counter() - start
            print(f"{label}: {store.count} rows, built in {built:.0f} s")
            for name, ndcg in evaluate(store, model, query_texts, doc_ids, query_ids, qrels).items():
                print(f"  {name:<26} NDCG@10 {ndcg:.4f}")


if __name__ == "__main__":
    main()
