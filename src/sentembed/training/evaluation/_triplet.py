"""TripletEvaluator: how often the anchor is closer to its positive than to its negative."""

from __future__ import annotations

from typing import Any

import numpy as np

from sentembed.common.protocols import EncoderModel
from sentembed.similarity import SimilarityFunction, SimilarityName
from sentembed.training.evaluation._base import SentenceEvaluator, check_same_length


class TripletEvaluator(SentenceEvaluator):
    """Accuracy of sim(anchor, positive) > sim(anchor, negative) + margin, per similarity function.

    Args:
        anchors: The anchor texts.
        positives: One text per anchor that should be closer to it.
        negatives: One text per anchor that should be farther from it.
        main_similarity_function: The function whose accuracy is the primary metric. Default None: the best.
        margin: How much closer the positive must be: one number, or one per similarity function name.
            Default None: 0.
        name: A name for the data, put before every metric and in the CSV file's name. Default "".
        batch_size: Texts per `encode` batch. Default 16.
        show_progress_bar: Show progress while encoding. Default False.
        write_csv: Append the metrics to a CSV file in the `output_path` of each call. Default True.
        truncate_dim: Evaluate embeddings cut to this many dimensions. Default None: the model's.
        similarity_fn_names: The similarity functions to score with ("cosine", "dot", "euclidean",
            "manhattan"). Default None: the model's `similarity_fn_name`.
    """

    def __init__(
        self,
        anchors: list[str],
        positives: list[str],
        negatives: list[str],
        main_similarity_function: str | SimilarityFunction | None = None,
        margin: float | dict[str, float] | None = None,
        name: str = "",
        batch_size: int = 16,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
        similarity_fn_names: list[SimilarityName] | None = None,
    ) -> None:
        super().__init__(name, write_csv)
        check_same_length(anchors=anchors, positives=positives, negatives=negatives)
        self.anchors, self.positives, self.negatives = list(anchors), list(positives), list(negatives)
        self.main_similarity = (
            None if main_similarity_function is None else SimilarityFunction.parse(main_similarity_function)
        )
        self.margin = margin
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.truncate_dim = truncate_dim
        self.similarity_fn_names = [SimilarityFunction.parse(fn).value for fn in similarity_fn_names or []]

    @classmethod
    def from_input_examples(cls, examples: list, **kwargs: Any) -> TripletEvaluator:
        """The evaluator of InputExamples holding (anchor, positive, negative) (the legacy way to give the data).

        Args:
            examples: The InputExamples.
            **kwargs: The evaluator's other arguments.

        Returns:
            The evaluator.

        Raises:
            ValueError: An example without exactly three texts.
        """
        for index, example in enumerate(examples):
            if len(getattr(example, "texts", ())) != 3:
                raise ValueError(
                    f"TripletEvaluator.from_input_examples: examples[{index}] must be an InputExample with three "
                    f"texts (anchor, positive, negative), got {example!r}"
                )
        anchors, positives, negatives = ([example.texts[i] for example in examples] for i in range(3))
        return cls(anchors, positives, negatives, **kwargs)

    def _margin(self, fn_name: str) -> float:
        if isinstance(self.margin, dict):
            return float(self.margin.get(fn_name, 0.0))
        return float(self.margin or 0.0)

    def __call__(self, model: EncoderModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        options: dict[str, Any] = dict(
            batch_size=self.batch_size, show_progress_bar=self.show_progress_bar, convert_to_numpy=True
        )
        options["truncate_dim"] = self.truncate_dim
        anchors = model.encode(self.anchors, **options)
        positives = model.encode(self.positives, **options)
        negatives = model.encode(self.negatives, **options)
        fn_names = self.similarity_fn_names or [model.similarity_fn_name or "cosine"]
        metrics = {}
        for fn_name in fn_names:
            pairwise = SimilarityFunction.to_similarity_pairwise_fn(fn_name)
            positive_scores = pairwise(anchors, positives).cpu().numpy()
            negative_scores = pairwise(anchors, negatives).cpu().numpy()
            metrics[f"{fn_name}_accuracy"] = float(np.mean(positive_scores > negative_scores + self._margin(fn_name)))
        self.save_csv(output_path, epoch, steps, metrics)
        if len(fn_names) > 1:
            metrics["max_accuracy"] = max(metrics.values())
        if self.main_similarity is not None:
            self.primary_metric = f"{self.main_similarity.value}_accuracy"
        else:
            self.primary_metric = "max_accuracy" if len(fn_names) > 1 else f"{fn_names[0]}_accuracy"
        return self.prefix_name_to_metrics(metrics)
