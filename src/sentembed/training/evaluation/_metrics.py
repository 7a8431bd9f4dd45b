"""Metric formulas shared by the evaluators: correlations, threshold search, ranking metrics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rank_with_ties(values: np.ndarray) -> np.ndarray:
    """1-based ranks where tied values share the average of their positions."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.r_[first[1:], len(values)] - 1
    average = (first + last) / 2.0 + 1.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = average[group]
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson's correlation coefficient, computed in float64."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    x, y = x - x.mean(), y - y.mean()
    return float(np.dot(x, y) / np.sqrt(np.dot(x, x) * np.dot(y, y)))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: Pearson's correlation of the tie-averaged ranks."""
    return pearson(rank_with_ties(np.asarray(x, dtype=np.float64)), rank_with_ties(np.asarray(y, dtype=np.float64)))


def _ordered_groups(scores: np.ndarray, labels: np.ndarray, high_is_similar: bool) -> tuple[np.ndarray, ...]:
    """Sort by score (most similar first), then give each group of tied scores as one step.

    Returns the distinct scores in order, and the cumulative count of rows and of positives up to each group.
    """
    order = np.argsort(-scores if high_is_similar else scores, kind="mergesort")
    sorted_scores, sorted_labels = scores[order], labels[order]
    group_ends = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    seen = np.flatnonzero(group_ends) + 1
    positives = np.cumsum(sorted_labels)[group_ends]
    return sorted_scores[group_ends], seen, positives


def _cut_between(distinct: np.ndarray, index: int) -> float:
    """A threshold after group `index` and before the next one: their midpoint, or the group's own score."""
    if index == len(distinct) - 1:
        return distinct[index]
    middle = (distinct[index] + distinct[index + 1]) / 2
    return distinct[index] if middle == distinct[index + 1] else middle


def best_accuracy_threshold(scores: np.ndarray, labels: np.ndarray, high_is_similar: bool) -> tuple[float, float]:
    """The accuracy of the best cut-off predicting "similar" for the most similar pairs, and that cut-off."""
    scores, labels = np.asarray(scores), np.asarray(labels).astype(np.int64)
    if len(scores) == 0:
        return 0.0, -1.0
    distinct, seen, positives = _ordered_groups(scores, labels, high_is_similar)
    negatives_total = int((labels == 0).sum())
    accuracies = (positives + (negatives_total - (seen - positives))) / len(labels)
    best = int(np.argmax(accuracies))
    baseline = negatives_total / len(labels)
    if accuracies[best] <= baseline:
        dtype = np.result_type(scores.dtype, np.float16)
        return baseline, float(np.nextafter(distinct[0], np.inf if high_is_similar else -np.inf, dtype=dtype))
    return float(accuracies[best]), float(_cut_between(distinct, best))


def best_f1_threshold(
    scores: np.ndarray, labels: np.ndarray, high_is_similar: bool
) -> tuple[float, float, float, float]:
    """F1, precision and recall at the cut-off that maximises F1, and that cut-off."""
    scores, labels = np.asarray(scores), np.asarray(labels).astype(np.int64)
    total_positive = int(labels.sum())
    if len(scores) == 0 or total_positive == 0:
        return 0.0, 0.0, 0.0, 0.0
    distinct, seen, positives = _ordered_groups(scores, labels, high_is_similar)
    precision = positives / seen
    recall = positives / total_positive
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(positives > 0, 2 * precision * recall / (precision + recall), 0.0)
    best = int(np.argmax(f1))
    if f1[best] <= 0:
        return 0.0, 0.0, 0.0, 0.0
    return float(f1[best]), float(precision[best]), float(recall[best]), float(_cut_between(distinct, best))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the precision-recall curve as a step function over distinct score thresholds."""
    labels, scores = np.asarray(labels).astype(np.int64), np.asarray(scores)
    total_positive = int(labels.sum())
    if total_positive == 0:
        return 0.0
    _, seen, positives = _ordered_groups(scores, labels, high_is_similar=True)
    precision = positives / seen
    recall_steps = np.diff(np.r_[0, positives]) / total_positive
    return float(np.sum(recall_steps * precision))


def matthews_correlation(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Matthews correlation coefficient of binary predictions; 0 when it is undefined."""
    labels, predicted = np.asarray(labels).astype(bool), np.asarray(predicted).astype(bool)
    tp = float(np.sum(labels & predicted))
    tn = float(np.sum(~labels & ~predicted))
    fp = float(np.sum(~labels & predicted))
    fn = float(np.sum(labels & ~predicted))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denominator == 0 else float((tp * tn - fp * fn) / denominator)


