"""ParaphraseMiningEvaluator: mine the most similar sentence pairs and check them against known duplicates."""

from __future__ import annotations

from collections import defaultdict

import torch

from sentembed.common.protocols import EncoderModel
from sentembed.similarity import cos_sim
from sentembed.training.evaluation._base import SentenceEvaluator


def mine_pairs(
    embeddings: torch.Tensor, top_k: int, max_pairs: int, query_chunk_size: int
) -> list[tuple[float, int, int]]:
    """The most similar distinct pairs (score, i, j) with i < j, best first, at most `top_k` per sentence."""
    best: dict[tuple[int, int], float] = {}
    k = min(top_k + 1, len(embeddings))
    for start in range(0, len(embeddings), query_chunk_size):
        scores = cos_sim(embeddings[start : start + query_chunk_size], embeddings)
        values, indices = torch.topk(scores, k, dim=1)
        for row, (row_values, row_indices) in enumerate(zip(values.tolist(), indices.tolist(), strict=True)):
            i = start + row
            for score, j in zip(row_values, row_indices, strict=True):
                if i != j:
                    key = (min(i, j), max(i, j))
                    best[key] = max(score, best.get(key, float("-inf")))
    ranked = sorted(((score, i, j) for (i, j), score in best.items()), key=lambda pair: -pair[0])
    return ranked[:max_pairs]


def transitive_closure(duplicates: dict[str, set[str]]) -> dict[str, set[str]]:
    """Make every member of a connected group of duplicates a duplicate of every other member."""
    closed: dict[str, set[str]] = defaultdict(set)
    seen: set[str] = set()
    for start in list(duplicates):
        if start in seen:
            continue
        group, queue = set(), [start]
        while queue:
            node = queue.pop()
            if node not in group:
                group.add(node)
                queue.extend(duplicates.get(node, ()))
        seen |= group
        for node in group:
            closed[node] |= group - {node}
    return closed


class ParaphraseMiningEvaluator(SentenceEvaluator):
    """Average precision, and the best F1 (with its precision, recall and threshold), of mined pairs.

    Args:
        sentences_map: Sentence id -> text.
        duplicates_list: Pairs of ids that are duplicates. Default None.
        duplicates_dict: Id -> {id: True} for its duplicates (instead of, or besides, the list). Default None.
        add_transitive_closure: Make every member of a group of duplicates a duplicate of every other.
            Default False.
        query_chunk_size: Sentences whose neighbours are searched at once. Default 5000.
        corpus_chunk_size: Sentences scored against at once. Default 100000.
        max_pairs: The most pairs mined. Default 500000.
        top_k: Neighbours per sentence. Default 100.
        show_progress_bar: Show progress while encoding. Default False.
        batch_size: Texts per `encode` batch. Default 16.
        name: A name for the data, put before every metric and in the CSV file's name. Default "".
        write_csv: Append the metrics to a CSV file in the `output_path` of each call. Default True.
        truncate_dim: Evaluate embeddings cut to this many dimensions. Default None: the model's.
    """

    def __init__(
        self,
        sentences_map: dict[str, str],
        duplicates_list: list[tuple[str, str]] | None = None,
        duplicates_dict: dict[str, dict[str, bool]] | None = None,
        add_transitive_closure: bool = False,
        query_chunk_size: int = 5000,
        corpus_chunk_size: int = 100000,
        max_pairs: int = 500000,
        top_k: int = 100,
        show_progress_bar: bool = False,
        batch_size: int = 16,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
    ) -> None:
        super().__init__(name, write_csv)
        if len(sentences_map) < 2:
            raise ValueError("sentences_map needs at least two sentences")
        self.ids, self.sentences = list(sentences_map), list(sentences_map.values())
        self.duplicates = self._duplicate_sets(duplicates_list, duplicates_dict)
        if add_transitive_closure:
            self.duplicates = transitive_closure(self.duplicates)
        self.total_num_duplicates = sum(len(others) for others in self.duplicates.values()) // 2
        self.query_chunk_size, self.corpus_chunk_size = query_chunk_size, corpus_chunk_size
        self.max_pairs, self.top_k = max_pairs, top_k
        self.show_progress_bar, self.batch_size = show_progress_bar, batch_size
        self.truncate_dim = truncate_dim
        self.primary_metric = "average_precision"

    @staticmethod
    def _duplicate_sets(pairs: list | None, nested: dict | None) -> dict[str, set[str]]:
        duplicates: dict[str, set[str]] = defaultdict(set)
        for first, second in pairs or []:
            duplicates[first].add(second)
            duplicates[second].add(first)
        for first, others in (nested or {}).items():
            for second, is_duplicate in others.items():
                if is_duplicate:
                    duplicates[first].add(second)
                    duplicates[second].add(first)
        return duplicates

    def __call__(self, model: EncoderModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        embeddings = model.encode(
            self.sentences,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_tensor=True,
            truncate_dim=self.truncate_dim,
        )
        pairs = mine_pairs(embeddings, self.top_k, self.max_pairs, self.query_chunk_size)
        metrics = self._score_pairs(pairs)
        self.save_csv(output_path, epoch, steps, metrics)
        return self.prefix_name_to_metrics(metrics)

    def _score_pairs(self, pairs: list[tuple[float, int, int]]) -> dict[str, float]:
        extracted = correct = previous = 0
        best = {"f1": 0.0, "precision": 0.0, "recall": 0.0, "threshold": 0.0}
        total_precision = 0.0
        for index, (score, i, j) in enumerate(pairs):
            extracted += 1
            correct += self.ids[j] in self.duplicates.get(self.ids[i], ())
            if index + 1 < len(pairs) and pairs[index + 1][0] == score:
                continue
            if correct > previous and self.total_num_duplicates:
                precision, recall = correct / extracted, correct / self.total_num_duplicates
                total_precision += precision * (correct - previous)
                f1 = 2 * precision * recall / (precision + recall)
                if f1 > best["f1"]:
                    following = pairs[min(index + 1, len(pairs) - 1)][0]
                    best = {"f1": f1, "precision": precision, "recall": recall, "threshold": (score + following) / 2}
            previous = correct
        average = total_precision / self.total_num_duplicates if self.total_num_duplicates else 0.0
        return {"average_precision": average, **best}
