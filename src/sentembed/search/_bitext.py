"""Translated-sentence (bitext) mining: margin-scored nearest neighbours in both directions.

A pair's cosine is compared with how close each side is to its own k nearest neighbours (Artetxe and Schwenk,
2019), so that "hub" sentences close to everything do not win. Scores are computed one block at a time: memory
grows with the number of sentences, never with their product.
"""

from __future__ import annotations

import numbers
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from sentembed.common.checks import check_choice, check_finite, check_positive_int, check_text_list, tensor_matrix
from sentembed.common.protocols import EncoderModel
from sentembed.search._topk import check_same_dim, corpus_block_rows

MARGINS = ("ratio", "distance")
CANDIDATES = ("both", "forward", "backward", "mutual")
NeighbourLists = tuple[torch.Tensor, torch.Tensor]
# The rough float32 pass keeps this many candidates beyond k; any float32 block score is within
# ROUGH_SCORE_ERROR / 2 of the exact cosine (the error of a 384-term float32 dot product is ~1e-7).
CANDIDATE_SLACK = 8
ROUGH_SCORE_ERROR = 1e-4
EXACT_BLOCK_ROWS = 1024


def mine_translations(
    source: Any,
    target: Any,
    model: EncoderModel | None = None,
    k: int = 4,
    margin: Literal["ratio", "distance"] = "ratio",
    candidates: Literal["both", "forward", "backward", "mutual"] = "both",
    threshold: float | None = None,
    one_to_one: bool = True,
    chunk_size: int = 4096,
    batch_size: int = 32,
    show_progress_bar: bool = False,
) -> list[tuple[float, int, int]]:
    """`(score, source index, target index)` translation pairs, best first, mined by margin-scored k-NN.

    `source` and `target` are lists of sentences (encoded with `model`) or their embeddings. Each sentence's best
    partner among its `k` nearest neighbours is a candidate: source to target (`"forward"`), target to source
    (`"backward"`), the union (`"both"`) or the pairs found both ways (`"mutual"`). The score is the pair's cosine
    divided by (`"ratio"`) or minus (`"distance"`) the mean cosine of both sides to their `k` nearest neighbours.
    With `one_to_one`, each sentence is used once (greedily, best score first); pairs below `threshold` are dropped.

    Args:
        source: Sentences in one language (a list of strings), or their embeddings (n, dim).
        target: Sentences in the other language, or their embeddings (m, dim).
        model: The model to encode sentences with; needed only when sentences are given. Default None.
        k: Nearest neighbours per sentence, for the candidates and the margin (a positive int). Default 4.
        margin: "ratio" (default) or "distance": how the neighbourhoods' mean cosine corrects a pair's cosine.
        candidates: "both" (default), "forward", "backward" or "mutual": which nearest-neighbour directions
            propose pairs.
        threshold: Drop pairs scoring below this. Default None: keep all.
        one_to_one: Use each sentence in at most one pair. Default True.
        chunk_size: Rows scored at once in the nearest-neighbour search (a positive int). Default 4096.
        batch_size: Sentences per encoding batch (a positive int). Default 32.
        show_progress_bar: Show progress while encoding and searching. Default False.

    Returns:
        (score, source index, target index) tuples, best first.

    Raises:
        TypeError: A `threshold` that is not a number, a `one_to_one` that is not a bool, or sentences given
            without a model.
        ValueError: An unknown `margin` or `candidates`, a `k`, `chunk_size` or `batch_size` that is not a
            positive int, or embeddings of different dimensions or not finite.
    """
    check_positive_int(k, "k")
    check_choice(margin, MARGINS, "margin")
    check_choice(candidates, CANDIDATES, "candidates")
    check_positive_int(chunk_size, "chunk_size")
    check_positive_int(batch_size, "batch_size")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, numbers.Real)):
        raise TypeError(f"threshold must be a number or None, got {type(threshold).__name__}")
    if not isinstance(one_to_one, bool):
        raise TypeError(f"one_to_one must be a bool, got {type(one_to_one).__name__}")
    source_embeddings = _as_embeddings(source, model, "source", batch_size, show_progress_bar)
    target_embeddings = _as_embeddings(target, model, "target", batch_size, show_progress_bar).to(
        source_embeddings.device
    )
    if len(source_embeddings) == 0 or len(target_embeddings) == 0:
        return []
    check_same_dim(source_embeddings, target_embeddings)
    forward, backward = nearest_both_ways(source_embeddings, target_embeddings, k, chunk_size, show_progress_bar)
    scores, sources, targets = _candidate_pairs(forward, backward, margin, candidates)
    if one_to_one:
        keep = _one_to_one(sources, targets)
        scores, sources, targets = scores[keep], sources[keep], targets[keep]
    if threshold is not None:
        keep = scores >= threshold
        scores, sources, targets = scores[keep], sources[keep], targets[keep]
    return list(zip(scores.tolist(), sources.tolist(), targets.tolist(), strict=True))


