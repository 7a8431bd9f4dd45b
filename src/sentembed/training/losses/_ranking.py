"""In-batch negatives ranking losses: MultipleNegativesRankingLoss (InfoNCE and its symmetric and GTE forms)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F

from sentembed.common.checks import check_choice
from sentembed.similarity import cos_sim
from sentembed.training.losses._base import ColumnSpec, EmbeddingLoss, function_name
from sentembed.training.losses._gathering import gather_with_grad, local_offset

Direction = Literal["query_to_doc", "query_to_query", "doc_to_query", "doc_to_doc"]
PartitionMode = Literal["joint", "per_direction"]
HardnessMode = Literal["in_batch_negatives", "hard_negatives", "all_negatives"]
DIRECTIONS: tuple[str, ...] = get_args(Direction)
PARTITION_MODES: tuple[str, ...] = get_args(PartitionMode)
HARDNESS_MODES: tuple[str, ...] = get_args(HardnessMode)


def check_directions(directions: Sequence[str], partition_mode: str) -> tuple[str, ...]:
    """The directions as a tuple; query_to_doc is required, and per_direction takes only the two cross terms."""
    directions = tuple(directions)
    for direction in directions:
        check_choice(direction, DIRECTIONS, "direction")
    check_choice(partition_mode, PARTITION_MODES, "partition_mode")
    if "query_to_doc" not in directions:
        raise ValueError(f"directions must include 'query_to_doc', got {directions}")
    if partition_mode == "per_direction" and {"query_to_query", "doc_to_doc"} & set(directions):
        raise ValueError("partition_mode='per_direction' takes only 'query_to_doc' and 'doc_to_query' directions")
    return directions


def hardness_bonus(
    scores: torch.Tensor, positive_columns: torch.Tensor, mode: str | None, strength: float, batch_columns: int
) -> torch.Tensor:
    """`strength` times the detached similarities of the negatives `mode` penalises (zero elsewhere).

    Columns from `batch_columns` on are the explicit hard negatives; a row's own are those in its column
    of each negatives block. In-batch negatives are every other candidate.
    """
    if mode is None or strength == 0:
        return torch.zeros_like(scores)
    columns = torch.arange(scores.shape[1], device=scores.device)[None, :]
    own = positive_columns[:, None]
    negative = columns != own
    own_hard = (columns >= batch_columns) & ((columns - batch_columns) % batch_columns == own)
    chosen = {"in_batch_negatives": negative & ~own_hard, "hard_negatives": own_hard, "all_negatives": negative}
    return strength * scores.detach() * chosen[mode]


class MultipleNegativesRankingLoss(EmbeddingLoss):
    """(anchor, positive[, negatives...]) rows: each anchor must pick its positive among all candidates in the batch.

    `directions` adds the reverse and same-side terms (doc_to_query, query_to_query, doc_to_doc); `partition_mode`
    puts them in one softmax ("joint") or averages one cross-entropy per direction ("per_direction").

    Args:
        model: The SentenceTransformer being trained.
        scale: Multiplies the similarities before the softmax (the inverse temperature), a positive number.
            Default 20.
        similarity_fct: Scores every (anchor, candidate) pair of two embedding batches. Default `cos_sim`.
        gather_across_devices: In distributed training, use the other devices' candidates as negatives too.
            Default False.
        directions: Which similarities compete: "query_to_doc" (required) and any of "doc_to_query",
            "query_to_query" and "doc_to_doc". Default ("query_to_doc",).
        partition_mode: "joint" (one softmax over every direction's candidates, default) or "per_direction"
            (one cross-entropy per direction, averaged; only the two cross directions).
        hardness_mode: Which negatives get a bonus that makes them weigh more: "in_batch_negatives",
            "hard_negatives" (the explicit negative columns), "all_negatives", or None (default).
        hardness_strength: The bonus: this times the negative's (detached) similarity. Default 0.

    Raises:
        ValueError: A scale that is not positive, unknown directions or modes, or a negative hardness_strength.
    """

    columns = ColumnSpec(2, None)

    def __init__(
        self,
        model: torch.nn.Module,
        scale: float = 20.0,
        similarity_fct: Callable = cos_sim,
        gather_across_devices: bool = False,
        directions: Sequence[Direction] = ("query_to_doc",),
        partition_mode: PartitionMode = "joint",
        hardness_mode: HardnessMode | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__(model)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < float("inf"):
            raise ValueError(f"Scale must be a positive value (the inverse softmax temperature), got {scale!r}")
        self.scale = scale
        self.similarity_fct = similarity_fct
        self.gather_across_devices = gather_across_devices
        self.directions = check_directions(directions, partition_mode)
        self.partition_mode = partition_mode
        if hardness_mode is not None:
            check_choice(hardness_mode, HARDNESS_MODES, "hardness_mode")
        if hardness_strength < 0:
            raise ValueError(f"hardness_strength must be non-negative, got {hardness_strength}")
        self.hardness_mode = hardness_mode
        self.hardness_strength = hardness_strength

    @property
    def temperature(self) -> float:
        return 1 / self.scale

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        queries, documents = embeddings[0], embeddings[1:]
        offset = 0
        if self.gather_across_devices:
            offset = local_offset(len(queries))
            queries, documents = gather_with_grad(queries), [gather_with_grad(d) for d in documents]
        rows = torch.arange(offset, offset + len(embeddings[0]), device=queries.device)
        local_queries = queries[rows]
        if self.partition_mode == "per_direction":
            return self._per_direction_loss(local_queries, queries, documents, rows)
        return self._joint_loss(local_queries, queries, documents, rows)

    def _query_to_doc(
        self, local_queries: torch.Tensor, documents: list[torch.Tensor], rows: torch.Tensor
    ) -> torch.Tensor:
        """This process's anchors against every candidate, scaled, with any hardness bonus."""
        scores = self.similarity_fct(local_queries, torch.cat(documents))
        bonus = hardness_bonus(scores, rows, self.hardness_mode, self.hardness_strength, len(documents[0]))
        return scores * self.scale + bonus

    def _joint_loss(
        self, local_queries: torch.Tensor, queries: torch.Tensor, documents: list[torch.Tensor], rows: torch.Tensor
    ) -> torch.Tensor:
        """One softmax per anchor over the blocks of every chosen direction; the target is its positive."""
        blocks = [self._query_to_doc(local_queries, documents, rows)]
        batch = len(queries)
        own = torch.zeros(len(rows), batch, dtype=torch.bool, device=queries.device)
        own[torch.arange(len(rows)), rows] = True
        if "query_to_query" in self.directions:
            blocks.append((self.similarity_fct(local_queries, queries) * self.scale).masked_fill(own, float("-inf")))
        local_positives = documents[0][rows]
        if "doc_to_query" in self.directions:
            blocks.append(self.similarity_fct(local_positives, queries) * self.scale)
        if "doc_to_doc" in self.directions:
            scores = self.similarity_fct(local_positives, torch.cat(documents)) * self.scale
            blocks.append(scores.masked_fill(own.repeat(1, len(documents)), float("-inf")))
        return F.cross_entropy(torch.cat(blocks, dim=1), rows)

    def _per_direction_loss(
        self, local_queries: torch.Tensor, queries: torch.Tensor, documents: list[torch.Tensor], rows: torch.Tensor
    ) -> torch.Tensor:
        """The mean of one cross-entropy per direction (anchors over candidates, positives over anchors)."""
        losses = [F.cross_entropy(self._query_to_doc(local_queries, documents, rows), rows)]
        if "doc_to_query" in self.directions:
            scores = self.similarity_fct(documents[0][rows], queries) * self.scale
            losses.append(F.cross_entropy(scores, rows))
        return sum(losses) / len(losses)

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "similarity_fct": function_name(self.similarity_fct),
            "gather_across_devices": self.gather_across_devices,
            "directions": self.directions,
            "partition_mode": self.partition_mode,
            "hardness_mode": self.hardness_mode,
            "hardness_strength": self.hardness_strength,
        }


class MultipleNegativesSymmetricRankingLoss(MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss with directions query_to_doc and doc_to_query, one softmax each, averaged.

    Args:
        model: The SentenceTransformer being trained.
        scale: Multiplies the similarities before the softmax (the inverse temperature), a positive number.
            Default 20.
        similarity_fct: Scores every (anchor, candidate) pair of two embedding batches. Default `cos_sim`.
        gather_across_devices: In distributed training, use the other devices' candidates as negatives too.
            Default False.

    Raises:
        ValueError: A scale that is not positive.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        scale: float = 20.0,
        similarity_fct: Callable = cos_sim,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__(
            model,
            scale,
            similarity_fct,
            gather_across_devices,
            directions=("query_to_doc", "doc_to_query"),
            partition_mode="per_direction",
        )
