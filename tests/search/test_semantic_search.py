"""semantic_search against the reference util on real embeddings, and its handling of bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import util as reference

from sentembed import util

SCORE_TOLERANCE = 1e-6


def assert_same_hits(ours, theirs) -> None:
    assert len(ours) == len(theirs)
    for our_hits, their_hits in zip(ours, theirs, strict=True):
        assert [hit["corpus_id"] for hit in our_hits] == [hit["corpus_id"] for hit in their_hits]
        np.testing.assert_allclose(
            [hit["score"] for hit in our_hits], [hit["score"] for hit in their_hits], atol=SCORE_TOLERANCE
        )


@pytest.mark.parametrize("score_function", ["cos_sim", "dot_score"])
def test_matches_reference_on_scifact(scifact_1k, score_function):
    ours = util.semantic_search(
        scifact_1k.queries, scifact_1k.docs, top_k=10, score_function=getattr(util, score_function)
    )
    theirs = reference.semantic_search(
        torch.from_numpy(scifact_1k.queries), torch.from_numpy(scifact_1k.docs), top_k=10,
        score_function=getattr(reference, score_function),
    )  # fmt: skip
    assert_same_hits(ours, theirs)


def test_exact_search_reproduces_the_scifact_1k_score(scifact_1k):
    hits = util.semantic_search(scifact_1k.queries, scifact_1k.docs, top_k=10)
    assert scifact_1k.ndcg(hits) == pytest.approx(0.79605, abs=5e-4)


def test_chunk_sizes_do_not_change_results(scifact_1k):
    whole = util.semantic_search(scifact_1k.queries, scifact_1k.docs, top_k=25)
    chunked = util.semantic_search(
        scifact_1k.queries, scifact_1k.docs, top_k=25, query_chunk_size=7, corpus_chunk_size=97
    )
    assert_same_hits(chunked, whole)


def test_ties_keep_corpus_order(scifact_1k):
    repeated = np.concatenate([scifact_1k.docs[:3]] * 4)
    hits = util.semantic_search(scifact_1k.docs[0], repeated, top_k=6, corpus_chunk_size=5)[0]
    assert [hit["corpus_id"] for hit in hits] == [0, 3, 6, 9, hits[4]["corpus_id"], hits[5]["corpus_id"]]
    assert hits[4]["corpus_id"] < hits[5]["corpus_id"]


def test_top_k_larger_than_corpus_returns_everything(scifact_1k):
    hits = util.semantic_search(scifact_1k.queries[:2], scifact_1k.docs[:5], top_k=50)
    assert [len(row) for row in hits] == [5, 5]
    assert [hit["score"] for hit in hits[0]] == sorted((hit["score"] for hit in hits[0]), reverse=True)


def test_accepts_lists_tensors_and_single_vectors(scifact_1k):
    from_numpy = util.semantic_search(scifact_1k.queries[0], scifact_1k.docs[:50], top_k=3)
    from_list = util.semantic_search(scifact_1k.queries[0].tolist(), torch.from_numpy(scifact_1k.docs[:50]), top_k=3)
    assert len(from_numpy) == 1
    assert_same_hits(from_list, from_numpy)


def test_empty_corpus_gives_empty_results(scifact_1k):
    assert util.semantic_search(scifact_1k.queries[:3], np.empty((0, 384), dtype=np.float32)) == [[], [], []]


@pytest.mark.parametrize("top_k", [0, -1])
def test_top_k_must_be_positive(scifact_1k, top_k):
    with pytest.raises(ValueError, match="top_k"):
        util.semantic_search(scifact_1k.queries[:1], scifact_1k.docs[:5], top_k=top_k)


def test_mismatched_dimensions_name_both_shapes(scifact_1k):
    with pytest.raises(ValueError, match=r"\(2, 384\).*\(5, 128\)"):
        util.semantic_search(scifact_1k.queries[:2], scifact_1k.docs[:5, :128])


@pytest.mark.parametrize("value", [np.nan, np.inf])
@pytest.mark.parametrize("where", ["query_embeddings", "corpus_embeddings"])
def test_non_finite_values_are_refused(scifact_1k, value, where):
    queries, corpus = scifact_1k.queries[:2].copy(), scifact_1k.docs[:20].copy()
    (queries if where == "query_embeddings" else corpus)[1, 7] = value
    with pytest.raises(ValueError, match=rf"{where}\[1\] contains NaN or inf"):
        util.semantic_search(queries, corpus)
