"""Bi-encoder evaluators agree with the reference's on real models and data."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sentembed.training.evaluation import (
    BinaryClassificationEvaluator,
    EmbeddingSimilarityEvaluator,
    InformationRetrievalEvaluator,
    RerankingEvaluator,
    SequentialEvaluator,
    TripletEvaluator,
)
from tests.support.data import read_beir, read_mrpc, read_sts

TOLERANCE = 1e-4


class CachedEncoder:
    """Wraps a model so that identical encode() calls (same texts and options) run it only once.

    Both our evaluator and the reference's then score the very same embeddings, which isolates the metric code.
    """

    def __init__(self, model) -> None:
        self.model = model
        self.similarity_fn_name = model.similarity_fn_name or "cosine"
        self.cache: dict = {}
        self.model_card_data = SimpleNamespace(set_evaluation_metrics=lambda *args, **kwargs: None)

    def encode(self, sentences, **options):
        wanted = ("precision", "normalize_embeddings", "truncate_dim")
        options = {k: v for k, v in options.items() if k in wanted and v is not None}
        options["precision"] = options.get("precision") or "float32"
        key = (tuple(sentences), tuple(sorted(options.items(), key=str)))
        if key not in self.cache:
            self.cache[key] = self.model.encode(list(sentences), batch_size=64, convert_to_numpy=True, **options)
        return self.cache[key].copy() if not isinstance(self.cache[key], torch.Tensor) else self.cache[key]

    def encode_query(self, sentences, **options):
        return self.encode(sentences, **options)

    encode_document = encode_query

    def similarity(self, a, b):
        return self.model.similarity(a, b)


def assert_same_metrics(ours: dict, reference: dict) -> None:
    assert set(ours) <= set(reference), sorted(set(ours) - set(reference))
    for key, value in ours.items():
        assert value == pytest.approx(reference[key], abs=TOLERANCE), key


@pytest.fixture(scope="module")
def cached_l3(minilm_l3):
    return CachedEncoder(minilm_l3)


@pytest.fixture(scope="module")
def sts_test():
    first, second, scores = read_sts("test")
    return first, second, [score / 5 for score in scores]


def test_embedding_similarity_matches_reference(cached_l3, sts_test):
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator as Reference

    names = ["cosine", "euclidean", "manhattan", "dot"]
    ours = EmbeddingSimilarityEvaluator(*sts_test, name="sts-test", similarity_fn_names=names)(cached_l3)
    reference = Reference(*sts_test, name="sts-test", similarity_fn_names=names)(cached_l3)
    assert_same_metrics(ours, reference)
    assert ours["sts-test_spearman_cosine"] == pytest.approx(0.8241, abs=1e-4)
    assert len(ours) == 10


@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_embedding_similarity_quantized_matches_reference(cached_l3, sts_test, precision):
    from sentence_transformers.sentence_transformer.evaluation import EmbeddingSimilarityEvaluator as Reference

    ours = EmbeddingSimilarityEvaluator(*sts_test, precision=precision, truncate_dim=128)(cached_l3)
    reference = Reference(*sts_test, precision=precision, truncate_dim=128)(cached_l3)
    assert_same_metrics(ours, reference)


def test_embedding_similarity_on_the_real_model(minilm_l3, sts_test):
    evaluator = EmbeddingSimilarityEvaluator(*sts_test, name="sts")
    metrics = evaluator(minilm_l3)
    assert evaluator.primary_metric == "sts_spearman_cosine"
    assert metrics[evaluator.primary_metric] == pytest.approx(0.8241, abs=1e-4)


def test_embedding_similarity_writes_csv(cached_l3, sts_test, tmp_path):
    evaluator = EmbeddingSimilarityEvaluator(*sts_test, name="sts")
    first = evaluator(cached_l3, output_path=str(tmp_path), epoch=0, steps=10)
    evaluator(cached_l3, output_path=str(tmp_path), epoch=1, steps=20)
    lines = (tmp_path / evaluator.csv_file).read_text().splitlines()
    assert lines[0] == "epoch,steps,pearson_cosine,spearman_cosine"
    assert lines[1].startswith("0,10,") and lines[2].startswith("1,20,")
    assert float(lines[1].split(",")[3]) == pytest.approx(first["sts_spearman_cosine"])


@pytest.fixture(scope="module")
def scifact_1k():
    return read_beir("scifact_1k")


@pytest.fixture(scope="module")
def cached_l6(minilm_l6):
    return CachedEncoder(minilm_l6)


def test_information_retrieval_matches_reference_and_published_figure(cached_l6, scifact_1k):
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator as Reference

    cached = cached_l6
    wanted = dict(
        name="scifact",
        accuracy_at_k=[1, 10],
        precision_recall_at_k=[10, 100],
        mrr_at_k=[10],
        ndcg_at_k=[10],
        map_at_k=[100],
    )
    ours_evaluator = InformationRetrievalEvaluator(*scifact_1k, **wanted)
    ours = ours_evaluator(cached)
    reference = Reference(*scifact_1k, **wanted)(cached)
    assert_same_metrics(ours, reference)
    assert ours_evaluator.primary_metric == "scifact_cosine_ndcg@10"
    assert ours["scifact_cosine_ndcg@10"] == pytest.approx(0.79605, abs=1e-4)
    assert ours["scifact_cosine_mrr@10"] == pytest.approx(0.77115, abs=1e-4)
    assert ours["scifact_cosine_recall@100"] == pytest.approx(0.99000, abs=1e-4)


def test_information_retrieval_does_not_depend_on_chunk_size(cached_l6, minilm_l6, scifact_1k):
    cached = cached_l6
    queries, corpus, relevant = scifact_1k
    small = InformationRetrievalEvaluator(queries, corpus, relevant, corpus_chunk_size=7)
    whole = InformationRetrievalEvaluator(queries, corpus, relevant)
    corpus_embeddings = cached.encode(list(corpus.values()))
    embeddings = torch.from_numpy(corpus_embeddings)
    assert small.compute_metrics(minilm_l6, embeddings) == whole.compute_metrics(minilm_l6, embeddings)


def test_binary_classification_matches_reference_on_mrpc(cached_l3):
    from sentence_transformers.sentence_transformer.evaluation import BinaryClassificationEvaluator as Reference

    first, second, labels = read_mrpc("test")
    names = ["cosine", "dot", "euclidean", "manhattan"]
    ours_evaluator = BinaryClassificationEvaluator(first, second, labels, name="mrpc", similarity_fn_names=names)
    ours = ours_evaluator(cached_l3)
    reference = Reference(first, second, labels, name="mrpc", similarity_fn_names=names)(cached_l3)
    assert_same_metrics(ours, reference)
    assert ours_evaluator.primary_metric == "mrpc_max_ap"
    assert 0.6 < ours["mrpc_cosine_accuracy"] < 0.9


@pytest.mark.parametrize("high_score_more_similar", [True, False])
def test_binary_classification_thresholds_are_static_and_reproduce_their_scores(high_score_more_similar):
    generator = np.random.default_rng(4)
    labels = generator.integers(0, 2, 300)
    scores = np.round(generator.normal(size=300) + labels * (1 if high_score_more_similar else -1), 1)  # ties
    accuracy, cut = BinaryClassificationEvaluator.find_best_acc_and_threshold(scores, labels, high_score_more_similar)
    predicted = scores >= cut if high_score_more_similar else scores <= cut
    assert accuracy == pytest.approx((predicted == labels).mean())
    every_cut = [((scores >= c if high_score_more_similar else scores <= c) == labels).mean() for c in scores]
    assert accuracy >= max(every_cut) - 1e-12
    f1, precision, recall, cut = BinaryClassificationEvaluator.find_best_f1_and_threshold(
        scores, labels, high_score_more_similar
    )
    predicted = scores >= cut if high_score_more_similar else scores <= cut
    true_positive = (predicted & (labels == 1)).sum()
    assert precision == pytest.approx(true_positive / predicted.sum())
    assert recall == pytest.approx(true_positive / labels.sum())
    assert f1 == pytest.approx(2 * precision * recall / (precision + recall))


def test_triplet_and_reranking_match_reference_on_sts(cached_l3, sts_test):
    from sentence_transformers.sentence_transformer.evaluation import RerankingEvaluator as ReferenceReranking
    from sentence_transformers.sentence_transformer.evaluation import TripletEvaluator as ReferenceTriplet

    first, second, scores = sts_test
    similar = [i for i, score in enumerate(scores) if score >= 0.8][:200]
    unrelated = [second[(i * 7 + 3) % len(second)] for i in similar]
    anchors, positives = [first[i] for i in similar], [second[i] for i in similar]
    ours = TripletEvaluator(anchors, positives, unrelated, name="t")(cached_l3)
    assert_same_metrics(ours, ReferenceTriplet(anchors, positives, unrelated, name="t")(cached_l3))
    assert ours["t_cosine_accuracy"] > 0.9

    samples = [{"query": anchors[i], "positive": [positives[i]], "negative": unrelated[i : i + 5]} for i in range(100)]
    ours = RerankingEvaluator(samples, name="r")(cached_l3)
    assert_same_metrics(ours, ReferenceReranking(samples, name="r")(cached_l3))


def test_sequential_evaluator_merges_metrics(cached_l3, sts_test):
    first, second, scores = sts_test
    similarity = EmbeddingSimilarityEvaluator(first, second, scores, name="a")
    binary = BinaryClassificationEvaluator(first, second, [int(s > 0.5) for s in scores], name="b")
    sequential = SequentialEvaluator([similarity, binary], main_score_function=np.mean)
    metrics = sequential(cached_l3)
    assert sequential.primary_metric == "sequential_score"
    expected = (metrics["a_spearman_cosine"] + metrics["b_cosine_ap"]) / 2
    assert metrics["sequential_score"] == pytest.approx(expected)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: EmbeddingSimilarityEvaluator(["a"], ["b", "c"], [1.0]), "same length"),
        (lambda: EmbeddingSimilarityEvaluator([], [], []), "empty"),
        (lambda: EmbeddingSimilarityEvaluator(["a"], ["b"], [1.0], precision="int4"), "precision"),
        (lambda: BinaryClassificationEvaluator(["a"], ["b"], [2]), "0 or 1"),
        (lambda: InformationRetrievalEvaluator({"q": "x"}, {"d": "y"}, {}), "relevant"),
        (lambda: RerankingEvaluator([{"query": "q", "positive": []}]), "negative"),
    ],
)
def test_bad_evaluator_input_is_refused(build, message):
    with pytest.raises(ValueError, match=message):
        build()
