"""In-batch negatives for cross-encoders: each query's positive must outscore other rows' documents."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from sentembed.common.checks import check_positive_int
from sentembed.common.protocols import TrainablePairModel
from sentembed.training.cross_encoder.losses._base import CrossEncoderLoss, require_one_label
from sentembed.training.losses._base import ColumnSpec
from sentembed.training.losses._cached import RandContext

SIGMOID = nn.Sigmoid()


def prompted_queries(columns: list[list[str]], prompt: str | None) -> list[list[str]]:
    """The columns with `prompt` before each query (the first column), as the cross-encoder places prompts."""
    if not prompt:
        return columns
    return [[prompt + query for query in columns[0]], *columns[1:]]


class MultipleNegativesRankingLoss(CrossEncoderLoss):
    """(query, positive[, negatives...]) rows: softmax cross-entropy (scores activated, times `scale`) where the
    positive competes with the row's hard negatives and `num_negatives` documents drawn at random from the other
    rows (all of them when `num_negatives` is None or not smaller than their number).

    Args:
        model: The CrossEncoder being trained (one output: num_labels=1).
        num_negatives: Documents of other rows each query is scored against. Default 4; None for all.
        scale: Multiplies the activated scores before the softmax. Default 10.
        activation_fn: Applied to the logits first. Default `torch.nn.Sigmoid()`.

    Raises:
        ValueError: A model with more than one output, or a num_negatives that is not a positive int.
    """

    columns = ColumnSpec(2, None)

    def __init__(
        self,
        model: TrainablePairModel,
        num_negatives: int | None = 4,
        scale: float = 10.0,
        activation_fn: nn.Module | None = SIGMOID,
    ) -> None:
        super().__init__(model, activation_fn)
        require_one_label(model, type(self).__name__)
        if num_negatives is not None:
            check_positive_int(num_negatives, "num_negatives")
        self.num_negatives, self.scale = num_negatives, scale

    def candidate_columns(self, columns: list[list[str]]) -> list[list[str]]:
        """The documents each query is scored with.

        Args:
            columns: [queries, positives, hard negatives...].

        Returns:
            One list per slot (a document per query): positives, in-batch negatives, hard ones.
        """
        queries, documents = columns[0], columns[1:]
        size = len(queries)
        pool = [text for column in documents for text in column]
        # Every document of another row may serve; a row's own documents (positive and hard negatives) may not.
        allowed = ~torch.eye(size, dtype=torch.bool).repeat(1, len(documents))
        if self.num_negatives is not None and self.num_negatives < len(pool) - len(documents):
            chosen = torch.multinomial(allowed.float(), self.num_negatives)
        else:
            chosen = torch.arange(len(pool)).repeat(size, 1)[allowed].view(size, -1)
        borrowed = [[pool[index] for index in slot.tolist()] for slot in chosen.t()]
        return [documents[0], *borrowed, *documents[1:]]

    def loss_from_scores(self, logits: torch.Tensor, size: int) -> torch.Tensor:
        """Cross-entropy of the positive (slot 0) against the other slots.

        Args:
            logits: The logits of every (query, slot) pair, slot by slot, flat.
            size: How many queries.

        Returns:
            The loss, a scalar tensor.
        """
        scores = self.activated(logits.view(-1, size).t())
        if self.scale:
            scores = scores * self.scale
        return F.cross_entropy(scores, torch.zeros(size, dtype=torch.long, device=scores.device))

    def pairs(self, columns: list[list[str]]) -> tuple[list[str], list[str]]:
        """Every (query, candidate) pair to score, slot by slot.

        Args:
            columns: [queries, positives, hard negatives...].

        Returns:
            (the pairs' queries, the pairs' documents).

        Raises:
            ValueError: Fewer than two columns.
        """
        if len(columns) < 2:
            raise ValueError(f"{type(self).__name__} expects (query, positive[, negatives...]) columns")
        queries = columns[0]
        slots = self.candidate_columns(columns)
        return [query for _ in slots for query in queries], [text for slot in slots for text in slot]

    def forward(self, columns: list[list[str]], labels: Any = None, prompt: str | None = None) -> torch.Tensor:
        """The loss of a batch of (query, positive[, negatives...]) text columns.

        Args:
            columns: [queries, positives, hard negatives...].
            labels: Unused (the positive is the second column).
            prompt: A prompt to put before each query. Default None.

        Returns:
            The loss, a scalar tensor.
        """
        firsts, seconds = self.pairs(prompted_queries(columns, prompt))
        return self.loss_from_scores(self.logits(firsts, seconds).view(-1), len(columns[0]))

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "num_negatives": self.num_negatives, **super().get_config_dict()}


class CachedMultipleNegativesRankingLoss(MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss with gradient caching: the pairs are scored `mini_batch_size` at a time
    without gradients, then again with gradients (same dropout) when backward runs, so a batch's memory is that
    of one mini-batch.

    Args:
        model: The CrossEncoder being trained (one output: num_labels=1).
        num_negatives: Documents of other rows each query is scored against. Default 4; None for all.
        scale: Multiplies the activated scores before the softmax. Default 10.
        activation_fn: Applied to the logits first. Default `torch.nn.Sigmoid()`.
        mini_batch_size: Pairs scored at once. Default 32.
        show_progress_bar: Show progress over the mini-batches. Default False.
    """

    def __init__(
        self,
        model: TrainablePairModel,
        num_negatives: int | None = 4,
        scale: float = 10.0,
        activation_fn: nn.Module | None = SIGMOID,
        mini_batch_size: int = 32,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__(model, num_negatives, scale, activation_fn)
        self.mini_batch_size = check_positive_int(mini_batch_size, "mini_batch_size")
        self.show_progress_bar = show_progress_bar

    def mini_batches(self, count: int) -> list[slice]:
        """Where the pairs are cut into mini-batches.

        Args:
            count: How many pairs.

        Returns:
            One slice per mini-batch.
        """
        return [slice(start, start + self.mini_batch_size) for start in range(0, count, self.mini_batch_size)]

    def predict_minibatch(
        self,
        pairs: list[list[str]],
        with_grad: bool,
        copy_random_state: bool,
        random_state: RandContext | None = None,
    ) -> tuple[torch.Tensor, RandContext | None]:
        """The logits of one mini-batch of (query, document) pairs, flat; override it to change how they are scored.

        Args:
            pairs: the mini-batch's pairs.
            with_grad: whether to build the autograd graph.
            copy_random_state: capture the random state first (of the model's device too), to replay the dropout.
            random_state: a captured state to replay (the backward pass's second scoring).

        Returns:
            The logits, and the captured state (None unless `copy_random_state`).
        """
        captured = RandContext(self.model.device) if copy_random_state else None
        firsts, seconds = [pair[0] for pair in pairs], [pair[1] for pair in pairs]
        with random_state if random_state is not None else nullcontext(), torch.set_grad_enabled(with_grad):
            logits = self.logits(firsts, seconds).view(-1)
        return logits, captured

    def forward(self, columns: list[list[str]], labels: Any = None, prompt: str | None = None) -> torch.Tensor:
        """The loss of a batch of (query, positive[, negatives...]) text columns.

        Args:
            columns: [queries, positives, hard negatives...].
            labels: Unused (the positive is the second column).
            prompt: A prompt to put before each query. Default None.

        Returns:
            The loss, a scalar tensor.
        """
        firsts, seconds = self.pairs(prompted_queries(columns, prompt))
        size = len(columns[0])
        if not torch.is_grad_enabled():
            return self.loss_from_scores(self.logits(firsts, seconds, self.mini_batch_size).view(-1), size)
        parts, states = [], []
        for part in tqdm(self.mini_batches(len(firsts)), desc="Score mini-batches", disable=not self.show_progress_bar):
            pairs = [list(pair) for pair in zip(firsts[part], seconds[part], strict=True)]
            logits, state = self.predict_minibatch(pairs=pairs, with_grad=False, copy_random_state=True)
            parts.append(logits)
            states.append(state)
        leaf = torch.cat(parts).requires_grad_()
        loss = self.loss_from_scores(leaf, size)
        (gradient,) = torch.autograd.grad(loss, leaf)
        surrogate = loss.detach().requires_grad_()
        surrogate.register_hook(lambda scale: self.backward_through_model(firsts, seconds, states, gradient * scale))
        return surrogate

    def backward_through_model(
        self, firsts: list[str], seconds: list[str], states: list[RandContext], gradient: torch.Tensor
    ) -> None:
        """Score each mini-batch again with gradients, replaying its dropout, and push the cached gradient in.

        Args:
            firsts: The pairs' queries.
            seconds: The pairs' documents.
            states: Each mini-batch's captured random state.
            gradient: The loss's gradient with respect to every pair's logit, flat.
        """
        for part, state in zip(self.mini_batches(len(firsts)), states, strict=True):
            pairs = [list(pair) for pair in zip(firsts[part], seconds[part], strict=True)]
            with torch.enable_grad():
                logits, _ = self.predict_minibatch(
                    pairs=pairs, with_grad=True, copy_random_state=False, random_state=state
                )
                (logits * gradient[part]).sum().backward()

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), "mini_batch_size": self.mini_batch_size}
