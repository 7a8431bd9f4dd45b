"""SciFact data, cached embeddings and an NDCG@10 scorer shared by the search tests."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA

SCIFACT = DATA / "scifact"
SCIFACT_1K = DATA / "scifact_1k"


def read_beir(folder: Path) -> tuple[list[str], list[str], list[str], list[str], dict[str, set[str]]]:
    """(doc ids, doc texts `title + " " + text`, query ids, query texts, relevant doc ids per query): test split."""
    qrels: dict[str, set[str]] = {}
    with open(folder / "qrels" / "test.tsv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(row["query-id"], set()).add(row["corpus-id"])
    docs = read_jsonl(folder / "corpus.jsonl")
    queries = read_jsonl(folder / "queries.jsonl")
    queries = [query for query in queries if query["_id"] in qrels]
    return (
        [doc["_id"] for doc in docs],
        [doc["title"] + " " + doc["text"] for doc in docs],
        [query["_id"] for query in queries],
        [query["text"] for query in queries],
        qrels,
    )


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def ndcg_at_10(hits_per_query, doc_ids: list[str], query_ids: list[str], qrels: dict[str, set[str]]) -> float:
    """Mean NDCG@10 with binary relevance; `hits_per_query` holds `{"corpus_id": position or stored id}` lists."""
    total = 0.0
    for query_id, hits in zip(query_ids, hits_per_query):
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
        self.doc_ids, self.doc_texts, self.query_ids, self.query_texts, self.qrels = read_beir(folder)
        self.docs = cached_encode(model, self.doc_texts, f"{folder.name}-docs")
        self.queries = cached_encode(model, self.query_texts, f"{folder.name}-queries")

    def ndcg(self, hits_per_query) -> float:
        return ndcg_at_10(hits_per_query, self.doc_ids, self.query_ids, self.qrels)


@pytest.fixture(scope="session")
def scifact_1k(minilm_l6) -> EncodedBeir:
    return EncodedBeir(SCIFACT_1K, minilm_l6)


@pytest.fixture(scope="session")
def scifact(minilm_l6) -> EncodedBeir:
    return EncodedBeir(SCIFACT, minilm_l6)


@pytest.fixture(scope="session")
def sts_embeddings(minilm_l6, sts_sentences) -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings of the distinct STSb test sentences."""
    return minilm_l6.encode(sts_sentences, batch_size=64, convert_to_numpy=True)
