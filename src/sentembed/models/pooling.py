"""Pooling: turns per-token embeddings into one sentence embedding."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from sentembed.common.checks import check_positive_int, renamed_argument
from sentembed.common.types import Features
from sentembed.models.base import Module

# The order in which several modes' outputs are concatenated, with their legacy config keys.
LEGACY_MODE_KEYS: dict[str, str] = {
    "cls": "pooling_mode_cls_token",
    "max": "pooling_mode_max_tokens",
    "mean": "pooling_mode_mean_tokens",
    "mean_sqrt_len_tokens": "pooling_mode_mean_sqrt_len_tokens",
    "weightedmean": "pooling_mode_weightedmean_tokens",
    "lasttoken": "pooling_mode_lasttoken",
}
POOLING_MODES: tuple[str, ...] = tuple(LEGACY_MODE_KEYS)
_MODE_ALIASES = {"mean_sqrt_len": "mean_sqrt_len_tokens", "last": "lasttoken", "weighted_mean": "weightedmean"}


def _parse_modes(pooling_mode: str | list[str] | tuple[str, ...]) -> list[str]:
    names = [pooling_mode] if isinstance(pooling_mode, str) else list(pooling_mode)
    modes = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"pooling mode must be a string, got {type(name).__name__}: {name!r}")
        mode = _MODE_ALIASES.get(name.lower(), name.lower())
        if mode not in POOLING_MODES:
            raise ValueError(f"Invalid pooling mode {name!r}; expected one of {list(POOLING_MODES)}")
        modes.append(mode)
    return list(dict.fromkeys(modes))


def _modes_from_flags(flags: dict[str, bool | None]) -> list[str]:
    """The legacy boolean flags: the modes switched on, else mean (as sentence-transformers 6 reads them)."""
    return [mode for mode, on in flags.items() if on] or ["mean"]


class Pooling(Module):
    """Pool token embeddings by cls, mean, max, mean_sqrt_len_tokens, weightedmean or lasttoken.

    Several modes' outputs are concatenated: in the order given by a `pooling_mode` list, or in the
    order of `POOLING_MODES` when chosen by the legacy boolean flags.
    With `include_prompt=False`, the prompt's tokens are left out of the pooled vector.

    Args:
        embedding_dimension: The token embeddings' size (`word_embedding_dimension` before v6).
        pooling_mode: A mode ("cls", "mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken") or a
            list of them. Default None: "mean" (unless the flags below choose).
        pooling_mode_cls_token: Legacy flag for "cls". Default None.
        pooling_mode_max_tokens: Legacy flag for "max". Default None.
        pooling_mode_mean_tokens: Legacy flag for "mean". Default None.
        pooling_mode_mean_sqrt_len_tokens: Legacy flag for "mean_sqrt_len_tokens". Default None.
        pooling_mode_weightedmean_tokens: Legacy flag for "weightedmean". Default None.
        pooling_mode_lasttoken: Legacy flag for "lasttoken". Default None.
        include_prompt: Pool over the prompt's tokens too. Default True.
        **kwargs: Only `word_embedding_dimension`, the older name of `embedding_dimension`.

    Raises:
        ValueError: A missing or non-positive dimension, an unknown mode, or both `pooling_mode` and flags.
        TypeError: Unknown keyword arguments.
    """

    POOLING_MODES = POOLING_MODES

    def __init__(
        self,
        embedding_dimension: int | None = None,
        pooling_mode: str | list[str] | tuple[str, ...] | None = None,
        pooling_mode_cls_token: bool | None = None,
        pooling_mode_max_tokens: bool | None = None,
        pooling_mode_mean_tokens: bool | None = None,
        pooling_mode_mean_sqrt_len_tokens: bool | None = None,
        pooling_mode_weightedmean_tokens: bool | None = None,
        pooling_mode_lasttoken: bool | None = None,
        include_prompt: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        embedding_dimension = renamed_argument(
            embedding_dimension, kwargs, "word_embedding_dimension", "embedding_dimension", "Pooling"
        )
        if kwargs:
            raise TypeError(f"Pooling got unexpected arguments {sorted(kwargs)}")
        self.word_embedding_dimension = check_positive_int(embedding_dimension, "embedding_dimension")
        flags = {
            "cls": pooling_mode_cls_token,
            "max": pooling_mode_max_tokens,
            "mean": pooling_mode_mean_tokens,
            "mean_sqrt_len_tokens": pooling_mode_mean_sqrt_len_tokens,
            "weightedmean": pooling_mode_weightedmean_tokens,
            "lasttoken": pooling_mode_lasttoken,
        }
        legacy = any(flag is not None for flag in flags.values())
        if pooling_mode is not None and legacy:
            raise ValueError("give Pooling either pooling_mode or the legacy pooling_mode_* flags, not both")
        if legacy:
            warnings.warn(
                "The pooling_mode_* arguments of Pooling are deprecated; use pooling_mode= "
                f"(here {_modes_from_flags(flags)!r})",
                FutureWarning,
                stacklevel=2,
            )
        self.modes = _parse_modes(pooling_mode) if pooling_mode is not None else _modes_from_flags(flags)
        self.include_prompt = include_prompt
        self.pooling_output_dimension = len(self.modes) * self.word_embedding_dimension

    @property
    def embedding_dimension(self) -> int:
        """The size of each token embedding (the v6 name of `word_embedding_dimension`)."""
        return self.word_embedding_dimension

    @property
    def pooling_mode(self) -> str | tuple[str, ...]:
        """The mode's name, or a tuple of names when several are concatenated."""
        return self.modes[0] if len(self.modes) == 1 else tuple(self.modes)

    def get_sentence_embedding_dimension(self) -> int:
        """The pooled vector's size: the token size times the number of modes.

        Returns:
            The dimension.
        """
        return self.pooling_output_dimension

    get_embedding_dimension = get_sentence_embedding_dimension

    def get_pooling_mode_str(self) -> str:
        """The modes' names, for display.

        Returns:
            The names joined by "+", e.g. "mean" or "cls+mean".
        """
        return "+".join(self.modes)

    def forward(self, features: Features, **kwargs: Any) -> Features:
        """Pool `token_embeddings` into `sentence_embedding` (keyword arguments `encode` passes on are accepted and
        not used). The tokens may be padded (batch, length, dim) with
        an `attention_mask` (all tokens count when there is none), or flattened (1, total, dim) as transformers'
        `DataCollatorWithFlattening` lays them out, with `cu_seq_lens_q` / `cu_seq_lens_k` or `position_ids`
        marking where each text starts. `features` is not changed apart from the added embedding.

        Args:
            features: The batch's features: "token_embeddings", and "attention_mask", "prompt_length",
                "token_weights_sum" where present.
            **kwargs: Ignored.

        Returns:
            The features, with "sentence_embedding" set.
        """
        tokens, mask = padded_tokens(features)
        mask = self._pooling_mask(mask, features.get("prompt_length"))
        weights_sum = features.get("token_weights_sum")  # set by WordWeights: the mean modes divide by it
        pooled = [
            _divided_by_weights(tokens, mask, weights_sum, mode)
            if weights_sum is not None and mode in _MEAN_MODES
            else _cls_output(features, tokens, mask)
            if mode == "cls"
            else _POOLERS[mode](tokens, mask)
            for mode in self.modes
        ]
        features["sentence_embedding"] = torch.cat(pooled, dim=1)
        return features

    def _pooling_mask(self, mask: torch.Tensor, prompt_length: Any) -> torch.Tensor:
        """The attention mask, with the prompt's tokens switched off when `include_prompt` is False."""
        if isinstance(prompt_length, torch.Tensor):
            prompt_length = int(prompt_length.flatten()[0])
        if self.include_prompt or not prompt_length:
            return mask
        positions = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)
        start = mask.to(torch.int).argmax(dim=1, keepdim=True)
        return mask.masked_fill((positions >= start) & (positions < start + int(prompt_length)), 0)

    def get_config_dict(self) -> dict[str, Any]:
        """The legacy form, which every reference version reads, unless only the new form keeps the mode order.

        Returns:
            Setting name -> value.
        """
        if self.modes != [mode for mode in POOLING_MODES if mode in self.modes]:
            return {
                "embedding_dimension": self.word_embedding_dimension,
                "pooling_mode": self.modes,
                "include_prompt": self.include_prompt,
            }
        config: dict[str, Any] = {"word_embedding_dimension": self.word_embedding_dimension}
        config.update({key: mode in self.modes for mode, key in LEGACY_MODE_KEYS.items()})
        config["include_prompt"] = self.include_prompt
        return config

    @classmethod
    def load(cls, input_path: str, **kwargs: Any) -> Pooling:
        config = cls.read_config(input_path)
        if "embedding_dimension" in config:
            return cls(
                config["embedding_dimension"],
                pooling_mode=config.get("pooling_mode", "mean"),
                include_prompt=config.get("include_prompt", True),
            )
        flags = {mode: config.get(key) for mode, key in LEGACY_MODE_KEYS.items()}  # an older folder: read silently
        return cls(
            config["word_embedding_dimension"],
            pooling_mode=_modes_from_flags(flags),
            include_prompt=config.get("include_prompt", True),
        )