def _as_embeddings(
    items: Any, model: EncoderModel | None, name: str, batch_size: int, show_progress_bar: bool
) -> torch.Tensor:
    """Sentences encoded by `model`, or embeddings as a finite 2-D tensor."""
    if _is_text_list(items):
        sentences = check_text_list(items, name)
        if model is None:
            raise TypeError(f"{name} holds sentences, so mine_translations needs a model to encode them")
        if not sentences:
            return torch.empty((0, 0))
        embeddings = model.encode(
            sentences, batch_size=batch_size, show_progress_bar=show_progress_bar, convert_to_tensor=True
        )
        return embeddings.detach()
    if isinstance(items, (list, tuple)) and len(items) == 0:
        return torch.empty((0, 0))
    matrix = tensor_matrix(items, name).detach()
    check_finite(matrix, name)
    return matrix


def _is_text_list(items: Any) -> bool:
    if isinstance(items, str):
        raise TypeError(f"expected a list of sentences or embeddings, got a single str {items[:40]!r}")
    if isinstance(items, np.ndarray):
        return items.dtype.kind in "USO"
    return isinstance(items, (list, tuple)) and len(items) > 0 and isinstance(items[0], str)


def nearest_both_ways(
    source: torch.Tensor, target: torch.Tensor, k: int, chunk_size: int = 4096, show_progress_bar: bool = False
) -> tuple[NeighbourLists, NeighbourLists]:
    """Cosine k-NN lists both ways: (scores, target indices) per source row, (scores, source indices) per target row.

    One pass over blocks of at most `chunk_size` x `chunk_size` (and 2^24) float32 scores finds a few more than k
    candidates both ways; their cosines are then recomputed exactly, one pair at a time, so that the lists (ordered
    by score, then lower index) and their scores do not depend on `chunk_size` or on the matrix library.
    """
    source_width, target_width = min(k + CANDIDATE_SLACK, len(target)), min(k + CANDIDATE_SLACK, len(source))
    forward, backward = _rough_lists(source, target, source_width, target_width, chunk_size, show_progress_bar)
    return _exact_lists(forward, source, target, k), _exact_lists(backward, target, source, k)


def _rough_lists(
    source: torch.Tensor, target: torch.Tensor, source_k: int, target_k: int, chunk_size: int, progress: bool
) -> tuple[NeighbourLists, NeighbourLists]:
    """Candidate k-NN lists from float32 blocks of scores, both directions in one pass, sorted by score (ties in
    any order: the exact pass settles them)."""
    rows = min(chunk_size, len(source))
    columns = corpus_block_rows(chunk_size, rows)
    target_values, target_indices = _empty_lists(len(target), target_k, source)
    forward_values, forward_indices = [], []
    for start in tqdm(range(0, len(source), rows), desc="Mining translations", disable=not progress):
        queries = F.normalize(source[start : start + rows], p=2, dim=1)
        best = _empty_lists(len(queries), source_k, source)
        for column in range(0, len(target), columns):
            scores = queries @ F.normalize(target[column : column + columns], p=2, dim=1).T
            values, indices = torch.topk(scores, min(source_k, scores.shape[1]), dim=1)
            best = _keep_best(best, (values, indices + column), source_k)
            values, indices = torch.topk(scores, min(target_k, scores.shape[0]), dim=0)
            block = slice(column, column + columns)
            old = (target_values[block], target_indices[block])
            target_values[block], target_indices[block] = _keep_best(old, (values.T, indices.T + start), target_k)
        forward_values.append(best[0])
        forward_indices.append(best[1])
    return (torch.cat(forward_values), torch.cat(forward_indices)), (target_values, target_indices)


def _keep_best(old: NeighbourLists, new: NeighbourLists, k: int) -> NeighbourLists:
    values = torch.cat([old[0], new[0]], dim=1)
    values, order = torch.topk(values, k, dim=1)
    return values, torch.cat([old[1], new[1]], dim=1).gather(1, order)


def _exact_lists(rough: NeighbourLists, queries: torch.Tensor, keys: torch.Tensor, k: int) -> NeighbourLists:
    """The k best of the rough candidates by exact cosine; rows whose candidates may have missed one (near-ties
    at the edge of the list) are rescanned exactly against every key."""
    rough_values, rough_indices = rough
    k = min(k, rough_indices.shape[1])
    query_norms, key_norms = _row_norms(queries), _row_norms(keys)
    values = torch.empty((len(queries), k), dtype=torch.float64, device=queries.device)
    indices = torch.empty((len(queries), k), dtype=torch.long, device=queries.device)
    for start in range(0, len(queries), EXACT_BLOCK_ROWS):
        block = slice(start, start + EXACT_BLOCK_ROWS)
        candidates = rough_indices[block]
        dots = _exact_dots(queries[block], keys[candidates])
        scores = dots / (query_norms[block, None] * key_norms[candidates])
        values[block], indices[block] = _stable_top_k(scores, candidates, k)
    if rough_indices.shape[1] < len(keys):
        unsure = rough_values[:, -1] >= rough_values[:, k - 1] - ROUGH_SCORE_ERROR
        for row in unsure.nonzero().flatten().tolist():
            values[row], indices[row] = _exact_row(queries[row], query_norms[row], keys, key_norms, k)
    return values, indices


