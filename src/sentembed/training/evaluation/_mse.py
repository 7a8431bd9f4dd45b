"""MSEEvaluator: distance of a student's embeddings from a teacher's (for distillation)."""

from __future__ import annotations

import numpy as np

from sentembed.common.protocols import EncoderModel
from sentembed.training.evaluation._base import SentenceEvaluator


class MSEEvaluator(SentenceEvaluator):
    """Negative mean squared error (times 100) between teacher and student embeddings of the same texts.

    Args:
        source_sentences: The texts the teacher embeds (once, here).
        target_sentences: The texts the evaluated model embeds (e.g. their translations), one per source.
        teacher_model: The teacher model.
        show_progress_bar: Show progress while encoding. Default False.
        batch_size: Texts per `encode` batch. Default 32.
        name: A name for the data, put before every metric and in the CSV file's name. Default "".
        write_csv: Append the metrics to a CSV file in the `output_path` of each call. Default True.
        truncate_dim: Evaluate embeddings cut to this many dimensions. Default None: the model's.

    Raises:
        ValueError: No teacher model.
    """

    def __init__(
        self,
        source_sentences: list[str],
        target_sentences: list[str],
        teacher_model: EncoderModel | None = None,
        show_progress_bar: bool = False,
        batch_size: int = 32,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__(name, write_csv)
        if teacher_model is None:
            raise ValueError("MSEEvaluator needs a teacher_model to embed the source sentences")
        if not source_sentences or len(source_sentences) != len(target_sentences):
            raise ValueError("source_sentences and target_sentences must be non-empty and of the same length")
        self.target_sentences = list(target_sentences)
        self.truncate_dim = truncate_dim
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.source_embeddings = teacher_model.encode(
            list(source_sentences), batch_size=batch_size, convert_to_numpy=True, truncate_dim=truncate_dim
        )
        self.primary_metric = "negative_mse"

    def __call__(self, model: EncoderModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        target = model.encode(
            self.target_sentences,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_numpy=True,
            truncate_dim=self.truncate_dim,
        )
        metrics = {"negative_mse": -float(np.mean((self.source_embeddings - target) ** 2)) * 100}
        self.save_csv(output_path, epoch, steps, metrics)
        return self.prefix_name_to_metrics(metrics)
