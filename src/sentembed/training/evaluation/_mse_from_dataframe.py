"""MSEEvaluatorFromDataFrame: for several language pairs of a table, how far a student's embeddings of the
target sentences are from the teacher's embeddings of the source sentences (multilingual distillation)."""

from __future__ import annotations

from typing import Any

import numpy as np

from sentembed.common.protocols import EncoderModel
from sentembed.training.evaluation._base import SentenceEvaluator

Rows = list[dict[str, str]]


def as_rows(dataframe: Any) -> Rows:
    """A list of {column: text} dicts, from such a list or a pandas DataFrame (pandas itself is optional)."""
    if hasattr(dataframe, "to_dict") and hasattr(dataframe, "columns"):
        return dataframe.to_dict("records")
    if not isinstance(dataframe, (list, tuple)) or not all(isinstance(row, dict) for row in dataframe):
        raise TypeError(f"dataframe must be a list of dicts or a pandas DataFrame, got {type(dataframe).__name__}")
    return list(dataframe)


def check_combinations(rows: Rows, combinations: list[tuple[str, str]]) -> None:
    if not combinations:
        raise ValueError("combinations must name at least one (source column, target column) pair")
    columns = set(rows[0]) if rows else set()
    missing = sorted({column for pair in combinations for column in pair} - columns)
    if missing:
        raise ValueError(f"combinations name columns {missing} that the dataframe lacks; it has {sorted(columns)}")


class MSEEvaluatorFromDataFrame(SentenceEvaluator):
    """Per (source, target) column pair: MSE (times 100) between teacher(source) and student(target) embeddings
    over the rows where both texts are non-blank. The metric is the negative mean over the pairs.

    Args:
        dataframe: The rows: a pandas DataFrame or a list of dicts, column name -> text.
        teacher_model: The teacher, which embeds the source columns (once, here).
        combinations: (source column, target column) pairs.
        batch_size: Texts per `encode` batch. Default 8.
        name: A name for the data, put before every metric and in the CSV file's name. Default "".
        write_csv: Append the metrics to a CSV file in the `output_path` of each call. Default True.
        truncate_dim: Evaluate embeddings cut to this many dimensions. Default None: the model's.

    Raises:
        ValueError: A combination naming a column the rows lack.
    """

    def __init__(
        self,
        dataframe: Rows | Any,
        teacher_model: EncoderModel,
        combinations: list[tuple[str, str]],
        batch_size: int = 8,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__(name, write_csv)
        rows = as_rows(dataframe)
        check_combinations(rows, combinations)
        self.combinations = [tuple(pair) for pair in combinations]
        self.batch_size, self.truncate_dim = batch_size, truncate_dim
        self.primary_metric = "negative_mse"
        self.data = {pair: self.pairs_of(rows, *pair) for pair in self.combinations}
        sources = list(dict.fromkeys(source for texts, _ in self.data.values() for source in texts))
        self.teacher_embeddings = dict(zip(sources, self.embed(teacher_model, sources), strict=True))

    @staticmethod
    def pairs_of(rows: Rows, source: str, target: str) -> tuple[list[str], list[str]]:
        """The (source, target) texts of the rows where both are non-blank.

        Args:
            rows: The rows.
            source: The source column.
            target: The target column.

        Returns:
            (the sources, the targets).
        """
        kept = [row for row in rows if str(row[source]).strip() and str(row[target]).strip()]
        return [row[source] for row in kept], [row[target] for row in kept]

    def embed(self, model: EncoderModel, sentences: list[str]) -> np.ndarray:
        """Embed texts with this evaluator's batch size and truncate_dim.

        Args:
            model: The model.
            sentences: The texts.

        Returns:
            A (len(sentences), dim) array.
        """
        return model.encode(
            sentences, batch_size=self.batch_size, convert_to_numpy=True, truncate_dim=self.truncate_dim
        )

    @property
    def csv_file(self) -> str:
        return f"mse_evaluation{'_' + self.name if self.name else ''}_results.csv"

    def __call__(self, model: EncoderModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        per_pair = {}
        for (source, target), (sources, targets) in self.data.items():
            teacher = np.asarray([self.teacher_embeddings[text] for text in sources])
            per_pair[f"{source}-{target}"] = float(((teacher - self.embed(model, targets)) ** 2).mean() * 100)
        self.save_csv(output_path, epoch, steps, per_pair)
        return self.prefix_name_to_metrics({"negative_mse": -float(np.mean(list(per_pair.values())))})

    @property
    def description(self) -> str:
        return "Knowledge Distillation"
