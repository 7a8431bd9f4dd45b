"""Similarity scores between embeddings: all pairs (n, m) and in-order pairs (n,).

Higher always means closer, so the distance-based scores are negative distances. Scores are at least
float32 (half-precision products would round nearby scores into ties), inputs of different dtypes are
promoted to one, and torch sparse (COO) tensors are scored without densifying them where the products allow.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sentembed.common.checks import check_positive_int, tensor_matrix, to_tensor
from sentembed.common.types import ArrayLike


def _check_same_dim(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"embedding dimensions differ: {tuple(a.shape)} vs {tuple(b.shape)}")


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sides as 2-D tensors of one float dtype (at least float32) and one layout (sparse if either is)."""
    a, b = tensor_matrix(a, "the first embeddings"), tensor_matrix(b, "the second embeddings")
    _check_same_dim(a, b)
    dtype = torch.promote_types(torch.promote_types(a.dtype, b.dtype), torch.float32)
    a, b = a.to(dtype), b.to(dtype)
    if a.is_sparse != b.is_sparse:
        a, b = (a, b.to_sparse()) if a.is_sparse else (a.to_sparse(), b)
    return a, b


def _normalize_rows(embeddings: torch.Tensor) -> torch.Tensor:
    """Each row of a 2-D tensor, dense or sparse, scaled to unit length (all-zero rows stay zero)."""
    if not embeddings.is_sparse:
        return F.normalize(embeddings, p=2, dim=1)
    embeddings = embeddings.coalesce()
    indices, values = embeddings.indices(), embeddings.values()
    squares = values.new_zeros(embeddings.shape[0]).index_add_(0, indices[0], values**2)
    norms = squares.sqrt().clamp(min=1e-12).index_select(0, indices[0])
    # The indices are a coalesced tensor's own, so they need no checking.
    return torch.sparse_coo_tensor(indices, values / norms, embeddings.shape, check_invariants=False, is_coalesced=True)


def _dense(scores: torch.Tensor) -> torch.Tensor:
    return scores.to_dense() if scores.is_sparse else scores


def normalize_embeddings(embeddings: ArrayLike) -> torch.Tensor:
    """L2-normalise each row (a sparse tensor stays sparse).

    Args:
        embeddings: Embeddings of shape (n, dim), or one of shape (dim,): a tensor, a numpy array or a list.

    Returns:
        A float tensor of shape (n, dim) whose rows have length 1 (all-zero rows stay zero).

    Raises:
        TypeError: Embeddings that are not a tensor, an array or a list.
        ValueError: Embeddings of more than 2 dimensions.
    """
    return _normalize_rows(tensor_matrix(embeddings, "embeddings"))


def truncate_embeddings(embeddings: ArrayLike, truncate_dim: int | None) -> ArrayLike:
    """Keep the first `truncate_dim` dimensions (Matryoshka truncation).

    Args:
        embeddings: One embedding or a batch of them: a tensor, a numpy array or a list (made a tensor).
        truncate_dim: How many leading dimensions to keep; None keeps all.

    Returns:
        A view of the embeddings' first `truncate_dim` dimensions (the embeddings themselves for None).
    """
    if truncate_dim is None:
        return embeddings
    if isinstance(embeddings, list):
        embeddings = to_tensor(embeddings)
    return embeddings[..., :truncate_dim]


def select_max_active_dims(embeddings: ArrayLike, max_active_dims: int | None) -> ArrayLike:
    """Keep each embedding's `max_active_dims` largest values by magnitude (signs kept) and zero the rest.

    Args:
        embeddings: one embedding (1-D) or a batch of them, as a tensor, numpy array or list.
        max_active_dims: how many values to keep per embedding (all of them when it exceeds the dimension);
            None returns `embeddings` itself, unchanged.

    Returns:
        A new tensor of the input's dtype; the input is never modified.
    """
    if max_active_dims is None:
        return embeddings
    max_active_dims = check_positive_int(max_active_dims, "max_active_dims")
    tensor = to_tensor(embeddings)
    kept = min(max_active_dims, tensor.shape[-1])
    positions = tensor.abs().topk(kept, dim=-1).indices
    return torch.zeros_like(tensor).scatter(-1, positions, tensor.gather(-1, positions))


def cos_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Cosine similarity of every row of `a` with every row of `b`: shape (n, m).

    Args:
        a: Embeddings of shape (n, dim), or one of shape (dim,): a tensor (dense or sparse COO), a numpy array
            or a list.
        b: Embeddings of shape (m, dim), or one of shape (dim,), in the same forms.

    Returns:
        A float tensor of shape (n, m), at least float32: entry (i, j) is cos(a[i], b[j]), in [-1, 1].

    Raises:
        TypeError: Embeddings that are not a tensor, an array or a list.
        ValueError: Embeddings of more than 2 dimensions, or `a` and `b` of different dimensions.
    """
    a, b = _pair(a, b)
    return _dense(torch.mm(_normalize_rows(a), _normalize_rows(b).t()))


def dot_score(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Dot product of every row of `a` with every row of `b`: shape (n, m).

    Args:
        a: Embeddings of shape (n, dim), or one of shape (dim,): a tensor (dense or sparse COO), a numpy array
            or a list.
        b: Embeddings of shape (m, dim), or one of shape (dim,), in the same forms.

    Returns:
        A float tensor of shape (n, m), at least float32: entry (i, j) is a[i] . b[j].

    Raises:
        TypeError: Embeddings that are not a tensor, an array or a list.
        ValueError: Embeddings of more than 2 dimensions, or `a` and `b` of different dimensions.
    """
    a, b = _pair(a, b)
    return _dense(torch.mm(a, b.t()))


