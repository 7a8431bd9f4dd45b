"""SequentialEvaluator: run several evaluators and merge their metrics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sentembed.training.evaluation._base import SentenceEvaluator


class SequentialEvaluator(SentenceEvaluator):
    """All evaluators' metrics in one dict; the primary metric is the last evaluator's unless
    `main_score_function` combines the primary scores (e.g. `lambda scores: sum(scores) / len(scores)`).

    Args:
        evaluators: The evaluators, run in order.
        main_score_function: Combines the evaluators' primary scores into one. Default None: the last one's.
    """

    records_in_model_card = False  # each evaluator inside records its own metrics

    def __init__(
        self,
        evaluators: Sequence[SentenceEvaluator],
        main_score_function: Callable[[list[float]], float] | None = None,
    ) -> None:
        super().__init__()
        if not evaluators:
            raise ValueError("SequentialEvaluator needs at least one evaluator")
        self.evaluators = list(evaluators)
        self.main_score_function = main_score_function

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        metrics: dict[str, float] = {}
        primary_scores = []
        for evaluator in self.evaluators:
            results = evaluator(model, output_path, epoch, steps)
            metrics.update(results)
            primary_scores.append(results[evaluator.primary_metric])
        if self.main_score_function is None:
            self.primary_metric = self.evaluators[-1].primary_metric
        else:
            self.primary_metric = "sequential_score"
            metrics["sequential_score"] = float(self.main_score_function(primary_scores))
        return metrics
