"""Similarity scores between embeddings: all pairs (n, m) and in-order pairs (n,).

Higher always means closer, so the distance-based scores are negative distances.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sentembed.common.checks import tensor_matrix, to_tensor
from sentembed.common.types import ArrayLike


def _check_same_dim(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"embedding dimensions differ: {tuple(a.shape)} vs {tuple(b.shape)}")


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = tensor_matrix(a, "the first embeddings"), tensor_matrix(b, "the second embeddings")
    _check_same_dim(a, b)
    if b.dtype != a.dtype:
        b = b.to(a.dtype)
    return a, b


def normalize_embeddings(embeddings: ArrayLike) -> torch.Tensor:
    """L2-normalise each row."""
    return F.normalize(tensor_matrix(embeddings, "embeddings"), p=2, dim=1)


def truncate_embeddings(embeddings: ArrayLike, truncate_dim: int | None) -> ArrayLike:
    """Keep the first `truncate_dim` dimensions (Matryoshka truncation); None keeps all."""
    if truncate_dim is None:
        return embeddings
    if isinstance(embeddings, list):
        embeddings = to_tensor(embeddings)
    return embeddings[..., :truncate_dim]


def cos_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Cosine similarity of every row of `a` with every row of `b`: shape (n, m)."""
    a, b = _pair(a, b)
    return torch.mm(F.normalize(a, p=2, dim=1), F.normalize(b, p=2, dim=1).T)


def dot_score(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Dot product of every row of `a` with every row of `b`: shape (n, m)."""
    a, b = _pair(a, b)
    return torch.mm(a, b.T)


def euclidean_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Negative Euclidean distance between every pair of rows: shape (n, m)."""
    a, b = _pair(a, b)
    return -torch.cdist(a, b, p=2.0)


def manhattan_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Negative Manhattan distance between every pair of rows: shape (n, m)."""
    a, b = _pair(a, b)
    return -torch.cdist(a, b, p=1.0)


def _rowwise(a: ArrayLike, b: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _pair(a, b)
    if a.shape != b.shape:
        raise ValueError(f"pairwise scores need equal shapes: {tuple(a.shape)} vs {tuple(b.shape)}")
    return a, b


def pairwise_cos_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Cosine similarity of row i of `a` with row i of `b`: shape (n,)."""
    a, b = _rowwise(a, b)
    return (F.normalize(a, p=2, dim=1) * F.normalize(b, p=2, dim=1)).sum(dim=-1)


def pairwise_dot_score(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Dot product of row i of `a` with row i of `b`: shape (n,)."""
    a, b = _rowwise(a, b)
    return (a * b).sum(dim=-1)


def pairwise_euclidean_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Negative Euclidean distance of row i of `a` to row i of `b`: shape (n,)."""
    a, b = _rowwise(a, b)
    return -torch.sqrt(((a - b) ** 2).sum(dim=-1))


def pairwise_manhattan_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Negative Manhattan distance of row i of `a` to row i of `b`: shape (n,)."""
    a, b = _rowwise(a, b)
    return -(a - b).abs().sum(dim=-1)
