"""Scores on the shared benchmarks: NDCG@10 over a BEIR test set encoded once, WikiQA MAP for re-rankers, and
STSb test Spearman."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from tests.support.data import group_by_question, read_beir_lists, read_sts
from tests.support.paths import DATA

SCIFACT = DATA / "scifact"
SCIFACT_1K = DATA / "scifact_1k"


def ndcg_at_10(hits_per_query, doc_ids: list[str], query_ids: list[str], qrels: dict[str, set[str]]) -> float:
    """Mean NDCG@10 with binary relevance; `hits_per_query` holds `{"corpus_id": position or stored id}` lists."""
    total = 0.0
    for query_id, hits in zip(query_ids, hits_per_query, strict=True):
        relevant = qrels[query_id]
        found = [_doc_id(hit["corpus_id"], doc_ids) in relevant for hit in hits[:10]]
        dcg = sum(1 / math.log2(rank + 2) for rank, is_relevant in enumerate(found) if is_relevant)
        ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), 10)))
        total += dcg / ideal
    return total / len(query_ids)


def _doc_id(corpus_id, doc_ids: list[str]) -> str:
    return corpus_id if isinstance(corpus_id, str) else doc_ids[corpus_id]


def cached_encode(model, texts: list[str], name: str) -> np.ndarray:
    """Encode texts; with SENTEMBED_EMBEDDING_CACHE set, keep them there across sessions (for local runs)."""
    cache = os.environ.get("SENTEMBED_EMBEDDING_CACHE")
    path = Path(cache) / f"{name}-{len(texts)}.npy" if cache else None
    if path is not None and path.is_file():
        return np.load(path, allow_pickle=False)
    embeddings = model.encode(texts, batch_size=64, convert_to_numpy=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, embeddings, allow_pickle=False)
    return embeddings


class EncodedBeir:
    """A BEIR test set with its documents and queries encoded once."""

    def __init__(self, folder: Path, model) -> None:
        self.doc_ids, self.doc_texts, self.query_ids, self.query_texts, self.qrels = read_beir_lists(folder)
        self.docs = cached_encode(model, self.doc_texts, f"{folder.name}-docs")
        self.queries = cached_encode(model, self.query_texts, f"{folder.name}-queries")

    def ndcg(self, hits_per_query) -> float:
        return ndcg_at_10(hits_per_query, self.doc_ids, self.query_ids, self.qrels)


def mean_average_precision(rows: list[tuple[str, str, int]], scores: np.ndarray) -> float:
    """WikiQA MAP, the usual way: over questions with both right and wrong candidates, ranked by score."""
    precisions = []
    for indices in group_by_question(rows).values():
        labels = [rows[index][2] for index in sorted(indices, key=lambda index: -scores[index])]
        if all(labels) or not any(labels):
            continue
        hits, total = 0, 0.0
        for position, label in enumerate(labels, start=1):
            if label:
                hits += 1
                total += hits / position
        precisions.append(total / hits)
    return float(np.mean(precisions))


def sts_spearman(model, **encode_options) -> float:
    """STSb test Spearman of the cosine similarity of each pair's embeddings."""
    from scipy.stats import spearmanr

    first, second, gold = read_sts("test")
    a = model.encode(first, **encode_options)
    b = model.encode(second, **encode_options)
    cosine = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return spearmanr(gold, cosine).statistic
