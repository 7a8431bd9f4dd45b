"""LambdaLoss and its weighting schemes, and RankNetLoss (LambdaLoss with every pair weighted alike).

For each query, documents are placed in the order of their scores. Every pair (i above j) whose labels say j
should be above i contributes -log sigmoid(sigma * (s_i - s_j)), times a weight that says how much swapping the
two would change NDCG: the weighting scheme.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import nn

from sentembed.common.checks import check_choice
from sentembed.common.protocols import TrainablePairModel
from sentembed.common.types import fullname
from sentembed.training.cross_encoder.losses._listwise import IDENTITY, ListwiseLoss


class BaseWeightingScheme(nn.Module):
    """A LambdaLoss weighting: (normalized gains, position discounts, labels in score order) -> pair weights."""

    def forward(self, gain: torch.Tensor, discount: torch.Tensor, true_sorted: torch.Tensor) -> torch.Tensor:
        """The weight of each (i, j) pair of positions (each scheme defines it).

        Args:
            gain: (queries, size) normalized gains, in score order.
            discount: (1, size) position discounts, log2(2 + position).
            true_sorted: (queries, size) labels in score order.

        Returns:
            (queries, size, size) pair weights.
        """
        raise NotImplementedError


class NoWeightingScheme(BaseWeightingScheme):
    """Every pair weighs 1 (RankNet)."""

    def forward(self, gain: torch.Tensor, discount: torch.Tensor, true_sorted: torch.Tensor) -> torch.Tensor:
        return torch.tensor(1.0, device=gain.device)


class NDCGLoss1Scheme(BaseWeightingScheme):
    """Weight gain_i / discount_i (the looser NDCG bound of the LambdaLoss paper)."""

    def forward(self, gain: torch.Tensor, discount: torch.Tensor, true_sorted: torch.Tensor) -> torch.Tensor:
        return (gain / discount).unsqueeze(2)


def inverse_discount_steps(discount: torch.Tensor, size: int) -> torch.Tensor:
    """(size, size) matrix of |1/D(|i-j|) - 1/D(|i-j| + 1)|, zero on the diagonal; D(n) = log2(1 + n)."""
    positions = torch.arange(size, device=discount.device)
    distance = (positions[:, None] - positions[None, :]).abs()
    inverse = discount[0].reciprocal()
    steps = (inverse[(distance - 1).clamp_min(0)] - inverse[distance]).abs()
    return steps.masked_fill(distance == 0, 0.0)


def gain_gaps(gain: torch.Tensor) -> torch.Tensor:
    return (gain.unsqueeze(2) - gain.unsqueeze(1)).abs()


class NDCGLoss2Scheme(BaseWeightingScheme):
    """Weight |gain_i - gain_j| times the change of 1/discount between positions |i-j| and |i-j|+1 (tighter)."""

    def forward(self, gain: torch.Tensor, discount: torch.Tensor, true_sorted: torch.Tensor) -> torch.Tensor:
        return inverse_discount_steps(discount, gain.shape[1]).unsqueeze(0) * gain_gaps(gain)


class LambdaRankScheme(BaseWeightingScheme):
    """Weight |gain_i - gain_j| * |1/discount_i - 1/discount_j|: LambdaRank's delta-NDCG."""

    def forward(self, gain: torch.Tensor, discount: torch.Tensor, true_sorted: torch.Tensor) -> torch.Tensor:
        inverse = discount.reciprocal()
        return (inverse.unsqueeze(2) - inverse.unsqueeze(1)).abs() * gain_gaps(gain)


class NDCGLoss2PPScheme(BaseWeightingScheme):
    """NDCG-Loss2++: `mu` times the NDCGLoss2 weight plus the LambdaRank weight (the paper's best).

    Args:
        mu: The NDCGLoss2 weight's factor. Default 10.
    """

    def __init__(self, mu: float = 10.0) -> None:
        super().__init__()
        self.mu = mu
        self.ndcg_loss2 = NDCGLoss2Scheme()
        self.lambda_rank = LambdaRankScheme()

    def forward(self, gain: torch.Tensor, discount: torch.Tensor, true_sorted: torch.Tensor) -> torch.Tensor:
        ndcg2 = self.ndcg_loss2(gain, discount, true_sorted)
        return self.mu * ndcg2 + self.lambda_rank(gain, discount, true_sorted)


DEFAULT_SCHEME = NDCGLoss2PPScheme()