def discounted_gain(relevances: Sequence[int], k: int) -> float:
    """DCG@k of a ranked list of 0/1 relevances."""
    gains = np.asarray(relevances[:k], dtype=np.float64)
    return float(np.sum(gains / np.log2(np.arange(len(gains)) + 2)))


def ranking_metrics(
    ranked: list[list[str]],
    relevant: list[set[str]],
    accuracy_at_k: Sequence[int],
    precision_recall_at_k: Sequence[int],
    mrr_at_k: Sequence[int],
    ndcg_at_k: Sequence[int],
    map_at_k: Sequence[int],
) -> dict[str, float]:
    """Mean retrieval metrics over queries, named like "ndcg@10", for each query's ranked ids."""
    totals: dict[str, float] = {}

    def add(name: str, value: float) -> None:
        totals[name] = totals.get(name, 0.0) + value

    for hits_ids, gold in zip(ranked, relevant, strict=True):
        hits = [1 if doc_id in gold else 0 for doc_id in hits_ids]
        for k in accuracy_at_k:
            add(f"accuracy@{k}", float(any(hits[:k])))
        for k in precision_recall_at_k:
            add(f"precision@{k}", sum(hits[:k]) / k)
            add(f"recall@{k}", sum(hits[:k]) / len(gold))
        for k in mrr_at_k:
            first = next((rank for rank, hit in enumerate(hits[:k]) if hit), None)
            add(f"mrr@{k}", 0.0 if first is None else 1.0 / (first + 1))
        for k in ndcg_at_k:
            add(f"ndcg@{k}", discounted_gain(hits, k) / discounted_gain([1] * len(gold), k))
        for k in map_at_k:
            running = np.cumsum(hits[:k])
            precisions = [running[rank] / (rank + 1) for rank, hit in enumerate(hits[:k]) if hit]
            add(f"map@{k}", sum(precisions) / min(k, len(gold)))
    return {name: value / len(ranked) for name, value in totals.items()}


def tie_averaged_dcg(relevances: np.ndarray, scores: np.ndarray, k: int) -> float:
    """DCG@k of documents ranked by score, where tied documents share their positions' discounts evenly."""
    order = np.argsort(-scores, kind="mergesort")
    sorted_scores, sorted_relevances = scores[order], relevances[order].astype(np.float64)
    discounts = 1.0 / np.log2(np.arange(len(scores)) + 2)
    discounts[k:] = 0.0
    total, start = 0.0, 0
    while start < len(sorted_scores):
        end = start + 1
        while end < len(sorted_scores) and sorted_scores[end] == sorted_scores[start]:
            end += 1
        total += sorted_relevances[start:end].mean() * discounts[start:end].sum()
        start = end
    return total


def rerank_metrics(is_relevant: np.ndarray, scores: np.ndarray, at_k: int) -> tuple[float, float, float]:
    """Average precision, MRR@k and NDCG@k of one query's candidates, scored by `scores`."""
    is_relevant, scores = np.asarray(is_relevant), np.asarray(scores, dtype=np.float64)
    ranked = is_relevant[np.argsort(-scores, kind="stable")][:at_k]
    first = np.flatnonzero(ranked)
    mrr = 1.0 / (first[0] + 1) if len(first) else 0.0
    ideal = tie_averaged_dcg(is_relevant, is_relevant.astype(np.float64), at_k)
    ndcg = tie_averaged_dcg(is_relevant, scores, at_k) / ideal if ideal > 0 else 0.0
    return average_precision(is_relevant, scores), float(mrr), float(ndcg)