FLATTENED_BOUNDARY_KEYS = ("cu_seq_lens_q", "cu_seq_lens_k")


def padded_tokens(features: Features) -> tuple[torch.Tensor, torch.Tensor]:
    """(token embeddings as (batch, length, dim), attention mask as (batch, length)), from padded or flattened
    features; the flattened tokens are split per text and right-padded, keeping gradients."""
    tokens = features["token_embeddings"]
    if "attention_mask" in features:
        return tokens, features["attention_mask"]
    starts = flattened_starts(features, tokens)
    if starts is None:
        return tokens, torch.ones(tokens.shape[:2], dtype=torch.long, device=tokens.device)
    lengths = (starts[1:] - starts[:-1]).tolist()
    pieces = list(torch.split(tokens[0], lengths))
    padded = torch.nn.utils.rnn.pad_sequence(pieces, batch_first=True)
    positions = torch.arange(padded.shape[1], device=tokens.device).unsqueeze(0)
    mask = (positions < torch.tensor(lengths, device=tokens.device).unsqueeze(1)).long()
    return padded, mask


def flattened_starts(features: Features, tokens: torch.Tensor) -> torch.Tensor | None:
    """The cumulative text boundaries [0, end_1, ..., total] of flattened tokens, or None for padded ones."""
    if tokens.dim() != 3 or tokens.shape[0] != 1:
        return None
    for key in FLATTENED_BOUNDARY_KEYS:
        if key in features:
            return torch.as_tensor(features[key], device=tokens.device).flatten().long()
    positions = features.get("position_ids")
    if positions is None:
        return None
    positions = torch.as_tensor(positions, device=tokens.device).flatten()
    beginnings = torch.nonzero(positions == 0).flatten()
    total = torch.tensor([positions.numel()], device=tokens.device)
    return torch.cat([beginnings, total]).long()


