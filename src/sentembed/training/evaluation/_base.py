"""What every evaluator shares: metric naming, the primary metric, CSV output and embedding options."""

from __future__ import annotations

import csv
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sentembed.common.checks import check_choice
from sentembed.common.types import PRECISIONS


def check_precision(precision: str | None) -> None:
    """None (no quantization) or one of the precisions `quantize_embeddings` knows."""
    if precision is not None:
        check_choice(precision, PRECISIONS, "precision")


def check_same_length(**columns: list) -> None:
    """Parallel inputs must have equal, non-zero lengths."""
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs must have the same length, got {lengths}")
    if not any(lengths.values()):
        raise ValueError(f"inputs must not be empty, got {lengths}")


def quantized_as_float(embeddings: np.ndarray, precision: str | None) -> np.ndarray:
    """Quantized embeddings as float32 vectors that similarity functions can compare (bits unpacked)."""
    if precision == "binary":
        embeddings = (embeddings.astype(np.int16) + 128).astype(np.uint8)
    if precision in ("binary", "ubinary"):
        embeddings = np.unpackbits(embeddings.astype(np.uint8), axis=1)
    return embeddings.astype(np.float32)


def recording_metrics(call: Callable[..., dict]) -> Callable[..., dict]:
    """Wrap an evaluator's `__call__` so that its metrics also land in the model's card data."""

    @functools.wraps(call)
    def evaluate(self: SentenceEvaluator, model: Any, *args: Any, **kwargs: Any) -> dict:
        metrics = call(self, model, *args, **kwargs)
        if self.records_in_model_card:
            self.store_metrics_in_model_card_data(model, metrics)
        return metrics

    return evaluate


class SentenceEvaluator:
    """Base class: `evaluator(model)` returns `{name}_{metric}` floats and sets `primary_metric`.

    Every subclass's metrics are also recorded in `model.model_card_data`, for the saved model card.

    Args:
        name: A name for the data, put before every metric and in the CSV file's name. Default "".
        write_csv: Append the metrics to a CSV file in the `output_path` of each call. Default True.
    """

    greater_is_better: bool = True
    records_in_model_card: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            cls.__call__ = recording_metrics(cls.__dict__["__call__"])  # type: ignore[method-assign]

    def store_metrics_in_model_card_data(self, model: Any, metrics: dict[str, Any], epoch: float = 0, step: int = 0):
        """Hand the metrics to the model's card data, when the model has one.

        Args:
            model: The evaluated model.
            metrics: The metrics this evaluator returned.
            epoch: The training epoch they were measured at. Default 0.
            step: The training step they were measured at. Default 0.
        """
        card_data = getattr(model, "model_card_data", None)
        if card_data is not None and isinstance(metrics, dict):
            card_data.set_evaluation_metrics(self, metrics, epoch, step)

    def __init__(self, name: str = "", write_csv: bool = True) -> None:
        self.name = name
        self.write_csv = write_csv
        self.primary_metric: str | None = None

    # `model: Any`: an EncoderModel for the embedding evaluators, a PairModel for the cross-encoder ones; each
    # subclass names its kind (a narrower type than the base's would break the override rule).
    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        raise NotImplementedError

    @property
    def csv_file(self) -> str:
        kind = type(self).__name__.removesuffix("Evaluator").lower() or "evaluation"
        return f"{kind}_evaluation{'_' + self.name if self.name else ''}_results.csv"

    def prefix_name_to_metrics(self, metrics: dict[str, Any], name: str | None = None) -> dict[str, float]:
        """Prefix every metric (and the primary metric) with the evaluator's name.

        Args:
            metrics: Metric name -> value.
            name: The prefix. Default None: the evaluator's `name` (nothing when it is empty).

        Returns:
            "{name}_{metric}" -> value as a float.
        """
        name = self.name if name is None else name
        metrics = {key: float(value) for key, value in metrics.items()}
        if not name:
            return metrics
        if self.primary_metric and not self.primary_metric.startswith(name + "_"):
            self.primary_metric = f"{name}_{self.primary_metric}"
        return {f"{name}_{key}": value for key, value in metrics.items()}

    def save_csv(self, output_path: str | None, epoch: int, steps: int, metrics: dict[str, float]) -> None:
        """Append one row (epoch, steps, metrics...) to this evaluator's CSV file, writing a header first.

        Nothing is written without an `output_path` or with `write_csv=False`.

        Args:
            output_path: The folder of the CSV file (created when missing), or None.
            epoch: The training epoch (-1 outside training).
            steps: The training step (-1 outside training).
            metrics: The row's metrics, in the header's order.
        """
        if output_path is None or not self.write_csv:
            return
        os.makedirs(output_path, exist_ok=True)
        path = Path(output_path) / self.csv_file
        is_new = not path.exists()
        with open(path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            if is_new:
                writer.writerow(["epoch", "steps", *metrics])
            writer.writerow([epoch, steps, *metrics.values()])

    def get_config_dict(self) -> dict[str, Any]:
        """Settings worth recording in a model card.

        Returns:
            truncate_dim and precision, those that are set.
        """
        return {key: getattr(self, key) for key in ("truncate_dim", "precision") if getattr(self, key, None)}

    @property
    def description(self) -> str:
        return type(self).__name__.removesuffix("Evaluator")
