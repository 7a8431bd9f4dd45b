"""Gradient caching: in-batch negatives losses over large batches with the memory of a small one.

The batch is embedded in mini-batches without gradients; the loss's gradient with respect to the embeddings
is computed once; then, when the trainer calls backward, each mini-batch is embedded again with gradients
(replaying the same dropout) and that cached gradient is pushed through the model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack, nullcontext
from typing import Any

import torch
from tqdm.auto import tqdm

from sentembed.common.checks import check_positive_int
from sentembed.similarity import cos_sim
from sentembed.training.losses._gist import GISTEmbedLoss, MarginStrategy
from sentembed.training.losses._ranking import Direction, HardnessMode, MultipleNegativesRankingLoss, PartitionMode

Features = dict[str, torch.Tensor]


class RandContext:
    """The random generator state at construction, replayed inside each `with` block, so a second forward pass
    draws the same dropout masks as the first; the generators' own state is restored on leaving.

    Args:
        *tensors: tensors (or devices) whose CUDA generators are captured too (the CPU generator always is).
    """

    def __init__(self, *tensors: torch.Tensor | torch.device) -> None:
        self.cpu_state = torch.get_rng_state()
        devices = [item.device if isinstance(item, torch.Tensor) else torch.device(item) for item in tensors]
        self.cuda_devices = sorted({cuda_index(device) for device in devices if device.type == "cuda"})
        self.cuda_states = [torch.cuda.get_rng_state(device) for device in self.cuda_devices]
        self.forked: ExitStack | None = None

    def __enter__(self) -> RandContext:
        self.forked = ExitStack()
        self.forked.enter_context(torch.random.fork_rng(devices=self.cuda_devices))
        torch.set_rng_state(self.cpu_state)
        for device, state in zip(self.cuda_devices, self.cuda_states, strict=True):
            torch.cuda.set_rng_state(state, device)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        forked, self.forked = self.forked, None
        if forked is not None:
            forked.close()


def cuda_index(device: torch.device) -> int:
    return device.index if device.index is not None else torch.cuda.current_device()


def mini_batch_bounds(features: Features, size: int, num_tokens: int | None = None) -> list[tuple[int, int]]:
    """(begin, end) of the mini-batches of consecutive rows a tokenized batch is cut into: at most `size` rows
    each, or, with `num_tokens`, as many rows as fit in that many non-padding tokens (at least one)."""
    if "offsets" in features or features["input_ids"].dim() != 2:
        raise ValueError("gradient caching needs a batch of token rows; this model's input module packs its rows")
    rows = len(features["input_ids"])
    if num_tokens is None:
        return [(start, min(start + size, rows)) for start in range(0, rows, size)]
    return token_budget_bounds(row_lengths(features), num_tokens)


def row_lengths(features: Features) -> list[int]:
    mask = features.get("attention_mask")
    if mask is None:
        return [features["input_ids"].shape[1]] * len(features["input_ids"])
    return mask.sum(dim=1).tolist()


def token_budget_bounds(lengths: list[int], num_tokens: int) -> list[tuple[int, int]]:
    """(start, stop) of consecutive rows whose token counts add up to at most `num_tokens`."""
    bounds, start, used = [], 0, 0
    for index, length in enumerate(lengths):
        if index > start and used + length > num_tokens:
            bounds.append((start, index))
            start, used = index, 0
        used += length
    return bounds + [(start, len(lengths))] if lengths else bounds


def take_rows(features: Features, start: int, stop: int) -> Features:
    return {name: value[start:stop] if isinstance(value, torch.Tensor) else value for name, value in features.items()}


def trim_padding(features: Features) -> Features:
    """Drop trailing columns that are padding in every row (right padding only; other layouts are kept)."""
    mask = features.get("attention_mask")
    if mask is None or mask.dim() != 2 or not len(mask):
        return features
    used = mask.any(dim=0).nonzero()
    width = int(used.max()) + 1 if len(used) else 1
    if width == mask.shape[1] or mask[:, width:].any():
        return features
    return {
        name: value[:, :width] if isinstance(value, torch.Tensor) and value.dim() == 2 else value
        for name, value in features.items()
    }


class GradientCacheMixin:
    """Turns an embeddings-in, loss-out ranking loss into its gradient-cached form."""

    mini_batch_size: int
    mini_batch_num_tokens: int | None = None
    show_progress_bar: bool
    model: torch.nn.Module

    def mini_batch_bounds(self, features: Features) -> list[tuple[int, int]]:
        """Where one column's batch is cut into mini-batches.

        Args:
            features: The column's tokenized batch.

        Returns:
            (begin, end) rows of each mini-batch, in order.
        """
        return mini_batch_bounds(features, self.mini_batch_size, self.mini_batch_num_tokens)

    def embed_minibatch(
        self,
        sentence_feature: Features,
        begin: int,
        end: int,
        with_grad: bool,
        copy_random_state: bool,
        random_state: RandContext | None = None,
    ) -> tuple[torch.Tensor, RandContext | None]:
        """The embeddings of rows `begin:end` of one column (trailing padding trimmed), as the reference's cached
        losses compute them; override it to change how a mini-batch is embedded.

        Args:
            sentence_feature: the column's tokenized batch (not modified).
            begin: the first row.
            end: the row after the last.
            with_grad: whether to build the autograd graph.
            copy_random_state: capture the random state first, to replay the same dropout later.
            random_state: a captured state to replay (the backward pass's second embedding).

        Returns:
            The embeddings, and the captured state (None unless `copy_random_state`).
        """
        features = trim_padding(take_rows(sentence_feature, begin, end))
        captured = RandContext(features["input_ids"]) if copy_random_state else None
        with random_state if random_state is not None else nullcontext(), torch.set_grad_enabled(with_grad):
            embeddings = self.model(dict(features))["sentence_embedding"]
        return embeddings, captured

    def _embed_without_grad(self, sentence_features: list[Features]) -> tuple[list[torch.Tensor], list[list]]:
        embeddings, states = [], []
        for features in tqdm(sentence_features, desc="Embed mini-batches", disable=not self.show_progress_bar):
            column_parts, column_states = [], []
            for begin, end in self.mini_batch_bounds(features):
                part, state = self.embed_minibatch(
                    sentence_feature=features, begin=begin, end=end, with_grad=False, copy_random_state=True
                )
                column_parts.append(part)
                column_states.append(state)
            embeddings.append(torch.cat(column_parts))
            states.append(column_states)
        return embeddings, states

    def _backward_through_model(
        self, sentence_features: list[Features], states: list[list], gradients: list[torch.Tensor], scale: torch.Tensor
    ) -> None:
        for features, column_states, gradient in zip(sentence_features, states, gradients, strict=True):
            for (begin, end), state in zip(self.mini_batch_bounds(features), column_states, strict=True):
                # Backward hooks run with gradients off: turn them on for the forward and the surrogate product.
                with torch.enable_grad():
                    embedding, _ = self.embed_minibatch(
                        sentence_feature=features,
                        begin=begin,
                        end=end,
                        with_grad=True,
                        copy_random_state=False,
                        random_state=state,
                    )
                    (embedding * (gradient[begin:end] * scale)).sum().backward()

    def caches_gradients(self) -> bool:
        """Whether this loss embeds in mini-batches with cached gradients (a loss may offer it as an option).

        Returns:
            True.
        """
        return True

    def forward(self, sentence_features: list[Features], labels: torch.Tensor | None) -> torch.Tensor:
        return self.cached_loss(sentence_features, self.prepare_loss(sentence_features, labels))

    def cached_loss(
        self, sentence_features: list[Features], loss_of: Callable[[list[torch.Tensor]], torch.Tensor]
    ) -> torch.Tensor:
        """`loss_of(embeddings)` with gradient caching: the embeddings come from mini-batches without gradients,
        and backward replays each mini-batch to push `loss_of`'s gradient through the model.

        Args:
            sentence_features: One tokenized batch per text column.
            loss_of: The loss as a function of the column embeddings (see `prepare_loss`).

        Returns:
            The loss, a scalar tensor whose backward runs the replay.

        Raises:
            ValueError: A column whose embeddings the loss does not use.
        """
        if not torch.is_grad_enabled():
            return loss_of(self.embed(sentence_features))
        embeddings, states = self._embed_without_grad(sentence_features)
        leaves = [embedding.detach().requires_grad_() for embedding in embeddings]
        loss = loss_of(leaves)
        gradients = torch.autograd.grad(loss, leaves, allow_unused=True)
        unused = [index for index, gradient in enumerate(gradients) if gradient is None]
        if unused:
            raise ValueError(
                f"{type(self).__name__}: the loss does not use the embeddings of input column(s) {unused}; gradient "
                "caching needs every column it embeds to reach the loss (remove the column from the dataset)"
            )
        surrogate = loss.detach().requires_grad_()
        surrogate.register_hook(
            lambda scale: self._backward_through_model(sentence_features, states, list(gradients), scale)
        )
        return surrogate


def init_cache(loss: GradientCacheMixin, mini_batch_size: int, mini_batch_num_tokens: int | None, bar: bool) -> None:
    """Check and store the mini-batch settings every gradient-cached loss takes."""
    loss.mini_batch_size = check_positive_int(mini_batch_size, "mini_batch_size")
    loss.mini_batch_num_tokens = check_positive_int(mini_batch_num_tokens, "mini_batch_num_tokens", optional=True)
    loss.show_progress_bar = bar


def cache_config(loss: GradientCacheMixin) -> dict[str, Any]:
    return {"mini_batch_size": loss.mini_batch_size, "mini_batch_num_tokens": loss.mini_batch_num_tokens}


class CachedMultipleNegativesRankingLoss(GradientCacheMixin, MultipleNegativesRankingLoss):
    """MultipleNegativesRankingLoss with gradient caching: batch size is limited by time, not memory.

    Args:
        model: The SentenceTransformer being trained.
        scale: Multiplies the similarities before the softmax (the inverse temperature), a positive number.
            Default 20.
        similarity_fct: Scores every (anchor, candidate) pair of two embedding batches. Default `cos_sim`.
        mini_batch_size: Rows embedded at once; memory depends on it, not on the batch size. Default 32.
        mini_batch_num_tokens: Cut mini-batches by this many tokens instead of rows. Default None.
        gather_across_devices: In distributed training, use the other devices' candidates as negatives too.
            Default False.
        directions: Which similarities compete: "query_to_doc" (required) and any of "doc_to_query",
            "query_to_query" and "doc_to_doc". Default ("query_to_doc",).
        partition_mode: "joint" (one softmax over every direction's candidates, default) or "per_direction"
            (one cross-entropy per direction, averaged; only the two cross directions).
        show_progress_bar: Show progress over the mini-batches. Default False.
        hardness_mode: Which negatives get a bonus that makes them weigh more: "in_batch_negatives",
            "hard_negatives" (the explicit negative columns), "all_negatives", or None (default).
        hardness_strength: The bonus: this times the negative's (detached) similarity. Default 0.

    Raises:
        ValueError: What MultipleNegativesRankingLoss refuses, or mini-batch sizes that are not positive ints.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        scale: float = 20.0,
        similarity_fct: Callable = cos_sim,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        gather_across_devices: bool = False,
        directions: Sequence[Direction] = ("query_to_doc",),
        partition_mode: PartitionMode = "joint",
        show_progress_bar: bool = False,
        hardness_mode: HardnessMode | None = None,
        hardness_strength: float = 0.0,
    ) -> None:
        super().__init__(
            model, scale, similarity_fct, gather_across_devices, directions, partition_mode, hardness_mode,
            hardness_strength,
        )  # fmt: skip
        init_cache(self, mini_batch_size, mini_batch_num_tokens, show_progress_bar)

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), **cache_config(self)}