class LambdaLoss(ListwiseLoss):
    """LambdaLoss (Wang et al., 2018): pairwise logistic losses weighted by `weighting_scheme`, counting only pairs
    with at least one document in the top `k` by score (all when None). `reduction_log` "binary" divides by ln 2.
    Labels may be binary or graded.

    Args:
        model: The CrossEncoder being trained (one output: num_labels=1).
        weighting_scheme: Weighs each pair (NoWeightingScheme, NDCGLoss1Scheme, NDCGLoss2Scheme,
            LambdaRankScheme, NDCGLoss2PPScheme). Default NDCGLoss2PPScheme(); None for none.
        k: Count only pairs with a document in the top k by score. Default None: all.
        sigma: Multiplies the score gaps. Default 1.
        eps: Keeps the ideal DCG away from zero. Default 1e-10.
        reduction_log: "binary" (default, divide by ln 2) or "natural".
        activation_fn: Applied to the logits before the loss. Default `torch.nn.Identity()`.
        mini_batch_size: Pairs scored at once. Default None: as many as the batch has queries (all when 0 or
            less).

    Raises:
        ValueError: A model with more than one output, or an unknown reduction_log.
    """

    def __init__(
        self,
        model: TrainablePairModel,
        weighting_scheme: BaseWeightingScheme | None = DEFAULT_SCHEME,
        k: int | None = None,
        sigma: float = 1.0,
        eps: float = 1e-10,
        reduction_log: Literal["natural", "binary"] = "binary",
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__(model, activation_fn, mini_batch_size)
        check_choice(reduction_log, ("natural", "binary"), "reduction_log")
        self.weighting_scheme = weighting_scheme or NoWeightingScheme()
        self.k, self.sigma, self.eps, self.reduction_log = k, sigma, eps, reduction_log

    def forward(self, columns: list, labels: Any) -> torch.Tensor:
        """The loss of one training batch (the trainer calls this).

        Args:
            columns: [queries, document lists]: one query and one list of documents per row.
            labels: One list of relevance labels per row, one per document.

        Returns:
            The loss, a scalar tensor.

        Raises:
            ValueError: Columns or labels of another shape.
        """
        batch = self.list_batch(columns, labels)
        size, device = batch.scores.shape[1], batch.scores.device
        scores, order = batch.padded_scores(-1e16).sort(descending=True, dim=-1)
        labels_padded = batch.padded_labels(float("-inf"))
        true_by_score = labels_padded.gather(1, order)
        ideal = labels_padded.sort(descending=True, dim=-1).values.clamp(min=0.0)
        pairs = self.counted_pairs(true_by_score, size, device)
        true_by_score = true_by_score.clamp(min=0.0)
        k = self.k or size
        discount = torch.log2(2.0 + torch.arange(size, device=device).float()).unsqueeze(0)
        max_dcg = ((torch.pow(2, ideal) - 1) / discount)[:, :k].sum(dim=-1).clamp(min=self.eps)
        gain = (torch.pow(2, true_by_score) - 1) / max_dcg.unsqueeze(1)
        weights = self.weighting_scheme(gain, discount, true_by_score)
        gaps = (scores.unsqueeze(2) - scores.unsqueeze(1)).clamp(min=-1e8, max=1e8).nan_to_num(nan=0.0)
        losses = weights * nn.functional.logsigmoid(self.sigma * gaps)
        if self.reduction_log == "binary":
            losses = losses / math.log(2)
        counted = losses[pairs]
        return -counted.sum() / max(counted.numel(), 1)

    def counted_pairs(self, true_by_score: torch.Tensor, size: int, device: torch.device) -> torch.Tensor:
        """Which pairs count.

        Args:
            true_by_score: (queries, size) labels in score order, -inf in padding.
            size: The longest list's length.
            device: Where to build the mask.

        Returns:
            A (queries, size, size) mask: pairs (i, j) of real documents, with i's label above j's (any real pair
            for NDCGLoss1), either in the top k.
        """
        label_gaps = true_by_score.unsqueeze(2) - true_by_score.unsqueeze(1)
        pairs = torch.isfinite(label_gaps)
        if not isinstance(self.weighting_scheme, NDCGLoss1Scheme):
            pairs = pairs & (label_gaps > 0)
        k = self.k or size
        in_top_k = torch.zeros((size, size), dtype=torch.bool, device=device)
        in_top_k[:k, :] = True
        in_top_k[:, :k] = True
        return pairs & in_top_k

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "weighting_scheme": fullname(self.weighting_scheme),
            "k": self.k,
            "sigma": self.sigma,
            "eps": self.eps,
            "reduction_log": self.reduction_log,
            **super().get_config_dict(),
        }


class RankNetLoss(LambdaLoss):
    """RankNet: LambdaLoss with NoWeightingScheme, every mis-ordered pair weighing the same.

    Args:
        model: The CrossEncoder being trained (one output: num_labels=1).
        k: Count only pairs with a document in the top k by score. Default None: all.
        sigma: Multiplies the score gaps. Default 1.
        eps: Keeps the ideal DCG away from zero. Default 1e-10.
        reduction_log: "binary" (default, divide by ln 2) or "natural".
        activation_fn: Applied to the logits before the loss. Default `torch.nn.Identity()`.
        mini_batch_size: Pairs scored at once. Default None: as many as the batch has queries (all when 0 or
            less).
    """

    def __init__(
        self,
        model: TrainablePairModel,
        k: int | None = None,
        sigma: float = 1.0,
        eps: float = 1e-10,
        reduction_log: Literal["natural", "binary"] = "binary",
        activation_fn: nn.Module | None = IDENTITY,
        mini_batch_size: int | None = None,
    ) -> None:
        super().__init__(model, NoWeightingScheme(), k, sigma, eps, reduction_log, activation_fn, mini_batch_size)

    def get_config_dict(self) -> dict[str, Any]:
        config = super().get_config_dict()
        del config["weighting_scheme"]
        return config
