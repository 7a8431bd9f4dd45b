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
        """Embed one text or a list of texts (`SentenceTransformer.encode`).

        Returns:
            The embeddings: a numpy array, a tensor or a list, as the options ask.
        """
        ...

    def encode_query(self, *args: Any, **kwargs: Any) -> Any:
        """`encode` with the query prompt and route.

        Returns:
            The embeddings, as `encode` gives them.
        """
        ...

    def encode_document(self, *args: Any, **kwargs: Any) -> Any:
        """`encode` with the document prompt and route.

        Returns:
            The embeddings, as `encode` gives them.
        """
        ...

    def similarity(self, embeddings1: Any, embeddings2: Any) -> torch.Tensor:
        """The model's similarity between every pair of rows of two sets of embeddings.

        Args:
            embeddings1: n embeddings.
            embeddings2: m embeddings.

        Returns:
            An (n, m) tensor.
        """
        ...

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> torch.Tensor:
        """The model's similarity of each row of `embeddings1` with the same row of `embeddings2`.

        Args:
            embeddings1: n embeddings.
            embeddings2: n embeddings.

        Returns:
            An (n,) tensor.
        """
        ...

    def get_embedding_dimension(self) -> int | None:
        """The width of the sentence embeddings.

        Returns:
            The dimension, or None when the model cannot tell.
        """
        ...

    def start_multi_process_pool(self, *args: Any, **kwargs: Any) -> Any:
        """Start worker processes for `encode(pool=...)`.

        Returns:
            The pool.
        """
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
        """Switch to inference mode (no dropout).

        Returns:
            The model itself.
        """
        ...

    def tokenize(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Tokenize texts into one padded batch.

        Returns:
            The features, by name.
        """
        ...

    def preprocess(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Texts (with an optional prompt) to one padded batch, as the forward pass reads it.

        Returns:
            The features, by name.
        """
        ...

    def prompt_length(self, *args: Any, **kwargs: Any) -> int:
        """How many leading tokens of a prompted text are the prompt's.

        Returns:
            The number of tokens.
        """
        ...

    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]:
        """The model's parameters.

        Args:
            recurse: Include the submodules' parameters too.

        Returns:
            The parameters.
        """
        ...

    def save(self, *args: Any, **kwargs: Any) -> Any:
        """Write the model's folder.

        Returns:
            Whatever the model's `save` returns (nothing, for ours).
        """
        ...


class PairModel(Protocol):
    """A model that scores text pairs (a `CrossEncoder`): what the cross-encoder evaluators use."""

    @property
    def num_labels(self) -> int:
        """How many scores each pair gets (1 for a relevance score)."""
        ...

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Score one pair or a list of pairs (`CrossEncoder.predict`).

        Returns:
            The scores: a numpy array, a tensor or a list, as the options ask.
        """
        ...

    def rank(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """Order documents by their score against a query (`CrossEncoder.rank`).

        Returns:
            `{"corpus_id", "score"}` dicts, best first.
        """
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
        """The model's parameters.

        Args:
            recurse: Include the submodules' parameters too.

        Returns:
            The parameters.
        """
        ...

    def save(self, *args: Any, **kwargs: Any) -> Any:
        """Write the model's folder.

        Returns:
            Whatever the model's `save` returns (nothing, for ours).
        """
        ...


TrainableModel = Union[TrainableEncoderModel, TrainablePairModel]
"""Either kind of model, where the legacy `fit` and its callbacks treat both alike (they only save it)."""
