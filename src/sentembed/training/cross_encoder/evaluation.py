"""Cross-encoder evaluators: correlation with gold scores, pair classification, and reranking."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from sentembed.common.protocols import PairModel
from sentembed.training.evaluation._base import SentenceEvaluator, check_same_length
from sentembed.training.evaluation._metrics import (
    average_precision,
    best_accuracy_threshold,
    best_f1_threshold,
    pearson,
    rerank_metrics,
    spearman,
)


def _scores(model: PairModel, pairs: list, batch_size: int, show_progress_bar: bool, **kwargs: Any) -> np.ndarray:
    pairs = [tuple(pair) for pair in pairs]
    return np.asarray(
        model.predict(
            pairs, batch_size=batch_size, show_progress_bar=show_progress_bar, convert_to_numpy=True, **kwargs
        )
    )


def pairs_and_labels(examples: list, caller: str) -> tuple[list[tuple[str, str]], list]:
    """(text pairs, labels) of InputExamples with two texts each; ValueError naming the first that has not."""
    for index, example in enumerate(examples):
        if len(getattr(example, "texts", ())) != 2:
            raise ValueError(f"{caller}: examples[{index}] must be an InputExample with two texts, got {example!r}")
    return [tuple(example.texts) for example in examples], [example.label for example in examples]


class CrossEncoderCorrelationEvaluator(SentenceEvaluator):
    """Pearson and Spearman correlation of the model's pair scores with gold scores."""

    def __init__(
        self,
        sentence_pairs: list[tuple[str, str]],
        scores: list[float],
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
    ) -> None:
        super().__init__(name, write_csv)
        check_same_length(sentence_pairs=sentence_pairs, scores=scores)
        self.sentence_pairs, self.scores = list(sentence_pairs), list(scores)
        self.batch_size, self.show_progress_bar = batch_size, show_progress_bar
        self.primary_metric = "spearman"

    @classmethod
    def from_input_examples(cls, examples: list, **kwargs: Any) -> CrossEncoderCorrelationEvaluator:
        """From InputExamples holding (text, text) and a gold score; `kwargs` as for the constructor."""
        pairs, scores = pairs_and_labels(examples, f"{cls.__name__}.from_input_examples")
        return cls(pairs, scores, **kwargs)

    def __call__(self, model: PairModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        predicted = _scores(model, self.sentence_pairs, self.batch_size, self.show_progress_bar)
        metrics = {"pearson": pearson(self.scores, predicted), "spearman": spearman(self.scores, predicted)}
        self.save_csv(output_path, epoch, steps, metrics)
        self.primary_metric = "spearman"
        return self.prefix_name_to_metrics(metrics)


class CrossEncoderClassificationEvaluator(SentenceEvaluator):
    """Binary models: best-threshold accuracy and F1, and average precision. Several labels: accuracy and F1s."""

    def __init__(
        self,
        sentence_pairs: list[tuple[str, str]],
        labels: list[int],
        name: str = "",
        batch_size: int = 32,
        show_progress_bar: bool = False,
        write_csv: bool = True,
    ) -> None:
        super().__init__(name, write_csv)
        check_same_length(sentence_pairs=sentence_pairs, labels=labels)
        self.sentence_pairs, self.labels = list(sentence_pairs), np.asarray(labels)
        self.batch_size, self.show_progress_bar = batch_size, show_progress_bar

    @classmethod
    def from_input_examples(cls, examples: list, **kwargs: Any) -> CrossEncoderClassificationEvaluator:
        """From InputExamples holding (text, text) and a class label; `kwargs` as for the constructor."""
        pairs, labels = pairs_and_labels(examples, f"{cls.__name__}.from_input_examples")
        return cls(pairs, labels, **kwargs)

    def __call__(self, model: PairModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        predicted = _scores(model, self.sentence_pairs, self.batch_size, self.show_progress_bar)
        metrics = self._binary(predicted) if predicted.ndim == 1 else self._multiclass(predicted.argmax(axis=1))
        self.save_csv(output_path, epoch, steps, metrics)
        self.primary_metric = "average_precision" if predicted.ndim == 1 else "f1_macro"
        return self.prefix_name_to_metrics(metrics)

    def _binary(self, scores: np.ndarray) -> dict[str, float]:
        accuracy, accuracy_threshold = best_accuracy_threshold(scores, self.labels, True)
        f1, precision, recall, f1_threshold = best_f1_threshold(scores, self.labels, True)
        return {
            "accuracy": accuracy,
            "accuracy_threshold": accuracy_threshold,
            "f1": f1,
            "f1_threshold": f1_threshold,
            "precision": precision,
            "recall": recall,
            "average_precision": average_precision(self.labels, scores),
        }

    def _multiclass(self, predicted: np.ndarray) -> dict[str, float]:
        classes = np.unique(np.concatenate([self.labels, predicted]))
        f1s, supports = [], []
        for label in classes:
            tp = np.sum((predicted == label) & (self.labels == label))
            fp, fn = (
                np.sum((predicted == label) & (self.labels != label)),
                np.sum((predicted != label) & (self.labels == label)),
            )
            f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
            supports.append(np.sum(self.labels == label))
        accuracy = float(np.mean(predicted == self.labels))
        return {
            "accuracy": accuracy,
            "f1_macro": float(np.mean(f1s)),
            "f1_micro": accuracy,
            "f1_weighted": float(np.average(f1s, weights=supports)),
        }


class CrossEncoderRerankingEvaluator(SentenceEvaluator):
    """MAP, MRR@k and NDCG@k of reranking each sample's documents.

    Samples are {"query", "positive": [...], "negative": [...]} or {"query", "positive", "documents": [...]}
    (a first-stage ranking; then base_* metrics of that ranking are reported too). Samples without a positive
    count as zero.
    """

    def __init__(
        self,
        samples: list[dict[str, Any]],
        at_k: int = 10,
        always_rerank_positives: bool = True,
        name: str = "",
        batch_size: int = 64,
        show_progress_bar: bool = False,
        write_csv: bool = True,
    ) -> None:
        super().__init__(name, write_csv)
        if not samples:
            raise ValueError("samples must not be empty")
        for index, sample in enumerate(samples):
            if "query" not in sample or "positive" not in sample or ("negative" in sample) == ("documents" in sample):
                raise ValueError(
                    f"sample {index} must have 'query', 'positive' and exactly one of 'negative' or 'documents'"
                )
        self.samples, self.at_k, self.always_rerank_positives = samples, at_k, always_rerank_positives
        self.batch_size, self.show_progress_bar = batch_size, show_progress_bar
        self.primary_metric = f"ndcg@{at_k}"

    def _candidates(self, sample: dict[str, Any]) -> tuple[list[str], list[int]]:
        positive = [sample["positive"]] if isinstance(sample["positive"], str) else list(sample["positive"])
        if "documents" not in sample:
            return positive + list(sample["negative"]), [1] * len(positive) + [0] * len(sample["negative"])
        if self.always_rerank_positives:
            others = [doc for doc in sample["documents"] if doc not in positive]
            return positive + others, [1] * len(positive) + [0] * len(others)
        return list(sample["documents"]), [int(doc in positive) for doc in sample["documents"]]

    def _first_stage(self, sample: dict[str, Any]) -> tuple[float, float, float]:
        positive = [sample["positive"]] if isinstance(sample["positive"], str) else list(sample["positive"])
        found = [int(doc in positive) for doc in sample["documents"]]
        if not any(found):
            return 0.0, 0.0, 0.0
        relevant = np.array(found + [1] * (len(positive) - sum(found)))
        return rerank_metrics(relevant, np.arange(len(relevant), 0, -1, dtype=np.float64), self.at_k)

    def __call__(self, model: PairModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        plans = [self._candidates(sample) for sample in self.samples]
        pairs = [
            (s["query"], doc)
            for s, (docs, relevant) in zip(self.samples, plans, strict=True)
            if any(relevant)
            for doc in docs
        ]
        scores = _scores(model, pairs, self.batch_size, self.show_progress_bar) if pairs else np.array([])
        per_sample, offset = [], 0
        for docs, relevant in plans:
            if not any(relevant):
                per_sample.append((0.0, 0.0, 0.0))
                continue
            per_sample.append(rerank_metrics(np.array(relevant), scores[offset : offset + len(docs)], self.at_k))
            offset += len(docs)
        mean_ap, mean_mrr, mean_ndcg = np.mean(per_sample, axis=0)
        metrics = {"map": mean_ap, f"mrr@{self.at_k}": mean_mrr, f"ndcg@{self.at_k}": mean_ndcg}
        if any("documents" in sample for sample in self.samples):
            base = np.mean([self._first_stage(s) for s in self.samples if "documents" in s], axis=0)
            metrics.update({"base_map": base[0], f"base_mrr@{self.at_k}": base[1], f"base_ndcg@{self.at_k}": base[2]})
        self.save_csv(output_path, epoch, steps, metrics)
        self.primary_metric = f"ndcg@{self.at_k}"
        return self.prefix_name_to_metrics(metrics)


def deprecated_evaluator(name: str, replacement: type) -> type:
    """An old evaluator name: the replacement's class, warning once per instance that the name is deprecated."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(f"{name} is deprecated; use {replacement.__name__} instead", DeprecationWarning, stacklevel=2)
        replacement.__init__(self, *args, **kwargs)

    return type(name, (replacement,), {"__init__": __init__, "__doc__": f"Deprecated name of {replacement.__name__}."})


CEBinaryAccuracyEvaluator = deprecated_evaluator("CEBinaryAccuracyEvaluator", CrossEncoderClassificationEvaluator)
CEBinaryClassificationEvaluator = deprecated_evaluator(
    "CEBinaryClassificationEvaluator", CrossEncoderClassificationEvaluator
)
CEF1Evaluator = deprecated_evaluator("CEF1Evaluator", CrossEncoderClassificationEvaluator)
CESoftmaxAccuracyEvaluator = deprecated_evaluator("CESoftmaxAccuracyEvaluator", CrossEncoderClassificationEvaluator)
CECorrelationEvaluator = deprecated_evaluator("CECorrelationEvaluator", CrossEncoderCorrelationEvaluator)
CERerankingEvaluator = deprecated_evaluator("CERerankingEvaluator", CrossEncoderRerankingEvaluator)

__all__ = [
    "CEBinaryAccuracyEvaluator",
    "CEBinaryClassificationEvaluator",
    "CECorrelationEvaluator",
    "CEF1Evaluator",
    "CERerankingEvaluator",
    "CESoftmaxAccuracyEvaluator",
    "CrossEncoderClassificationEvaluator",
    "CrossEncoderCorrelationEvaluator",
    "CrossEncoderRerankingEvaluator",
]
