"""Distillation losses: match a teacher's embeddings (EmbedDistillLoss, MSELoss), its score margins
(MarginMSELoss) or its score distribution over candidates (DistillKLDivLoss)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, get_args

import torch
import torch.nn.functional as F

from sentembed.common.checks import check_choice, check_positive_float, check_positive_int
from sentembed.similarity import pairwise_dot_score
from sentembed.training.losses._base import ColumnSpec, EmbeddingLoss, function_name

EmbedDistance = Literal["cosine", "l2", "mse"]
EMBED_DISTANCES: tuple[str, ...] = get_args(EmbedDistance)
logger = logging.getLogger(__name__)


def embedding_distance(students: torch.Tensor, teachers: torch.Tensor, metric: str) -> torch.Tensor:
    """The mean distance between matching rows: 1 - cosine, Euclidean, or the mean squared error."""
    if metric == "cosine":
        return (1 - F.cosine_similarity(students, teachers, dim=-1)).mean()
    if metric == "l2":
        return (students - teachers).norm(dim=-1).mean()
    return F.mse_loss(students, teachers)


class EmbedDistillLoss(EmbeddingLoss):
    """Every text column's embedding must match the teacher embedding in the label column.

    The label is one teacher embedding per row (shared by all columns) or one per column, shaped
    (rows, columns, dim); `projection_dim` adds a trained linear map into the teacher's space.

    Args:
        model: The SentenceTransformer being trained.
        distance_metric: "cosine" (1 - cosine, default), "l2" (Euclidean distance) or "mse".
        projection_dim: The teacher's embedding dimension, when it differs from the model's. Default None.

    Raises:
        ValueError: An unknown distance_metric, or a projection_dim that is not a positive int.
    """

    columns = ColumnSpec(1, None, "vector")

    def __init__(
        self, model: torch.nn.Module, distance_metric: EmbedDistance = "cosine", projection_dim: int | None = None
    ):
        super().__init__(model)
        self.distance_metric = check_choice(distance_metric, EMBED_DISTANCES, "distance_metric")
        self.projection_dim = check_positive_int(projection_dim, "projection_dim", optional=True)
        self.projection = None
        if self.projection_dim is not None:
            parameter = next(model.parameters())
            width = model.get_embedding_dimension()
            self.projection = torch.nn.Linear(width, self.projection_dim).to(parameter.device)

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        if self.projection is not None:
            embeddings = [self.projection(embedding) for embedding in embeddings]
        teachers = self.teachers_per_column(labels, embeddings)
        losses = [
            embedding_distance(student, teacher.to(student.dtype), self.distance_metric)
            for student, teacher in zip(embeddings, teachers, strict=True)
        ]
        return torch.stack(losses).mean()

    def teachers_per_column(self, labels: torch.Tensor, embeddings: list[torch.Tensor]) -> list[torch.Tensor]:
        """The teacher embeddings each column must match.

        Args:
            labels: The label column: (rows, dim) or (rows, columns, dim).
            embeddings: The model's embeddings, one (rows, dim) tensor per column (after any projection).

        Returns:
            One (rows, dim) tensor per column.

        Raises:
            ValueError: Labels of another shape.
        """
        rows, width = embeddings[0].shape
        if labels.dim() == 3 and labels.shape[1] == len(embeddings):
            teachers = list(labels.unbind(dim=1))
        elif labels.dim() == 2:
            teachers = [labels] * len(embeddings)
        else:
            teachers = []
        if not teachers or teachers[0].shape != (rows, width):
            raise ValueError(
                f"{type(self).__name__}: teacher embeddings have shape {tuple(labels.shape)}; expected "
                f"({rows}, {width}) or ({rows}, {len(embeddings)}, {width})"
                + ("" if self.projection is not None else "; set projection_dim when the teacher's width differs")
            )
        return teachers

    def save_projection(self, path: str) -> None:
        """Write the projection's weights (a safetensors file) to reuse it in a later run.

        Args:
            path: The file to write.

        Raises:
            ValueError: A loss without a projection.
        """
        from safetensors.torch import save_file

        if self.projection is None:
            raise ValueError(f"{type(self).__name__} has no projection to save (projection_dim is None)")
        save_file({name: value.contiguous() for name, value in self.projection.state_dict().items()}, path)

    def load_projection(self, path: str) -> None:
        """Read projection weights written by `save_projection`.

        Args:
            path: The file to read.

        Raises:
            ValueError: A loss without a projection.
        """
        from safetensors.torch import load_file

        if self.projection is None:
            raise ValueError(f"{type(self).__name__} has no projection to load into (projection_dim is None)")
        self.projection.load_state_dict(load_file(path, device=str(self.projection.weight.device)))

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance_metric": self.distance_metric, "projection_dim": self.projection_dim}


class MSELoss(EmbedDistillLoss):
    """EmbedDistillLoss with the mean squared error (the multilingual distillation objective).

    Args:
        model: The SentenceTransformer being trained.
        projection_dim: The teacher's embedding dimension, when it differs from the model's. Default None.
    """

    def __init__(self, model: torch.nn.Module, projection_dim: int | None = None) -> None:
        super().__init__(model, "mse", projection_dim)

    def get_config_dict(self) -> dict[str, Any]:
        return {"projection_dim": self.projection_dim} if self.projection_dim else {}


class MarginMSELoss(EmbeddingLoss):
    """(query, positive, negative...) rows: sim(q, p) - sim(q, n) must match the teacher's margin in the label.

    Args:
        model: The SentenceTransformer being trained.
        similarity_fct: Scores row i of one embedding batch with row i of another. Default `pairwise_dot_score`.
    """

    columns = ColumnSpec(3, None, "float")

    def __init__(self, model: torch.nn.Module, similarity_fct: Callable = pairwise_dot_score) -> None:
        super().__init__(model)
        self.similarity_fct = similarity_fct

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        query, positive, negatives = embeddings[0], embeddings[1], embeddings[2:]
        positive_scores = self.similarity_fct(query, positive)
        margins = torch.stack([positive_scores - self.similarity_fct(query, negative) for negative in negatives], 1)
        labels = labels.to(margins.dtype).view(len(query), -1)
        return F.mse_loss(margins, labels.expand_as(margins))

    def get_config_dict(self) -> dict[str, str]:
        return {"similarity_fct": function_name(self.similarity_fct)}


class DistillKLDivLoss(EmbeddingLoss):
    """(query, positive, negative...) rows: the student's softmax over its candidate scores must match the teacher's.

    The label holds the teacher's scores for (query, candidate) in column order; the KL divergence is scaled
    by the student temperature squared.
    """

    columns = ColumnSpec(3, None, "float")

    def __init__(
        self,
        model: torch.nn.Module,
        similarity_fct: Callable = pairwise_dot_score,
        temperature: float = 1.0,
        student_temperature: float | None = None,
        teacher_temperature: float | None = None,
    ) -> None:
        """
        Args:
            model: the student model.
            similarity_fct: scores a batch of queries against a batch of candidates, row by row.
            temperature: the softmax temperature of both distributions, unless one of the two below is set.
            student_temperature: the temperature of the student's softmax (default: `temperature`).
            teacher_temperature: the temperature of the teacher's softmax (default: `temperature`).
        """
        super().__init__(model)
        self.similarity_fct = similarity_fct
        self.temperature = check_positive_float(temperature, "temperature")
        self.student_temperature = check_positive_float(student_temperature, "student_temperature", optional=True)
        self.teacher_temperature = check_positive_float(teacher_temperature, "teacher_temperature", optional=True)
        self.collapse_checked = False

    def compute_loss_from_embeddings(self, embeddings: list[torch.Tensor], labels: torch.Tensor | None) -> torch.Tensor:
        if len(embeddings) < 3:
            raise ValueError(
                f"DistillKLDivLoss needs at least 3 columns (query, positive, negative...): a softmax over "
                f"{len(embeddings) - 1} candidate is constant and trains nothing"
            )
        query = embeddings[0]
        scores = torch.stack([self.similarity_fct(query, candidate) for candidate in embeddings[1:]], dim=1)
        teacher = self.teacher_scores(labels, scores)
        student_t = self.student_temperature if self.student_temperature is not None else self.temperature
        teacher_t = self.teacher_temperature if self.teacher_temperature is not None else self.temperature
        log_student = F.log_softmax(scores / student_t, dim=1)
        teacher_probabilities = F.softmax(teacher / teacher_t, dim=1)
        if not self.collapse_checked:
            self.collapse_checked = True  # once: counting reads the tensor back from the device
            self.warn_on_collapsed_teacher(teacher, teacher_probabilities, teacher_t)
        return F.kl_div(log_student, teacher_probabilities, reduction="batchmean") * student_t**2

    @staticmethod
    def teacher_scores(labels: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """The label as one teacher score per (row, candidate).

        Args:
            labels: The label column.
            scores: The student's (rows, candidates) scores, for the shape.

        Returns:
            The teacher's (rows, candidates) scores.

        Raises:
            ValueError: Labels of another size, or NaN scores.
        """
        rows, candidates = scores.shape
        if labels.numel() != rows * candidates:
            raise ValueError(
                f"DistillKLDivLoss needs the teacher scores of shape (batch_size, N) with N = {candidates}, one per "
                f"candidate column; got shape {tuple(labels.shape)} for a batch of {rows}"
            )
        teacher = labels.to(scores.dtype).view(rows, candidates)
        if torch.isnan(teacher).any():
            raise ValueError("DistillKLDivLoss: the teacher scores contain NaN, which would make every gradient NaN")
        return teacher

    @staticmethod
    def warn_on_collapsed_teacher(teacher: torch.Tensor, probabilities: torch.Tensor, temperature: float) -> None:
        """Warn when the teacher's softmax underflows to exact zeros for candidates it scored (finite scores).

        Args:
            teacher: The teacher's scores.
            probabilities: The teacher's softmax of them.
            temperature: The teacher temperature, for the message.
        """
        collapsed = int(((probabilities == 0) & torch.isfinite(teacher)).sum())
        if collapsed:
            logger.warning(
                "DistillKLDivLoss: with teacher_temperature=%s the teacher's softmax is exactly 0 for %d candidate "
                "score(s), which carry no gradient; use a temperature closer to the spread of the teacher scores",
                temperature,
                collapsed,
            )

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "similarity_fct": function_name(self.similarity_fct),
            "temperature": self.temperature,
            "student_temperature": self.student_temperature,
            "teacher_temperature": self.teacher_temperature,
        }
