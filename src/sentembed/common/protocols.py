"""What the lower floors need of a model, as typing Protocols.

Training, evaluation, search, chunking and the store work on `SentenceTransformer` and `CrossEncoder`, which live
on a higher floor and so cannot be imported there. These Protocols name the members those floors use, so that
their signatures say "an encoder" or "a pair scorer" instead of `Any`, and a type checker verifies every use.
They are structural: any object with these members fits (a model class of ours, a stand-in in a test), and
nothing checks them at run time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol, Union

import torch

__all__ = ["EncoderModel", "PairModel", "TrainableEncoderModel", "TrainableModel", "TrainablePairModel"]


class EncoderModel(Protocol):
    """A model that embeds texts (a `SentenceTransformer`): what evaluators, mining, chunking and the store use."""

    @property
    def similarity_fn_name(self) -> str | None:
        """The name of the similarity function `similarity` applies ("cosine", "dot", ...)."""
        ...

    @property
    def max_seq_length(self) -> float | None:
        """The most tokens a text keeps (None or `math.inf` when unlimited)."""
        ...

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of the model's input module."""
        ...

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        """Embeddings of one text or a list of texts (a numpy array, a tensor or a list, as the options ask)."""
        ...

    def encode_query(self, *args: Any, **kwargs: Any) -> Any:
        """`encode` with the query prompt and route."""
        ...

    def encode_document(self, *args: Any, **kwargs: Any) -> Any:
        """`encode` with the document prompt and route."""
        ...

    def similarity(self, embeddings1: Any, embeddings2: Any) -> torch.Tensor:
        """The (n, m) matrix of the model's similarity between two sets of embeddings."""
        ...

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> torch.Tensor:
        """The model's similarity of each row of `embeddings1` with the same row of `embeddings2`."""
        ...

    def get_embedding_dimension(self) -> int | None:
        """The width of the sentence embeddings (None when the model cannot tell)."""
        ...

    def start_multi_process_pool(self, *args: Any, **kwargs: Any) -> Any:
        """A pool of worker processes for `encode(pool=...)`."""
        ...


class TrainableEncoderModel(EncoderModel, Protocol):
    """An `EncoderModel` that trainers and losses run as a torch module: features in, `sentence_embedding` out."""

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are."""
        ...

    model_card_data: Any
    """What the model card records (datasets, losses, evaluation metrics)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The forward pass: a dict of features to a dict holding `sentence_embedding`."""
        ...

    def eval(self) -> Any:
        """Switch to inference mode (no dropout)."""
        ...

    def tokenize(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Texts to one padded batch of features."""
        ...

    def preprocess(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Texts (with an optional prompt) to one padded batch of features, as the forward pass reads them."""
        ...

    def prompt_length(self, *args: Any, **kwargs: Any) -> int:
        """How many leading tokens of a prompted text are the prompt's."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]:
        """The trainable tensors."""
        ...

    def save(self, *args: Any, **kwargs: Any) -> Any:
        """Write the model's folder."""
        ...


class PairModel(Protocol):
    """A model that scores text pairs (a `CrossEncoder`): what the cross-encoder evaluators use."""

    @property
    def num_labels(self) -> int:
        """How many scores each pair gets (1 for a relevance score)."""
        ...

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Scores of one pair or a list of pairs (a numpy array, a tensor or a list, as the options ask)."""
        ...

    def rank(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """Documents ordered by their score against a query, as `{"corpus_id", "score"}` dicts."""
        ...


class TrainablePairModel(PairModel, Protocol):
    """A `PairModel` that cross-encoder losses and trainers run with gradients."""

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are."""
        ...

    @property
    def classifier(self) -> Any:
        """The module that tokenizes, pads and scores pairs (`tokenize_pairs_unpadded`, `pad`, `logits`)."""
        ...

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of the classifier."""
        ...

    model_card_data: Any
    """What the model card records (datasets, losses, evaluation metrics)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The forward pass: a dict of features to a dict holding the logits."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]:
        """The trainable tensors."""
        ...

    def save(self, *args: Any, **kwargs: Any) -> Any:
        """Write the model's folder."""
        ...


TrainableModel = Union[TrainableEncoderModel, TrainablePairModel]
"""Either kind of model, where the legacy `fit` and its callbacks treat both alike (they only save it)."""