def _expanded(mask: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    return mask.unsqueeze(-1).expand(tokens.size()).to(tokens.dtype)


def _cls(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The first real token, which is the first position unless the batch is left-padded."""
    first = mask.to(torch.int).argmax(dim=1)
    return tokens[torch.arange(tokens.shape[0], device=tokens.device), first]


def _max(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    masked = tokens.masked_fill(_expanded(mask, tokens) == 0, float("-inf"))
    return masked.max(dim=1).values


def _sum_and_count(tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    expanded = _expanded(mask, tokens)
    return (tokens * expanded).sum(dim=1), expanded.sum(dim=1).clamp(min=1e-9)


def _mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    total, count = _sum_and_count(tokens, mask)
    return total / count


def _mean_sqrt_len(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    total, count = _sum_and_count(tokens, mask)
    return total / torch.sqrt(count)


_MEAN_MODES = ("mean", "mean_sqrt_len_tokens")


def _divided_by_weights(tokens: torch.Tensor, mask: torch.Tensor, weights_sum: torch.Tensor, mode: str) -> torch.Tensor:
    """A mean mode after WordWeights: the (already weighted) token sum over the weights' sum, or its root."""
    total, _ = _sum_and_count(tokens, mask)
    divisor = weights_sum.unsqueeze(-1).to(total.dtype).clamp(min=1e-9)
    return total / (divisor.sqrt() if mode == "mean_sqrt_len_tokens" else divisor)


def _weighted_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    positions = torch.arange(1, tokens.shape[1] + 1, device=tokens.device, dtype=tokens.dtype)
    weights = _expanded(mask, tokens) * positions.view(1, -1, 1)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def _cls_output(features: Features, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The network's own CLS vector when its module gives one (`cls_token_embeddings`), else the first real token."""
    given = features.get("cls_token_embeddings")
    return given if given is not None else _cls(tokens, mask)


def _last_token(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The last real token; a zero vector for a row without any (all padding)."""
    positions = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0)
    last = (positions * mask.to(positions.dtype)).argmax(dim=1)
    picked = tokens[torch.arange(tokens.shape[0], device=tokens.device), last]
    return picked * mask.any(dim=1, keepdim=True).to(picked.dtype)


_POOLERS = {
    "cls": _cls,
    "max": _max,
    "mean": _mean,
    "mean_sqrt_len_tokens": _mean_sqrt_len,
    "weightedmean": _weighted_mean,
    "lasttoken": _last_token,
}
