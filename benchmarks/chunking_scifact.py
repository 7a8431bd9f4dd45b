"""SciFact retrieval with long documents chunked, against truncating them (all-MiniLM-L6-v2, 256 tokens).

Builds stores of the 5,183 SciFact abstracts: truncated (one row per document, cut at max_seq_length),
chunked (document hits from their best chunk), and one vector per document pooled from its chunks
(`encode(..., chunking=...)`), and late chunking (chunk vectors pooled from token embeddings of 512-token
windows). Prints NDCG@10 on the 300 test queries and build times.
Run: .venv/bin/python benchmarks/chunking_scifact.py [--configs truncate chunk254 chunk128o32 pooled254 ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.data import read_beir_lists  # noqa: E402
from tests.support.retrieval import SCIFACT, ndcg_at_10  # noqa: E402

from sentembed import SentenceTransformer  # noqa: E402
from sentembed.cache import EmbeddingCache  # noqa: E402
from sentembed.chunking import Chunking, chunk_texts  # noqa: E402
from sentembed.store import EmbeddingStore  # noqa: E402
from sentembed.util import cos_sim, semantic_search  # noqa: E402

CONFIGS = {
    "truncate": {},
    "chunk254": {"chunk_tokens": 254, "chunk_overlap": 0},
    "chunk128o32": {"chunk_tokens": 128, "chunk_overlap": 32},
    "pooled254": {"pooled": {"chunk_tokens": 254}},
    "pooled128o32": {"pooled": {"chunk_tokens": 128, "overlap": 32}},
    "late128": {"late": 128},
}


def late_chunk_hits(model, doc_texts, doc_ids, queries, chunk_tokens: int) -> list[list[dict]]:
    """Late chunking: token embeddings over windows as long as the model's position table allows (512), each
    chunk's vector the mean of its tokens' embeddings there; a document scores by its best chunk."""
    transformer = model[0]
    saved, transformer.max_seq_length = transformer.max_seq_length, transformer.model_limit
    try:
        windows = chunk_texts(doc_texts, model, Chunking(chunk_tokens=None))
        window_texts = [window.text for chunks in windows for window in chunks]
        owners = [doc for doc, chunks in enumerate(windows) for _ in chunks]
        tokens = model.encode(window_texts, output_value="token_embeddings", batch_size=16)
    finally:
        transformer.max_seq_length = saved
    vectors, vector_docs = [], []
    for owner, rows in zip(owners, tokens, strict=True):
        body = rows[1:-1]  # without [CLS] and [SEP]
        for start in range(0, len(body), chunk_tokens):
            vectors.append(body[start : start + chunk_tokens].mean(dim=0))
            vector_docs.append(owner)
    scores = cos_sim(queries, torch.stack(vectors))
    best = torch.full((len(queries), len(doc_texts)), -2.0).scatter_reduce(
        1, torch.tensor(vector_docs).expand_as(scores), scores, "amax"
    )
    values, indices = best.topk(10, dim=1)
    return [
        [{"corpus_id": doc_ids[index], "score": value} for index, value in zip(row_indices, row_values, strict=True)]
        for row_indices, row_values in zip(indices.tolist(), values.tolist(), strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()
    doc_ids, doc_texts, query_ids, query_texts, qrels = read_beir_lists(SCIFACT)
    model = SentenceTransformer("all-MiniLM-L6-v2", device="cpu")
    rows, truncated = model[0].tokenize_unpadded(doc_texts)
    print(
        f"{len(doc_texts)} documents, {truncated} longer than {model.max_seq_length} tokens; {len(query_texts)} queries"
    )
    queries = model.encode(query_texts, normalize_embeddings=True, convert_to_tensor=True)
    with tempfile.TemporaryDirectory() as folder:
        cache = EmbeddingCache(Path(folder) / "cache.db")  # the pooled runs reuse the chunked runs' vectors
        for name in args.configs:
            options = dict(CONFIGS[name])
            start = time.perf_counter()
            if "late" in options:
                hits = late_chunk_hits(model, doc_texts, doc_ids, queries, options["late"])
                rows_stored = len(doc_texts)
            elif "pooled" in options:
                documents = model.encode(
                    doc_texts,
                    chunking=options["pooled"],
                    normalize_embeddings=True,
                    convert_to_tensor=True,
                    cache=cache,
                )
                hits = semantic_search(queries, documents, top_k=10)
                hits = [[{**hit, "corpus_id": doc_ids[hit["corpus_id"]]} for hit in row] for row in hits]
                rows_stored = len(doc_texts)
            else:
                store = EmbeddingStore.build(
                    Path(folder) / name, model, doc_texts, ids=doc_ids, show_progress_bar=False, cache=cache, **options
                )
                hits = store.search(queries.numpy(), top_k=10)
                rows_stored = len(store)
            seconds = time.perf_counter() - start
            score = ndcg_at_10(hits, doc_ids, query_ids, qrels)
            print(f"{name:<14} NDCG@10 {score:.4f}  rows {rows_stored:>6}  {seconds:6.1f} s", flush=True)


if __name__ == "__main__":
    main()
