"""InputExample: one training row for the legacy `fit` API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class InputExample:
    """A row of texts (anchor, positive, ...) with an optional label; `guid` is an optional identifier.

    Attributes:
        guid: An identifier. Default "".
        texts: The row's texts.
        label: Its label (a number, or an array for distillation). Default 0.

    Raises:
        TypeError: Texts that are not a list of strings.
    """

    guid: str = ""
    texts: list[str] = field(default_factory=list)
    label: Any = 0

    def __post_init__(self) -> None:
        if isinstance(self.texts, str) or not all(isinstance(text, str) for text in self.texts):
            raise TypeError(f"InputExample texts must be a list of str, got {self.texts!r}")

    def __str__(self) -> str:
        return f"<InputExample> label: {self.label}, texts: {'; '.join(self.texts)}"
