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
    """The argument `new`, taken from `kwargs[old]` when the caller used its deprecated name (logged once).

    Args:
        value: What the caller passed as `new` (None when not given).
        kwargs: The caller's other keyword arguments; `old` is popped from them.
        old: The deprecated name.
        new: The current name.
        caller: The function's name, for the error messages.

    Returns:
        The argument's value.

    Raises:
        TypeError: Neither name given, or both.
    """
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
    """Check a count or size argument.

    Args:
        value: The value to check: a positive integer (numpy integers too, bools never).
        name: The argument's name, for the error message.
        optional: Whether None is allowed. Default False.

    Returns:
        The value as an int, or None when it is None and optional.

    Raises:
        ValueError: Anything else.
    """
    if value is None and optional:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or value <= 0:
        expected = "a positive integer or None" if optional else "a positive integer"
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def check_positive_float(value: Any, name: str, optional: bool = False) -> float | None:
    """Check a positive real argument (a timeout, a rate).

    Args:
        value: The value to check: a positive finite real number (bools never).
        name: The argument's name, for the error message.
        optional: Whether None is allowed. Default False.

    Returns:
        The value as a float, or None when it is None and optional.

    Raises:
        ValueError: Anything else.
    """
    if value is None and optional:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a positive finite number{' or None' if optional else ''}, got {value!r}")
    return float(value)


def check_port(value: Any, name: str = "port") -> int:
    """Check a TCP port number.

    Args:
        value: The value to check: an integer from 0 to 65535 (0 lets the system choose).
        name: The argument's name, for the error message. Default "port".

    Returns:
        The port as an int.

    Raises:
        ValueError: Anything else.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) or not 0 <= value <= 65535:
        raise ValueError(f"{name} must be an integer from 0 to 65535, got {value!r}")
    return int(value)


def check_choice(value: Any, choices: Collection[Any], name: str) -> Any:
    """Refuse a value outside `choices`, listing them.

    Args:
        value: The value to check.
        choices: The allowed values.
        name: What the value is, for the error message.

    Returns:
        The value.

    Raises:
        ValueError: A value outside `choices`.
    """
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {list(choices)}")
    return value


def check_text(value: Any, name: str) -> str:
    """Check one text argument.

    Args:
        value: The value to check: a str of valid Unicode.
        name: The argument's name, for the error message.

    Returns:
        The text.

    Raises:
        TypeError: A value that is not a str.
        ValueError: A str holding a lone surrogate, which no tokenizer can read.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if not value.isascii():
        _check_unicode(value, name)
    return value


def check_text_list(texts: Any, name: str) -> list[str]:
    """Check a list of texts.

    Args:
        texts: A sequence (list, tuple, numpy array, ...) of strings.
        name: The argument's name, for the error message.

    Returns:
        The texts as a list.

    Raises:
        TypeError: A value that is not a sequence, or an item that is not a str (naming the first).
        ValueError: A text holding a lone surrogate.
    """
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
    """Check an argument that is one text or a list of them.

    Args:
        texts: A str, or a sequence of strings.
        name: The argument's name, for the error message. Default "sentences".

    Returns:
        (the texts as a list, whether a single string was given).

    Raises:
        TypeError: Anything else, naming the first item that is not a str.
        ValueError: A text holding a lone surrogate.
    """
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
    """Embeddings as a floating-point tensor, without copying where possible.

    Args:
        embeddings: A tensor, a numpy array, a list of numbers (or of lists), or a list of tensors (stacked).

    Returns:
        A float tensor (integers become float32) on the input's device.

    Raises:
        TypeError: Anything else.
    """
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
    """Like `to_tensor`, and a single 1-D vector becomes a (1, dim) matrix.

    Args:
        embeddings: A tensor, a numpy array or a list.

    Returns:
        A float tensor with at least 2 dimensions.

    Raises:
        TypeError: Anything else.
    """
    tensor = to_tensor(embeddings)
    return tensor.unsqueeze(0) if tensor.dim() == 1 else tensor


def _check_rank(shape: tuple[int, ...], name: str) -> None:
    if len(shape) != 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got shape {tuple(shape)}")


def tensor_matrix(embeddings: Any, name: str) -> torch.Tensor:
    """Embeddings as a 2-D float tensor on the input's device (a single vector becomes one row).

    Args:
        embeddings: A tensor, a numpy array or a list.
        name: The argument's name, for the error message.

    Returns:
        A (n, dim) float tensor.

    Raises:
        TypeError: Anything but a tensor, an array or a list.
        ValueError: Embeddings of more than 2 dimensions.
    """
    matrix = to_matrix(embeddings)
    _check_rank(tuple(matrix.shape), name)
    return matrix


def is_quantized(array: np.ndarray) -> bool:
    """Whether embeddings are quantized (see `quantize_embeddings`).

    Args:
        array: The embeddings.

    Returns:
        True for int8 or uint8 arrays.
    """
    return array.dtype in (np.int8, np.uint8)


def as_array(embeddings: Any) -> np.ndarray:
    """Embeddings as a numpy array.

    Args:
        embeddings: A tensor (on any device; bfloat16 becomes float32), a numpy array (returned as it is), or a
            list.

    Returns:
        The numpy array.

    Raises:
        TypeError: Anything else.
    """
    if isinstance(embeddings, np.ndarray):
        return embeddings
    tensor = to_tensor(embeddings).detach().cpu()
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).numpy()


def array_matrix(embeddings: Any, name: str, allow_quantized: bool = False) -> np.ndarray:
    """Embeddings as a finite 2-D numpy array (1-D becomes one row).

    Args:
        embeddings: A tensor, a numpy array or a list.
        name: The argument's name, for the error messages.
        allow_quantized: Return int8/uint8 embeddings as they are instead of refusing them. Default False.

    Returns:
        A float32 (n, dim) array, or the int8/uint8 one when allowed.

    Raises:
        TypeError: Anything but a tensor, an array or a list.
        ValueError: Embeddings of more than 2 dimensions, of a non-numeric dtype, quantized when not allowed,
            or holding NaN or inf.
    """
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
    """Refuse NaN or inf, naming the first offending row; one cheap reduction in the common case.

    Args:
        embeddings: A tensor or a numpy array, rows first.
        name: The argument's name, for the error message.
        offset: Added to the row number in the message (for a chunk of a larger set). Default 0.

    Raises:
        ValueError: A row holding NaN or inf, or values whose sum overflows.
    """
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
    `default_prompt_name`.

    Args:
        prompts: The model's prompts, name -> text.
        prompt: A prompt text given by the caller, or None.
        prompt_name: The name of one of `prompts`, or None.
        default_prompt_name: The model's default prompt name (one of `prompts`), or None.

    Returns:
        The prompt text, or None for no prompt.

    Raises:
        ValueError: A `prompt_name` missing from `prompts`, listing them.
    """
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