def euclidean_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Negative Euclidean distance between every pair of rows: shape (n, m).

    Args:
        a: Embeddings of shape (n, dim), or one of shape (dim,): a tensor (dense or sparse COO), a numpy array
            or a list.
        b: Embeddings of shape (m, dim), or one of shape (dim,), in the same forms.

    Returns:
        A float tensor of shape (n, m), at least float32: entry (i, j) is -||a[i] - b[j]||, so higher means closer.

    Raises:
        TypeError: Embeddings that are not a tensor, an array or a list.
        ValueError: Embeddings of more than 2 dimensions, or `a` and `b` of different dimensions.
    """
    a, b = _pair(a, b)
    if a.is_sparse:
        squares_a = _dense(torch.sparse.sum(a * a, dim=1)).unsqueeze(1)
        squares_b = _dense(torch.sparse.sum(b * b, dim=1)).unsqueeze(0)
        return -(squares_a - 2 * _dense(torch.mm(a, b.t())) + squares_b).clamp(min=0).sqrt()
    return -torch.cdist(a, b, p=2.0)


def manhattan_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Negative Manhattan distance between every pair of rows: shape (n, m).

    Args:
        a: Embeddings of shape (n, dim), or one of shape (dim,): a tensor (dense or sparse COO), a numpy array
            or a list.
        b: Embeddings of shape (m, dim), or one of shape (dim,), in the same forms.

    Returns:
        A float tensor of shape (n, m), at least float32: entry (i, j) is -|a[i] - b[j]|_1, so higher means closer.

    Raises:
        TypeError: Embeddings that are not a tensor, an array or a list.
        ValueError: Embeddings of more than 2 dimensions, or `a` and `b` of different dimensions.
    """
    a, b = _pair(a, b)
    if a.is_sparse:
        return -_sparse_manhattan_distances(a.coalesce(), b.coalesce())
    return -torch.cdist(a, b, p=1.0)


def _sparse_manhattan_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """All-pairs L1 distances of sparse rows, one row of `a` at a time, reading only the columns it holds:
    |a_i - b_j|_1 = |b_j|_1 + sum over a_i's columns k of (|a_ik - b_jk| - |b_jk|)."""
    b_totals = _dense(torch.sparse.sum(b.abs(), dim=1)) if b._nnz() else b.new_zeros(b.shape[0]).to_dense()
    indices, values = a.indices(), a.values()
    distances = b_totals.repeat(a.shape[0], 1)
    for row in range(a.shape[0]):
        held = indices[0] == row
        columns = _dense(b.index_select(1, indices[1][held]))
        distances[row] += ((values[held] - columns).abs() - columns.abs()).sum(dim=1)
    return distances


def _rowwise(a: ArrayLike, b: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _pair(a, b)
    if a.shape != b.shape:
        raise ValueError(f"pairwise scores need equal shapes: {tuple(a.shape)} vs {tuple(b.shape)}")
    return a, b


def pairwise_cos_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Cosine similarity of row i of `a` with row i of `b`: shape (n,).

    Args:
        a: Embeddings of shape (n, dim): a tensor (dense or sparse COO), a numpy array or a list.
        b: Embeddings of the same shape as `a`.

    Returns:
        A float tensor of shape (n,), at least float32: entry i is cos(a[i], b[i]), in [-1, 1].

    Raises:
        TypeError: Embeddings that are not a tensor, an array or a list.
        ValueError: `a` and `b` of different shapes.
    """
    a, b = _rowwise(a, b)
    return _dense((_normalize_rows(a) * _normalize_rows(b)).sum(dim=-1))


def pairwise_dot_score(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Dot product of row i of `a` with row i of `b`: shape (n,).

    Args:
        a: Embeddings of shape (n, dim): a tensor (dense or sparse COO), a numpy array or a list.
        b: Embeddings of the same shape as `a`.

    Returns:
        A float tensor of shape (n,), at least float32: entry i is a[i] . b[i].

    Raises:
        TypeError: Embeddings that are not a tensor, an array or a list.
        ValueError: `a` and `b` of different shapes.
    """
    a, b = _rowwise(a, b)
    return _dense((a * b).sum(dim=-1))


def pairwise_euclidean_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Negative Euclidean distance of row i of `a` to row i of `b`: shape (n,).

    Args:
        a: Embeddings of shape (n, dim): a tensor (dense or sparse COO), a numpy array or a list.
        b: Embeddings of the same shape as `a`.

    Returns:
        A float tensor of shape (n,), at least float32: entry i is -||a[i] - b[i]||.

    Raises:
        TypeError: Embeddings that are not a tensor, an array or a list.
        ValueError: `a` and `b` of different shapes.
    """
    a, b = _rowwise(a, b)
    return -_dense(((a - b) ** 2).sum(dim=-1)).sqrt()


def pairwise_manhattan_sim(a: ArrayLike, b: ArrayLike) -> torch.Tensor:
    """Negative Manhattan distance of row i of `a` to row i of `b`: shape (n,).

    Args:
        a: Embeddings of shape (n, dim): a tensor (dense or sparse COO), a numpy array or a list.
        b: Embeddings of the same shape as `a`.

    Returns:
        A float tensor of shape (n,), at least float32: entry i is -|a[i] - b[i]|_1.

    Raises:
        TypeError: Embeddings that are not a tensor, an array or a list.
        ValueError: `a` and `b` of different shapes.
    """
    a, b = _rowwise(a, b)
    return -_dense((a - b).abs().sum(dim=-1))
