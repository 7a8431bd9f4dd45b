"""`InputModule`: what the first module of a model provides, so that any such module can lead a pipeline."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

import torch

from sentembed.common.checks import check_choice
from sentembed.common.types import Row
from sentembed.models.base import Module

# Per-call processing options (`encode(..., processing_kwargs=...)`): keyword arguments for the tokenizer or
# processor call, by modality ("text", ...), "common" for every modality, "chat_template" for chat inputs.
ProcessingKwargs = dict[str, dict[str, Any]]
PROCESSING_KWARGS_KEYS = ("text", "image", "audio", "video", "common", "chat_template")


def check_processing_kwargs(processing_kwargs: Any) -> ProcessingKwargs:
    """Per-call `processing_kwargs` as a dict ({} for None): keys from `PROCESSING_KWARGS_KEYS`, each holding a
    dict of keyword arguments. A ValueError names an unknown key, a TypeError a value that is not a dict."""
    if processing_kwargs is None:
        return {}
    if not isinstance(processing_kwargs, dict):
        raise TypeError(
            "processing_kwargs must be a dict by modality, such as {'text': {'max_length': 128}}, got "
            f"{type(processing_kwargs).__name__}"
        )
    for key, options in processing_kwargs.items():
        check_choice(key, PROCESSING_KWARGS_KEYS, "processing_kwargs key")
        if not isinstance(options, dict):
            raise TypeError(
                f"processing_kwargs[{key!r}] must be a dict of keyword arguments, got {type(options).__name__}"
            )
    return processing_kwargs


def with_processing_kwargs(
    method: Callable[..., Any], processing_kwargs: ProcessingKwargs | None
) -> Callable[..., Any]:
    """An input module's tokenizing `method` with per-call `processing_kwargs` bound (`method` itself when there
    are none); a TypeError when the module's method takes no `processing_kwargs`."""
    if not processing_kwargs:
        return method
    if "processing_kwargs" not in inspect.signature(method).parameters:
        owner = type(getattr(method, "__self__", method)).__name__
        raise TypeError(
            f"{owner}.{method.__name__} takes no processing_kwargs: per-call processing options need an input "
            "module that tokenizes with them, such as Transformer"
        )
    return functools.partial(method, processing_kwargs=processing_kwargs)


class InputModule(Module):
    """The first module: turns texts into token rows and padded batches, and saves and loads itself.

    `SentenceTransformer` works with any InputModule as module 0. Subclasses implement `tokenize_unpadded`
    and `pad`; `load(path, **load_kwargs)` receives the caller's loading options (cache folder, token,
    trust_remote_code, model/tokenizer/config kwargs, backend) and may ignore those it has no use for.
    """

    save_in_root: bool = False
    """True when the module's files go at the model folder's root (as the Transformer's checkpoint does)."""
    tokenizer: Any = None

    @property
    def max_seq_length(self) -> int | None:
        """The most tokens a text keeps; None when the module has no limit."""
        return None

    def tokenize_unpadded(self, texts: list[str]) -> tuple[list[Row], int]:
        """Tokenize texts without padding (batches are padded later, by length).

        Args:
            texts: The texts.

        Returns:
            (token rows, one per text, each with `input_ids`; how many texts were cut at `max_seq_length`).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement tokenize_unpadded")

    def pad(self, rows: list[Row]) -> dict[str, torch.Tensor]:
        """One batch of tensors from token rows, ready for `forward`.

        Args:
            rows: Token rows from `tokenize_unpadded`.

        Returns:
            Feature name -> padded tensor.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement pad")

    def tokenize(self, texts: list[str], padding: str | bool = True) -> dict[str, torch.Tensor]:
        """Texts straight to one padded batch.

        Args:
            texts: The texts.
            padding: Kept for the reference's signature; batches are always padded to their longest row.

        Returns:
            Feature name -> padded tensor.
        """
        return self.pad(self.tokenize_unpadded(texts)[0])

    def prompt_length(self, prompt: str) -> int:
        """How many leading tokens of a prompted text belong to the prompt, so that pooling can leave them out.

        Args:
            prompt: The prompt text.

        Returns:
            Its token count: the start token counts, the end token does not.
        """
        return len(self.tokenize_unpadded([prompt])[0][0]["input_ids"]) - 1
