"""Paraphrase mining, community detection and hard-negative mining against the reference util, and
mine_hard_negatives' newer and older options: faiss, the embedding cache, a pool, and the reference's old names."""

from __future__ import annotations

import inspect
import logging

import numpy as np
import pytest
import torch
from sentence_transformers import util as reference

from sentembed import util
from tests.support.data import read_wikiqa


def ordered(rows):
    """Rows as (score rounded to 6 places, i, j), best first: ties are ordered differently by the reference."""
    return sorted(((round(score, 6), i, j) for score, i, j in rows), key=lambda row: (-row[0], row[1], row[2]))


@pytest.mark.parametrize(
    "options", [{}, {"top_k": 3, "max_pairs": 200, "query_chunk_size": 170, "corpus_chunk_size": 300}]
)
def test_paraphrase_mining_matches_reference(scifact_1k, options):
    ours = util.paraphrase_mining_embeddings(scifact_1k.docs, **options)
    theirs = reference.paraphrase_mining_embeddings(torch.from_numpy(scifact_1k.docs), **options)
    assert ordered(ours) == ordered(theirs)
    assert all(i < j for _, i, j in ours)
    assert [row[0] for row in ours] == sorted((row[0] for row in ours), reverse=True)


def test_paraphrase_mining_encodes_with_the_model(minilm_l3, reference_minilm_l3, sts_sentences):
    sentences = sts_sentences[:120]
    ours = util.paraphrase_mining(minilm_l3, sentences, top_k=5)
    theirs = reference.paraphrase_mining(reference_minilm_l3, sentences, top_k=5)
    assert [row[1:] for row in ordered(ours)] == [row[1:] for row in ordered(theirs)]
    np.testing.assert_allclose([row[0] for row in ours], [row[0] for row in theirs], atol=1e-5)


@pytest.mark.parametrize(("threshold", "min_size"), [(0.6, 3), (0.5, 10), (0.7, 2)])
def test_community_detection_matches_reference(scifact_1k, threshold, min_size):
    ours = util.community_detection(scifact_1k.docs, threshold=threshold, min_community_size=min_size, batch_size=300)
    theirs = reference.community_detection(scifact_1k.docs, threshold=threshold, min_community_size=min_size)
    assert ours == theirs
    assert ours, "the parameters should find at least one community"
    members = [index for community in ours for index in community]
    assert len(members) == len(set(members))
    assert [len(community) for community in ours] == sorted((len(c) for c in ours), reverse=True)


def test_community_detection_small_inputs():
    assert util.community_detection(np.zeros((0, 4), dtype=np.float32)) == []
    assert util.community_detection(np.ones((3, 4), dtype=np.float32), min_community_size=5) == []


@pytest.fixture(scope="module")
def wikiqa_pairs() -> tuple[list[tuple[str, str]], list[str]]:
    """80 (question, correct answer) pairs and 150 wrong answers from WikiQA test."""
    rows = read_wikiqa("test")
    pairs = [(question, answer) for question, answer, label in rows if label == 1][:80]
    others = [answer for _, answer, label in rows if label == 0][:150]
    return pairs, others


