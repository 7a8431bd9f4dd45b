"""Helpers people import as `sentence_transformers.util`: similarity functions and embedding tools."""

from sentembed.search import (
    community_detection,
    mine_hard_negatives,
    paraphrase_mining,
    paraphrase_mining_embeddings,
    semantic_search,
)
from sentembed.similarity.functions import (
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    normalize_embeddings,
    pairwise_cos_sim,
    pairwise_dot_score,
    pairwise_euclidean_sim,
    pairwise_manhattan_sim,
    truncate_embeddings,
)

__all__ = [
    "community_detection",
    "mine_hard_negatives",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "semantic_search",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "normalize_embeddings",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "truncate_embeddings",
]
