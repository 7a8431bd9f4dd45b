"""Fusing a dense and a lexical ranking into one: reciprocal rank fusion, or a weighted sum of normalised scores.

Each ranking is a list of hits (`{"corpus_id", "score", ...}`, best first) over the same allowed rows; a fused
hit keeps the first ranking's other fields (its chunk, its row) and adds `dense_score` and `lexical_score`
(None where that ranking did not find it).
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from sentembed.common.types import Hit

Fusion = Literal["rrf", "weighted"]
FUSIONS: tuple[str, ...] = get_args(Fusion)


def check_weights(weights: Any) -> tuple[float, float]:
    """(dense weight, lexical weight): two non-negative numbers, not both zero; default (1, 1)."""
    if weights is None:
        return 1.0, 1.0
    if (
        not isinstance(weights, (list, tuple))
        or len(weights) != 2
        or not all(isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in weights)
        or not any(weights)
    ):
        raise ValueError(
            f"weights must be (dense weight, lexical weight), two numbers >= 0 not both 0; got {weights!r}"
        )
    return float(weights[0]), float(weights[1])


def fuse(
    dense: list[Hit], lexical: list[Hit], top_k: int, fusion: str, rrf_k: float, weights: tuple[float, float]
) -> list[Hit]:
    """The best `top_k` of the union of two rankings of one query, by fused score (ties: dense order first)."""
    shares = _reciprocal_ranks if fusion == "rrf" else _normalised
    fused: dict[Any, Hit] = {}
    for hits, weight, source in ((dense, weights[0], "dense_score"), (lexical, weights[1], "lexical_score")):
        for hit, share in zip(hits, shares(hits, weight, rrf_k), strict=True):
            blank = {**hit, "score": 0.0, "dense_score": None, "lexical_score": None}
            entry = fused.setdefault(hit["corpus_id"], blank)
            entry["score"] += share
            entry[source] = hit["score"]
    return sorted(fused.values(), key=lambda hit: -hit["score"])[:top_k]


def _reciprocal_ranks(hits: list[Hit], weight: float, rrf_k: float) -> list[float]:
    """weight / (rrf_k + rank), ranks from 1."""
    return [weight / (rrf_k + rank) for rank in range(1, len(hits) + 1)]


def _normalised(hits: list[Hit], weight: float, rrf_k: float) -> list[float]:
    """weight x the score scaled to [0, 1] over the ranking (min-max; 1 when all are equal); `rrf_k` is unused."""
    scores = [hit["score"] for hit in hits]
    if not scores:
        return []
    low, span = min(scores), max(scores) - min(scores)
    return [weight * ((score - low) / span if span else 1.0) for score in scores]
