"""BinaryClassificationEvaluator: how well a similarity threshold separates similar from dissimilar pairs."""

from __future__ import annotations

from typing import Any

import numpy as np

from sentembed.common.protocols import EncoderModel
from sentembed.similarity import SimilarityFunction, SimilarityName
from sentembed.training.evaluation._base import SentenceEvaluator, check_same_length
from sentembed.training.evaluation._metrics import (
    average_precision,
    best_accuracy_threshold,
    best_f1_threshold,
    matthews_correlation,
)


def check_binary_labels(labels: list) -> None:
    unexpected = sorted({label for label in labels if label not in (0, 1)}, key=str)
    if unexpected:
        raise ValueError(f"labels must be 0 or 1, got {unexpected[:5]}")


def pair_distances(fn_name: str, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, bool]:
    """Scores of each pair and whether higher means more similar (distances are reported as positive)."""
    scores = SimilarityFunction.to_similarity_pairwise_fn(fn_name)(first, second).cpu().numpy()
    if fn_name in ("euclidean", "manhattan"):
        return -scores, False
    return scores, True


class BinaryClassificationEvaluator(SentenceEvaluator):
    """Accuracy, F1, precision, recall, average precision and MCC of a best-threshold classifier.

    Each pair's embeddings are scored with each similarity function, and the best cut-off on those scores
    tells similar pairs (label 1) from dissimilar ones (label 0). The primary metric is the average precision.

    Args:
        sentences1: The pairs' first texts.
        sentences2: The pairs' second texts.
        labels: 1 (similar) or 0 per pair.
        name: A name for the data, put before every metric and in the CSV file's name. Default "".
        batch_size: Texts per `encode` batch. Default 32.
        show_progress_bar: Show progress while encoding. Default False.
        write_csv: Append the metrics to a CSV file in the `output_path` of each call. Default True.
        truncate_dim: Evaluate embeddings cut to this many dimensions. Default None: the model's.
        similarity_fn_names: The similarity functions to score with ("cosine", "dot", "euclidean",
            "manhattan"). Default None: the model's `similarity_fn_name`.

    Raises:
        ValueError: Lists of different lengths, or labels other than 0 and 1.
    """

    def __init__(
        self,
        sentences1: list[str],
        sentences2: list[str],
        labels: list[int],
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
        truncate_dim: int | None = None,
        similarity_fn_names: list[SimilarityName] | None = None,
    ) -> None:
        super().__init__(name, write_csv)
        check_same_length(sentences1=sentences1, sentences2=sentences2, labels=labels)
        check_binary_labels(labels)
        self.sentences1, self.sentences2, self.labels = list(sentences1), list(sentences2), list(labels)
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.truncate_dim = truncate_dim
        self.similarity_fn_names = [SimilarityFunction.parse(fn).value for fn in similarity_fn_names or []]

    @staticmethod
    def find_best_acc_and_threshold(scores: Any, labels: Any, high_score_more_similar: bool) -> tuple[float, float]:
        """The best accuracy of a cut-off on `scores`, and that cut-off.

        Args:
            scores: one score per pair.
            labels: 1 (similar) or 0 per pair.
            high_score_more_similar: True for similarities (pairs scoring at or above the cut-off are predicted
                similar), False for distances (at or below it).

        Returns:
            (the accuracy, the cut-off).
        """
        return best_accuracy_threshold(np.asarray(scores), np.asarray(labels), high_score_more_similar)

    @staticmethod
    def find_best_f1_and_threshold(
        scores: Any, labels: Any, high_score_more_similar: bool
    ) -> tuple[float, float, float, float]:
        """F1, precision and recall at the cut-off on `scores` that maximises F1, and that cut-off.

        Args:
            scores: one score per pair.
            labels: 1 (similar) or 0 per pair.
            high_score_more_similar: True for similarities, False for distances.

        Returns:
            (F1, precision, recall, the cut-off).
        """
        return best_f1_threshold(np.asarray(scores), np.asarray(labels), high_score_more_similar)

    @classmethod
    def from_input_examples(cls, examples: list, **kwargs: Any) -> BinaryClassificationEvaluator:
        """The evaluator of labelled InputExample pairs (the legacy way to give the data).

        Args:
            examples: InputExamples with two texts and a 0/1 label each.
            **kwargs: The evaluator's other arguments.

        Returns:
            The evaluator.
        """
        first, second = [e.texts[0] for e in examples], [e.texts[1] for e in examples]
        return cls(first, second, [e.label for e in examples], **kwargs)

    def _embed_pairs(self, model: EncoderModel) -> tuple[np.ndarray, np.ndarray]:
        unique = list(dict.fromkeys(self.sentences1 + self.sentences2))
        embeddings = model.encode(
            unique,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True,
            truncate_dim=self.truncate_dim,
        )
        row = {text: index for index, text in enumerate(unique)}
        first = embeddings[[row[text] for text in self.sentences1]]
        second = embeddings[[row[text] for text in self.sentences2]]
        return first, second

    def compute_metrics(self, model: EncoderModel) -> dict[str, dict[str, float]]:
        """Every metric, per similarity function, without names or CSV.

        Args:
            model: The model to evaluate.

        Returns:
            Similarity function -> metric name -> value.
        """
        first, second = self._embed_pairs(model)
        labels = np.asarray(self.labels)
        results = {}
        for fn_name in self.similarity_fn_names or [model.similarity_fn_name or "cosine"]:
            scores, high_is_similar = pair_distances(fn_name, first, second)
            accuracy, accuracy_threshold = best_accuracy_threshold(scores, labels, high_is_similar)
            f1, precision, recall, f1_threshold = best_f1_threshold(scores, labels, high_is_similar)
            predicted = scores >= f1_threshold if high_is_similar else scores <= f1_threshold
            results[fn_name] = {
                "accuracy": accuracy,
                "accuracy_threshold": accuracy_threshold,
                "f1": f1,
                "f1_threshold": f1_threshold,
                "precision": precision,
                "recall": recall,
                "ap": average_precision(labels, scores if high_is_similar else -scores),
                "mcc": matthews_correlation(labels, predicted),
            }
        return results

    def __call__(self, model: EncoderModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        per_function = self.compute_metrics(model)
        metrics = {f"{fn}_{metric}": value for fn, values in per_function.items() for metric, value in values.items()}
        self.save_csv(output_path, epoch, steps, metrics)
        if len(per_function) > 1:
            for metric in next(iter(per_function.values())):
                metrics[f"max_{metric}"] = max(values[metric] for values in per_function.values())
            self.primary_metric = "max_ap"
        else:
            self.primary_metric = f"{next(iter(per_function))}_ap"
        return self.prefix_name_to_metrics(metrics)

    @property
    def description(self) -> str:
        return "Binary Classification"
