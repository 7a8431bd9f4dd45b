"""Argument checks shared by every public function: one rule each, with errors that name the argument."""

from __future__ import annotations

import logging
import numbers
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "array_matrix",
    "as_array",
    "check_choice",
    "check_finite",
    "check_port",
    "check_positive_float",
    "check_positive_int",
    "check_text",
    "check_text_list",
    "check_texts",
    "is_quantized",
    "renamed_argument",
    "resolve_prompt",
    "tensor_matrix",
    "to_matrix",
    "to_tensor",
]


logger = logging.getLogger(__name__)
_WARNED_RENAMES: set[tuple[str, str]] = set()


def renamed_argument(value: Any, kwargs: dict[str, Any], old: str, new: str, caller: str) -> Any:
    """The argument `new`, taken from `kwargs[old]` when the caller used its deprecated name (logged once)."""
    if old not in kwargs:
        if value is None:
            raise TypeError(f"{caller} missing required argument {new!r}")
        return value
    if value is not None:
        raise TypeError(f"{caller} got both {new!r} and its deprecated name {old!r}; pass only {new!r}")
    if (old, new) not in _WARNED_RENAMES:
        _WARNED_RENAMES.add((old, new))
        logger.warning("The `%s` argument was renamed and is now deprecated; use `%s` instead.", old, new)
    return kwargs.pop(old)


def processor_or_tokenizer_kwargs(
    processor_kwargs: dict[str, Any] | None, tokenizer_kwargs: dict[str, Any] | None
) -> dict[str, Any] | None:
    """`processor_kwargs` is the v6 name of `tokenizer_kwargs`: either may be given, not both."""
    if processor_kwargs is not None and tokenizer_kwargs is not None:
        raise TypeError("give processor_kwargs (the v6 name) or tokenizer_kwargs, not both")
    return processor_kwargs if processor_kwargs is not None else tokenizer_kwargs


def is_integer(value: Any) -> bool:
    """Whether `value` is a whole number (a Python or numpy integer), never a bool: for checks that need a
    yes/no rather than an error."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_positive_int(value: Any, name: str, optional: bool = False) -> int | None:
    """`value` as an int when it is a positive integer (numpy integers too, bools never); None when optional."""
    if value is None and optional:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value <= 0:
        expected = "a positive integer or None" if optional else "a positive integer"
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def check_positive_float(value: Any, name: str, optional: bool = False) -> float | None:
    """`value` as a float when it is a positive finite real number (bools never); None when optional."""
    if value is None and optional:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive finite number{' or None' if optional else ''}, got {value!r}")
    return float(value)


def check_port(value: Any, name: str = "port") -> int:
    """A TCP port number, 0 to 65535 (0 lets the system choose); a ValueError otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or not 0 <= value <= 65535:
        raise ValueError(f"{name} must be an integer from 0 to 65535, got {value!r}")
    return int(value)


def check_choice(value: Any, choices: Collection[Any], name: str) -> Any:
    """Refuse a value outside `choices`, listing them."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {list(choices)}")
    return value


def check_text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value.isascii():
        _check_unicode(value, name)
    return value


def check_text_list(texts: Any, name: str) -> list[str]:
    """A sequence (list, tuple, numpy array, ...) of strings as a list; a TypeError names the first non-str item."""
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise TypeError(f"{name} must be a list of str, got {type(texts).__name__}")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{index}] must be a str, got {type(text).__name__}")
        if not text.isascii():
            _check_unicode(text, f"{name}[{index}]")
    return list(texts)


def _check_unicode(text: str, name: str) -> None:
    """Refuse a lone surrogate (from bad decoding upstream): no tokenizer can read it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise ValueError(
            f"{name} holds a lone surrogate {text[error.start]!r} at character {error.start}, which is not valid "
            "Unicode; decode the input with errors='replace' or remove it"
        ) from None


