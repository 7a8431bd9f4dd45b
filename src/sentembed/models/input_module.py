"""`InputModule`: what the first module of a model provides, so that any such module can lead a pipeline."""

from __future__ import annotations

from typing import Any

import torch

from sentembed.common.types import Row
from sentembed.models.base import Module


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
        """Token rows, one per text (each with `input_ids`), and how many texts were cut at `max_seq_length`."""
        raise NotImplementedError(f"{type(self).__name__} must implement tokenize_unpadded")

    def pad(self, rows: list[Row]) -> dict[str, torch.Tensor]:
        """One batch of tensors from token rows, ready for `forward`."""
        raise NotImplementedError(f"{type(self).__name__} must implement pad")

    def tokenize(self, texts: list[str], padding: str | bool = True) -> dict[str, torch.Tensor]:
        """Texts straight to one padded batch."""
        return self.pad(self.tokenize_unpadded(texts)[0])

    def prompt_length(self, prompt: str) -> int:
        """How many leading tokens of a prompted text belong to the prompt (the start token counts; the end
        token does not), so that pooling can leave them out."""
        return len(self.tokenize_unpadded([prompt])[0][0]["input_ids"]) - 1
