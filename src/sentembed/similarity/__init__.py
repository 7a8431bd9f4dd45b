"""Similarity scores between embeddings, and the `SimilarityFunction` names."""

from sentembed.similarity._functions import (
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    normalize_embeddings,
    pairwise_cos_sim,
    pairwise_dot_score,
    pairwise_euclidean_sim,
    pairwise_manhattan_sim,
    select_max_active_dims,
    truncate_embeddings,
)
from sentembed.similarity._kind import SimilarityFunction, SimilarityName
from sentembed.similarity._multi_vector import maxsim, maxsim_pairwise, mean_maxsim, mean_maxsim_pairwise

__all__ = [
    "SimilarityFunction",
    "SimilarityName",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "maxsim",
    "maxsim_pairwise",
    "mean_maxsim",
    "mean_maxsim_pairwise",
    "normalize_embeddings",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "select_max_active_dims",
    "truncate_embeddings",
]
