"""`SimilarityFunction`: the names a model can store as `similarity_fn_name`."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Literal

import torch

from sentembed.similarity import _functions as fn
from sentembed.similarity import _multi_vector as multi_vector

ScoreFn = Callable[..., torch.Tensor]
SimilarityName = Literal["cosine", "dot", "euclidean", "manhattan", "maxsim", "meanmaxsim"]
"""A `SimilarityFunction` by its value, as `similarity_fn_name` and the evaluators' function names take it."""


class SimilarityFunction(str, Enum):
    """A similarity function name, as saved in `config_sentence_transformers.json`. The MaxSim ones score
    multi-vector (token) embeddings; a `SentenceTransformer` uses the other four."""

    COSINE = "cosine"
    DOT_PRODUCT = "dot"
    DOT = "dot"
    EUCLIDEAN = "euclidean"
    MANHATTAN = "manhattan"
    MAXSIM = "maxsim"
    MEAN_MAXSIM = "meanmaxsim"

    @classmethod
    def parse(cls, value: str | SimilarityFunction) -> SimilarityFunction:
        """The member a name stands for.

        Args:
            value: A member, or its value: "cosine", "dot", "euclidean", "manhattan", "maxsim" or "meanmaxsim".

        Returns:
            The member.

        Raises:
            ValueError: Any other value, with the valid ones listed.
        """
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown similarity_fn_name {value!r}; expected one of {cls.possible_values()}") from None

    @staticmethod
    def possible_values() -> list[str]:
        """The valid names.

        Returns:
            Every member's value, once each (the DOT alias is DOT_PRODUCT's "dot").
        """
        return [member.value for member in SimilarityFunction]  # iteration skips the DOT alias

    @staticmethod
    def to_similarity_fn(value: str | SimilarityFunction) -> ScoreFn:
        """The function that scores every pair of two sets of embeddings with this similarity.

        Args:
            value: A member or its value (see `parse`).

        Returns:
            A function of (a, b) giving a tensor of shape (len(a), len(b)), higher meaning more similar, such as
            `cos_sim` for "cosine".

        Raises:
            ValueError: An unknown value.
        """
        return _ALL_PAIRS[SimilarityFunction.parse(value)]

    @staticmethod
    def to_similarity_pairwise_fn(value: str | SimilarityFunction) -> ScoreFn:
        """The function that scores row i of one set of embeddings with row i of another.

        Args:
            value: A member or its value (see `parse`).

        Returns:
            A function of (a, b) giving a tensor of shape (n,), such as `pairwise_cos_sim` for "cosine".

        Raises:
            ValueError: An unknown value.
        """
        return _PAIRWISE[SimilarityFunction.parse(value)]


_ALL_PAIRS = {
    SimilarityFunction.COSINE: fn.cos_sim,
    SimilarityFunction.DOT: fn.dot_score,
    SimilarityFunction.EUCLIDEAN: fn.euclidean_sim,
    SimilarityFunction.MANHATTAN: fn.manhattan_sim,
    SimilarityFunction.MAXSIM: multi_vector.maxsim,
    SimilarityFunction.MEAN_MAXSIM: multi_vector.mean_maxsim,
}
_PAIRWISE = {
    SimilarityFunction.COSINE: fn.pairwise_cos_sim,
    SimilarityFunction.DOT: fn.pairwise_dot_score,
    SimilarityFunction.EUCLIDEAN: fn.pairwise_euclidean_sim,
    SimilarityFunction.MANHATTAN: fn.pairwise_manhattan_sim,
    SimilarityFunction.MAXSIM: multi_vector.maxsim_pairwise,
    SimilarityFunction.MEAN_MAXSIM: multi_vector.mean_maxsim_pairwise,
}
