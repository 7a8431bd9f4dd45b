"""Paraphrase mining, community detection and hard-negative mining against the reference util."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from sentence_transformers import util as reference

from sentembed import util
from tests.support.paths import DATA


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
    with open(DATA / "wikiqa" / "WikiQA-test.txt", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    pairs = [(question, answer) for question, answer, label in rows if label == "1"][:80]
    others = [answer for _, answer, label in rows if label == "0"][:150]
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