def _row_norms(matrix: torch.Tensor) -> torch.Tensor:
    """Each row's L2 norm in float64 (zero rows count as 1, as in `F.normalize`)."""
    norms = torch.cat(
        [
            torch.linalg.vector_norm(matrix[start : start + EXACT_BLOCK_ROWS].double(), dim=1)
            for start in range(0, len(matrix), EXACT_BLOCK_ROWS)
        ]
    )
    return norms.clamp_min(1e-12)


def _exact_dots(queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """Dot products of each query (b, d) with its own keys (b, w, d), in float64, one pair at a time."""
    return (keys.double() * queries.double()[:, None, :]).sum(dim=-1)


def _stable_top_k(scores: torch.Tensor, indices: torch.Tensor, k: int) -> NeighbourLists:
    """The k best of each row, ordered by score (descending), then index (ascending)."""
    indices, order = indices.sort(dim=1)
    scores = scores.gather(1, order)
    scores, order = scores.sort(dim=1, descending=True, stable=True)
    return scores[:, :k], indices.gather(1, order)[:, :k]


def _exact_row(
    query: torch.Tensor, query_norm: torch.Tensor, keys: torch.Tensor, key_norms: torch.Tensor, k: int
) -> NeighbourLists:
    """One query's exact k-NN over every key, in blocks."""
    dots = torch.cat(
        [
            _exact_dots(query[None], keys[start : start + EXACT_BLOCK_ROWS][None])[0]
            for start in range(0, len(keys), EXACT_BLOCK_ROWS)
        ]
    )
    scores = dots / (query_norm * key_norms)
    values, indices = _stable_top_k(scores[None], torch.arange(len(keys), device=keys.device)[None], k)
    return values[0], indices[0]


def _empty_lists(rows: int, k: int, like: torch.Tensor) -> NeighbourLists:
    """k-NN lists with every slot empty (-inf, index -1): any real score displaces them."""
    values = torch.full((rows, k), float("-inf"), dtype=like.dtype, device=like.device)
    return values, torch.full((rows, k), -1, dtype=torch.long, device=like.device)


def _candidate_pairs(
    forward: NeighbourLists, backward: NeighbourLists, margin: str, candidates: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each sentence's best-scoring neighbour as (scores, source, target) arrays, best first, ties by indices."""
    forward_means = forward[0].mean(dim=1)
    backward_means = backward[0].mean(dim=1)
    pairs = []
    if candidates in ("both", "forward", "mutual"):
        pairs.append(_best_per_row(forward, forward_means, backward_means, margin, swap=False))
    if candidates in ("both", "backward", "mutual"):
        pairs.append(_best_per_row(backward, backward_means, forward_means, margin, swap=True))
    scores, sources, targets = (np.concatenate(parts) for parts in zip(*pairs, strict=True))
    keys = sources * (len(backward_means) + 1) + targets
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    chosen = first[counts == 2] if candidates == "mutual" else first
    scores, sources, targets = scores[chosen], sources[chosen], targets[chosen]
    order = np.lexsort((targets, sources, -scores))
    return scores[order], sources[order], targets[order]


def _best_per_row(
    lists: NeighbourLists, own_means: torch.Tensor, other_means: torch.Tensor, margin: str, swap: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every row, its neighbour with the highest margin score (the first, nearest one on ties)."""
    cosines, neighbours = lists
    scale = (own_means[:, None] + other_means[neighbours]) / 2
    scores = cosines / scale if margin == "ratio" else cosines - scale
    best = scores.argmax(dim=1, keepdim=True)
    rows = np.arange(len(neighbours))
    partners = neighbours.gather(1, best).flatten().cpu().numpy()
    best_scores = scores.gather(1, best).flatten().cpu().numpy()
    return (best_scores, partners, rows) if swap else (best_scores, rows, partners)


def _one_to_one(sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Indices of the pairs kept when, best first, a pair is dropped if its source or target is already used."""
    used_sources, used_targets, keep = set(), set(), []
    for index, (source, target) in enumerate(zip(sources.tolist(), targets.tolist(), strict=True)):
        if source not in used_sources and target not in used_targets:
            used_sources.add(source)
            used_targets.add(target)
            keep.append(index)
    return np.asarray(keep, dtype=np.int64)
