"""Community detection: groups of embeddings that lie close to a central one."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from sentembed.common.checks import check_finite, check_positive_int, tensor_matrix
from sentembed.common.types import ArrayLike


def community_detection(
    embeddings: ArrayLike,
    threshold: float = 0.75,
    min_community_size: int = 10,
    batch_size: int = 1024,
    show_progress_bar: bool = False,
) -> list[list[int]]:
    """Group embeddings into communities: points whose cosine similarity to a central point reaches `threshold`.

    Communities do not overlap: the largest is taken first, and a later one keeps only points not yet taken
    (and is dropped if fewer than `min_community_size` remain).

    Args:
        embeddings: The points, shape (n, dim): a tensor, a numpy array or a list.
        threshold: The cosine similarity (in [-1, 1]) a member needs to the community's centre. Default 0.75.
        min_community_size: The fewest points a community may have, centre included (a positive int).
            Default 10.
        batch_size: Rows of the similarity matrix computed at once (a positive int). Default 1024.
        show_progress_bar: Show progress over those batches. Default False.

    Returns:
        The communities, largest first, each a list of row indices: its central point first, then the
        members by decreasing similarity to it.

    Raises:
        TypeError: Embeddings that are not a tensor, an array or a list.
        ValueError: A `min_community_size` or `batch_size` that is not a positive int, or embeddings that are
            not finite or not 2-D.
    """
    check_positive_int(min_community_size, "min_community_size")
    check_positive_int(batch_size, "batch_size")
    matrix = tensor_matrix(embeddings, "embeddings")
    if len(matrix) < min_community_size:
        return []
    check_finite(matrix, "embeddings")
    matrix = F.normalize(matrix, p=2, dim=1)
    candidates = _candidate_communities(matrix, threshold, min_community_size, batch_size, show_progress_bar)
    return _without_overlap(candidates, min_community_size, len(matrix))


def _candidate_communities(
    matrix: torch.Tensor, threshold: float, min_size: int, batch_size: int, show_progress_bar: bool
) -> list[tuple[int, np.ndarray]]:
    """For every point with at least `min_size` neighbours above threshold: (centre, neighbours best first)."""
    limit = torch.tensor(threshold, dtype=matrix.dtype, device=matrix.device)
    candidates = []
    starts = range(0, len(matrix), batch_size)
    for start in tqdm(starts, desc="Finding communities", disable=not show_progress_bar):
        scores = matrix[start : start + batch_size] @ matrix.T
        close = scores >= limit
        for row in (close.sum(dim=1) >= min_size).nonzero().flatten().tolist():
            members = close[row].nonzero().flatten()
            order = torch.sort(scores[row, members], descending=True, stable=True).indices
            candidates.append((start + row, members[order].cpu().numpy()))
    return candidates


def _without_overlap(candidates: list[tuple[int, np.ndarray]], min_size: int, n: int) -> list[list[int]]:
    """Claim points greedily, largest candidate first; a community keeps only unclaimed points."""
    candidates.sort(key=lambda candidate: len(candidate[1]), reverse=True)
    claimed = np.zeros(n, dtype=bool)
    communities = []
    for centre, members in candidates:
        if claimed[centre]:
            continue
        free = members[~claimed[members]]
        if len(free) >= min_size:
            community = [centre, *free[free != centre].tolist()]
            communities.append(community)
            claimed[community] = True
    communities.sort(key=len, reverse=True)
    return communities
