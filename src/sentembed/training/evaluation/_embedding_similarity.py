"""EmbeddingSimilarityEvaluator: correlation of embedding similarities with gold scores (STS)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sentembed.common.protocols import EncoderModel
from sentembed.common.types import Precision
from sentembed.similarity import SimilarityFunction, SimilarityName
from sentembed.training.evaluation._base import (
    SentenceEvaluator,
    check_precision,
    check_same_length,
    quantized_as_float,
)
from sentembed.training.evaluation._metrics import pearson, spearman


class EmbeddingSimilarityEvaluator(SentenceEvaluator):
    """Pearson and Spearman correlation between gold scores and each similarity function's scores.

    Args:
        sentences1: The pairs' first texts.
        sentences2: The pairs' second texts.
        scores: The gold similarity of each pair (any scale, e.g. 0 to 5).
        batch_size: Texts per `encode` batch. Default 16.
        main_similarity: The similarity function whose Spearman correlation is the primary metric. Default None:
            the best of them.
        similarity_fn_names: The similarity functions to score with ("cosine", "dot", "euclidean",
            "manhattan"). Default None: the model's `similarity_fn_name`.
        name: A name for the data, put before every metric and in the CSV file's name. Default "".
        show_progress_bar: Show progress while encoding. Default False.
        write_csv: Append the metrics to a CSV file in the `output_path` of each call. Default True.
        precision: Quantize the (normalised) embeddings to "int8", "uint8", "binary" or "ubinary" before
            scoring. Default None: float32.
        truncate_dim: Evaluate embeddings cut to this many dimensions. Default None: the model's.

    Raises:
        ValueError: Lists of different lengths, or an unknown precision or similarity function.
    """

    def __init__(
        self,
        sentences1: list[str],
        sentences2: list[str],
        scores: list[float],
        batch_size: int = 16,
        main_similarity: SimilarityName | SimilarityFunction | None = None,
        similarity_fn_names: list[SimilarityName] | None = None,
        name: str = "",
        show_progress_bar: bool = False,
        write_csv: bool = True,
        precision: Precision | None = None,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__(name, write_csv)
        check_same_length(sentences1=sentences1, sentences2=sentences2, scores=scores)
        check_precision(precision)
        self.sentences1, self.sentences2, self.scores = list(sentences1), list(sentences2), list(scores)
        self.batch_size = batch_size
        self.main_similarity = None if main_similarity is None else SimilarityFunction.parse(main_similarity)
        self.similarity_fn_names = [SimilarityFunction.parse(fn).value for fn in similarity_fn_names or []]
        self.show_progress_bar = show_progress_bar
        self.precision = precision
        self.truncate_dim = truncate_dim

    @classmethod
    def from_input_examples(cls, examples: list, **kwargs: Any) -> EmbeddingSimilarityEvaluator:
        """The evaluator of scored InputExample pairs (the legacy way to give the data).

        Args:
            examples: InputExamples with two texts and a gold score each.
            **kwargs: The evaluator's other arguments.

        Returns:
            The evaluator.
        """
        first, second = [e.texts[0] for e in examples], [e.texts[1] for e in examples]
        return cls(first, second, [e.label for e in examples], **kwargs)

    def _embed_pairs(self, model: EncoderModel) -> tuple[np.ndarray, np.ndarray]:
        options = dict(
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True,
            precision=self.precision or "float32",
            normalize_embeddings=bool(self.precision),
            truncate_dim=self.truncate_dim,
        )
        if self.precision in ("int8", "uint8"):
            both = model.encode(self.sentences1 + self.sentences2, **options)
            first, second = both[: len(self.sentences1)], both[len(self.sentences1) :]
        else:
            first, second = model.encode(self.sentences1, **options), model.encode(self.sentences2, **options)
        return quantized_as_float(first, self.precision), quantized_as_float(second, self.precision)

    def __call__(self, model: EncoderModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        first, second = self._embed_pairs(model)
        fn_names = self.similarity_fn_names or [model.similarity_fn_name or "cosine"]
        metrics: dict[str, float] = {}
        for fn_name in fn_names:
            predicted = SimilarityFunction.to_similarity_pairwise_fn(fn_name)(first, second).cpu().numpy()
            metrics[f"pearson_{fn_name}"] = pearson(self.scores, predicted)
            metrics[f"spearman_{fn_name}"] = spearman(self.scores, predicted)
        self.save_csv(output_path, epoch, steps, metrics)
        if len(fn_names) > 1:
            metrics["pearson_max"] = max(metrics[f"pearson_{fn}"] for fn in fn_names)
            metrics["spearman_max"] = max(metrics[f"spearman_{fn}"] for fn in fn_names)
        self.primary_metric = self._primary(fn_names)
        return self.prefix_name_to_metrics(metrics)

    def _primary(self, fn_names: list[str]) -> str:
        if self.main_similarity is not None:
            return f"spearman_{self.main_similarity.value}"
        return "spearman_max" if len(fn_names) > 1 else f"spearman_{fn_names[0]}"

    @property
    def description(self) -> str:
        return "Semantic Similarity"