def check_texts(texts: Any, name: str = "sentences") -> tuple[list[str], bool]:
    """The texts as a list, and whether a single string was given."""
    if isinstance(texts, str):
        return [check_text(texts, name)], True
    if not isinstance(texts, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a str or a list of str, got {type(texts).__name__}")
    return check_text_list(texts, name), False


def numpy_viewable(array: np.ndarray) -> np.ndarray:
    """The array itself when torch can view it; a copy when it is read-only (a memmap, a broadcast view: torch
    would warn) or has negative strides (torch refuses them)."""
    if not array.flags.writeable or any(stride < 0 for stride in array.strides):
        return array.copy()
    return array


def to_tensor(embeddings: Any) -> torch.Tensor:
    """A list, numpy array or tensor as a floating-point tensor, without copying where possible."""
    if isinstance(embeddings, torch.Tensor):
        tensor = embeddings
    elif isinstance(embeddings, np.ndarray):
        tensor = torch.from_numpy(numpy_viewable(embeddings))
    elif isinstance(embeddings, list):
        if embeddings and isinstance(embeddings[0], torch.Tensor):
            tensor = torch.stack(embeddings)
        else:
            tensor = torch.from_numpy(np.asarray(embeddings, dtype=np.float32))
    else:
        raise TypeError(f"embeddings must be a tensor, numpy array or list, got {type(embeddings).__name__}")
    if not tensor.is_floating_point():
        tensor = tensor.float()
    return tensor


def to_matrix(embeddings: Any) -> torch.Tensor:
    """Like `to_tensor`, and a single 1-D vector becomes a (1, dim) matrix."""
    tensor = to_tensor(embeddings)
    return tensor.unsqueeze(0) if tensor.dim() == 1 else tensor


def _check_rank(shape: tuple[int, ...], name: str) -> None:
    if len(shape) != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {tuple(shape)}")


def tensor_matrix(embeddings: Any, name: str) -> torch.Tensor:
    """A 2-D float tensor on the input's device (a single vector becomes one row), refusing any other rank."""
    matrix = to_matrix(embeddings)
    _check_rank(tuple(matrix.shape), name)
    return matrix


def is_quantized(array: np.ndarray) -> bool:
    return array.dtype in (np.int8, np.uint8)


def as_array(embeddings: Any) -> np.ndarray:
    """A numpy array of a tensor (on any device; bfloat16 becomes float32), an array, or a list of numbers."""
    if isinstance(embeddings, np.ndarray):
        return embeddings
    tensor = to_tensor(embeddings).detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def array_matrix(embeddings: Any, name: str, allow_quantized: bool = False) -> np.ndarray:
    """A finite 2-D numpy array (1-D becomes one row): float32, or int8/uint8 as they are when allowed."""
    if isinstance(embeddings, torch.Tensor) and not embeddings.is_floating_point():
        embeddings = embeddings.cpu().numpy()
    array = np.atleast_2d(as_array(embeddings))
    _check_rank(array.shape, name)
    if is_quantized(array):
        if not allow_quantized:
            raise ValueError(f"{name} must be float embeddings, got dtype {array.dtype}")
        return array
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be float embeddings, got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    check_finite(array, name)
    return array


def check_finite(embeddings: torch.Tensor | np.ndarray, name: str, offset: int = 0) -> None:
    """Refuse NaN or inf, naming the first offending row; one cheap reduction in the common case."""
    if isinstance(embeddings, np.ndarray):
        if embeddings.size == 0 or np.isfinite(embeddings.sum()):
            return
        bad_rows = np.flatnonzero(~np.isfinite(embeddings.reshape(len(embeddings), -1)).all(axis=-1))
    else:
        if embeddings.numel() == 0 or torch.isfinite(embeddings.sum()):
            return
        bad_rows = (~torch.isfinite(embeddings.reshape(len(embeddings), -1)).all(dim=-1)).nonzero().flatten().tolist()
    if len(bad_rows):
        raise ValueError(f"{name}[{offset + int(bad_rows[0])}] contains NaN or inf")
    raise ValueError(f"{name} values are so large that their sum overflows; scale them down")


def check_default_prompt_name(name: str | None, prompts: dict[str, str]) -> str | None:
    """`name` when it is None or one of `prompts`; ValueError listing the prompts otherwise."""
    if name is not None and name not in prompts:
        raise ValueError(
            f"Default prompt name {name!r} not found in the configured prompts dictionary with keys {list(prompts)}."
        )
    return name


def resolve_prompt(
    prompts: dict[str, str], prompt: str | None, prompt_name: str | None, default_prompt_name: str | None = None
) -> str | None:
    """The prompt text to use: `prompt` beats `prompt_name` (a warning says so when both are given), which beats
    `default_prompt_name`. A `prompt_name` missing from `prompts` is a ValueError listing them."""
    if prompt is not None:
        if prompt_name is not None:
            logger.warning(
                "Provide either a `prompt`, a `prompt_name`, or neither, but not both. "
                "Ignoring the `prompt_name` in favor of `prompt`."
            )
        return prompt
    if prompt_name is not None:
        if prompt_name not in prompts:
            raise ValueError(
                f"Prompt name {prompt_name!r} not found in the configured prompts dictionary with keys {list(prompts)}."
            )
        return prompts[prompt_name]
    if default_prompt_name is not None:
        return prompts[default_prompt_name]
    return None
