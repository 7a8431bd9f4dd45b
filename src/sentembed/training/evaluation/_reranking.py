"""RerankingEvaluator: order each query's positive and negative documents by embedding similarity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from sentembed.common.protocols import EncoderModel
from sentembed.similarity import cos_sim
from sentembed.training.evaluation._base import SentenceEvaluator
from sentembed.training.evaluation._metrics import rerank_metrics


def check_samples(samples: list[dict]) -> None:
    if not samples:
        raise ValueError("samples must not be empty")
    for index, sample in enumerate(samples):
        missing = {"query", "positive", "negative"} - set(sample)
        if missing:
            raise ValueError(f"sample {index} lacks the keys {sorted(missing)}; expected query, positive, negative")


class RerankingEvaluator(SentenceEvaluator):
    """MAP, MRR@k and NDCG@k over samples of {"query", "positive": [...], "negative": [...]}.

    Args:
        samples: Dicts with a "query" text and lists of "positive" and "negative" texts.
        at_k: The cut-off for MRR and NDCG. Default 10.
        name: A name for the data, put before every metric and in the CSV file's name. Default "".
        write_csv: Append the metrics to a CSV file in the `output_path` of each call. Default True.
        similarity_fct: Scores (queries, documents) embeddings. Default `cos_sim`.
        batch_size: Texts per `encode` batch. Default 64.
        show_progress_bar: Show progress while encoding. Default False.
        truncate_dim: Evaluate embeddings cut to this many dimensions. Default None: the model's.
    """

    def __init__(
        self,
        samples: list[dict[str, Any]],
        at_k: int = 10,
        name: str = "",
        write_csv: bool = True,
        similarity_fct: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = cos_sim,
        batch_size: int = 64,
        show_progress_bar: bool = False,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__(name, write_csv)
        check_samples(samples)
        self.samples = [s for s in samples if s["positive"] and s["negative"]]
        self.at_k = at_k
        self.similarity_fct = similarity_fct
        self.batch_size = batch_size
        self.show_progress_bar = show_progress_bar
        self.truncate_dim = truncate_dim
        self.primary_metric = f"ndcg@{at_k}"

    def _encode(self, model: EncoderModel, texts: list[str]) -> torch.Tensor:
        return model.encode(
            texts,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_tensor=True,
            truncate_dim=self.truncate_dim,
        )

    def compute_metrics(self, model: EncoderModel) -> dict[str, float]:
        """MAP, MRR@k and NDCG@k over the samples, without names or CSV.

        Args:
            model: The model to evaluate.

        Returns:
            Metric name -> value.
        """
        queries = self._encode(model, [sample["query"] for sample in self.samples])
        documents = self._encode(model, [doc for s in self.samples for doc in [*s["positive"], *s["negative"]]])
        per_query, offset = [], 0
        for query, sample in zip(queries, self.samples, strict=True):
            count = len(sample["positive"]) + len(sample["negative"])
            scores = self.similarity_fct(query, documents[offset : offset + count]).flatten().cpu().numpy()
            offset += count
            relevant = np.array([1] * len(sample["positive"]) + [0] * len(sample["negative"]))
            per_query.append(rerank_metrics(relevant, scores, self.at_k))
        mean_ap, mean_mrr, mean_ndcg = np.mean(per_query, axis=0)
        return {"map": mean_ap, f"mrr@{self.at_k}": mean_mrr, f"ndcg@{self.at_k}": mean_ndcg}

    def __call__(self, model: EncoderModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        metrics = self.compute_metrics(model)
        self.save_csv(output_path, epoch, steps, metrics)
        self.primary_metric = f"ndcg@{self.at_k}"
        return self.prefix_name_to_metrics(metrics)