class CachedMultipleNegativesSymmetricRankingLoss(CachedMultipleNegativesRankingLoss):
    """CachedMultipleNegativesRankingLoss with directions query_to_doc and doc_to_query, one softmax each.

    Args:
        model: The SentenceTransformer being trained.
        scale: Multiplies the similarities before the softmax (the inverse temperature), a positive number.
            Default 20.
        similarity_fct: Scores every (anchor, candidate) pair of two embedding batches. Default `cos_sim`.
        mini_batch_size: Rows embedded at once; memory depends on it, not on the batch size. Default 32.
        mini_batch_num_tokens: Cut mini-batches by this many tokens instead of rows. Default None.
        gather_across_devices: In distributed training, use the other devices' candidates as negatives too.
            Default False.
        show_progress_bar: Show progress over the mini-batches. Default False.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        scale: float = 20.0,
        similarity_fct: Callable = cos_sim,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        gather_across_devices: bool = False,
        show_progress_bar: bool = False,
    ) -> None:
        super().__init__(
            model, scale, similarity_fct, mini_batch_size, mini_batch_num_tokens, gather_across_devices,
            ("query_to_doc", "doc_to_query"), "per_direction", show_progress_bar,
        )  # fmt: skip


class CachedGISTEmbedLoss(GradientCacheMixin, GISTEmbedLoss):
    """GISTEmbedLoss with gradient caching; the guide embeds the whole batch once, without gradients.

    Args:
        model: The SentenceTransformer being trained.
        guide: A SentenceTransformer whose similarities decide which candidates are false negatives.
        temperature: Divides the similarities before the softmax. Default 0.01.
        mini_batch_size: Rows embedded at once; memory depends on it, not on the batch size. Default 32.
        mini_batch_num_tokens: Cut mini-batches by this many tokens instead of rows. Default None.
        show_progress_bar: Show progress over the mini-batches. Default False.
        margin_strategy: "absolute" (default) or "relative" (see GISTEmbedLoss).
        margin: How far below the anchor's positive a candidate must score to stay. Default 0.
        contrast_anchors: Also contrast each anchor with the other anchors. Default True.
        contrast_positives: Also contrast each positive with the other positives. Default True.
        gather_across_devices: In distributed training, use the other devices' candidates as negatives too.
            Default False.

    Raises:
        ValueError: No guide, an unknown margin_strategy, or mini-batch sizes that are not positive ints.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        guide: Any,
        temperature: float = 0.01,
        mini_batch_size: int = 32,
        mini_batch_num_tokens: int | None = None,
        show_progress_bar: bool = False,
        margin_strategy: MarginStrategy = "absolute",
        margin: float = 0.0,
        contrast_anchors: bool = True,
        contrast_positives: bool = True,
        gather_across_devices: bool = False,
    ) -> None:
        super().__init__(
            model, guide, temperature, margin_strategy, margin, contrast_anchors, contrast_positives,
            gather_across_devices,
        )  # fmt: skip
        init_cache(self, mini_batch_size, mini_batch_num_tokens, show_progress_bar)

    def get_config_dict(self) -> dict[str, Any]:
        return {**super().get_config_dict(), **cache_config(self)}