MINING_OPTIONS = [
    {},
    {"absolute_margin": 0.0, "output_scores": True, "use_corpus": True},
    pytest.param({"output_format": "n-tuple", "output_scores": True, "num_negatives": 2}, marks=pytest.mark.slow),
    pytest.param({"relative_margin": 0.05, "output_format": "labeled-pair"}, marks=pytest.mark.slow),
    pytest.param({"output_format": "labeled-list", "range_min": 2, "max_score": 0.8}, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("options", MINING_OPTIONS)
def test_mine_hard_negatives_matches_reference(minilm_l3, reference_minilm_l3, wikiqa_pairs, options):
    datasets = pytest.importorskip("datasets")
    pairs, others = wikiqa_pairs
    options = dict(options)
    if options.pop("use_corpus", False):
        options["corpus"] = others
    dataset = datasets.Dataset.from_dict({"query": [p[0] for p in pairs], "answer": [p[1] for p in pairs]})
    ours = util.mine_hard_negatives(dataset, minilm_l3, verbose=False, **options).to_dict()
    theirs = reference.mine_hard_negatives(dataset, reference_minilm_l3, verbose=False, **options).to_dict()
    assert list(ours) == list(theirs)
    for column in ours:
        if column in ("scores", "score"):
            np.testing.assert_allclose(np.array(ours[column]), np.array(theirs[column]), atol=1e-5)
        else:
            assert ours[column] == theirs[column], column


def test_mine_hard_negatives_from_plain_pairs(minilm_l3, wikiqa_pairs):
    pairs, _ = wikiqa_pairs
    triplets = util.mine_hard_negatives(pairs[:40], minilm_l3, num_negatives=2, verbose=False)
    assert triplets and all(len(row) == 3 for row in triplets)
    positives = {(question, answer) for question, answer in pairs[:40]}
    assert all((anchor, negative) not in positives for anchor, _, negative in triplets)
    assert all((anchor, positive) in positives for anchor, positive, _ in triplets)


@pytest.mark.parametrize(
    ("dataset", "options", "error"),
    [
        ([], {}, ValueError),
        (["just a string"], {}, TypeError),
        ([("a", "b")], {"num_negatives": 0}, ValueError),
        ([("a", "b")], {"range_min": 5, "range_max": 5}, ValueError),
        ([("a", "b")], {"output_format": "pairs"}, ValueError),
    ],
)
def test_mine_hard_negatives_bad_input(minilm_l3, dataset, options, error):
    with pytest.raises(error):
        util.mine_hard_negatives(dataset, minilm_l3, verbose=False, **options)


@pytest.fixture(scope="module")
def dataset():
    """60 (question, correct answer) pairs from WikiQA test, as a datasets.Dataset."""
    datasets = pytest.importorskip("datasets")
    pairs = [(question, answer) for question, answer, label in read_wikiqa("test") if label == 1][:60]
    return datasets.Dataset.from_dict({"query": [p[0] for p in pairs], "answer": [p[1] for p in pairs]})


def mine(dataset, model, **options):
    return util.mine_hard_negatives(dataset, model, verbose=False, **options).to_dict()


def test_the_signature_matches_the_reference():
    ours = inspect.signature(util.mine_hard_negatives).parameters
    theirs = inspect.signature(reference.mine_hard_negatives).parameters
    assert sorted(ours) == sorted(theirs)
    assert {name: ours[name].default for name in ours} == {name: theirs[name].default for name in theirs}


def test_n_tuple_scores_equals_the_reference(dataset, minilm_l3, reference_minilm_l3, caplog):
    with caplog.at_level(logging.WARNING):
        ours = mine(dataset, minilm_l3, num_negatives=2, output_format="n-tuple-scores")
    assert "n-tuple-scores" in caplog.text
    theirs = reference.mine_hard_negatives(
        dataset, reference_minilm_l3, num_negatives=2, output_format="n-tuple-scores", verbose=False
    ).to_dict()
    assert list(ours) == list(theirs) == ["query", "answer", "negative_1", "negative_2", "scores"]
    assert ours["negative_1"] == theirs["negative_1"] and ours["negative_2"] == theirs["negative_2"]
    np.testing.assert_allclose(np.array(ours["scores"]), np.array(theirs["scores"]), atol=1e-5)
    assert ours == mine(dataset, minilm_l3, num_negatives=2, output_format="n-tuple", output_scores=True)


def test_old_names_give_what_the_new_ones_do(dataset, minilm_l3):
    assert mine(dataset, minilm_l3, num_negatives=2, as_triplets=False) == mine(
        dataset, minilm_l3, num_negatives=2, output_format="n-tuple"
    )
    assert mine(dataset, minilm_l3, margin=0.05) == mine(dataset, minilm_l3, absolute_margin=0.05)
    with pytest.raises(ValueError, match="not both"):
        mine(dataset, minilm_l3, margin=0.05, absolute_margin=0.1)


def test_faiss_ranks_the_same_negatives(dataset, minilm_l3):
    pytest.importorskip("faiss")
    exact = mine(dataset, minilm_l3, num_negatives=2, output_format="n-tuple", output_scores=True)
    with_faiss = mine(dataset, minilm_l3, num_negatives=2, output_format="n-tuple", output_scores=True, use_faiss=True)
    assert with_faiss["negative_1"] == exact["negative_1"]
    assert with_faiss["negative_2"] == exact["negative_2"]
    np.testing.assert_allclose(np.array(with_faiss["scores"]), np.array(exact["scores"]), atol=1e-5)


def test_cache_folder_reuses_the_saved_embeddings(dataset, minilm_l3, tmp_path, monkeypatch):
    first = mine(dataset, minilm_l3, cache_folder=str(tmp_path))
    saved = sorted(path.name.split("_")[0] for path in tmp_path.glob("*.npy"))
    assert saved == ["document", "query"]

    def refuse(*args, **kwargs):
        raise AssertionError("the cached embeddings should have been read")

    monkeypatch.setattr(minilm_l3, "encode_query", refuse)
    monkeypatch.setattr(minilm_l3, "encode_document", refuse)
    assert mine(dataset, minilm_l3, cache_folder=str(tmp_path)) == first


def test_too_few_negatives_are_reported(dataset, minilm_l3, caplog):
    with caplog.at_level(logging.WARNING):
        rows = mine(dataset, minilm_l3, num_negatives=5, range_max=8, max_score=0.2, output_format="n-tuple")
    assert "could not find 5 negatives" in caplog.text
    assert len(rows["query"]) < len(dataset)


@pytest.mark.slow
def test_multi_process_encoding_gives_the_same_rows(dataset, minilm_l3):
    assert mine(dataset, minilm_l3, use_multi_process=True) == mine(dataset, minilm_l3)
