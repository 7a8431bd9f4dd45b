"""mine_hard_negatives' newer and older options: faiss, the embedding cache, a pool, and the reference's old names."""

from __future__ import annotations

import csv
import inspect
import logging

import numpy as np
import pytest
from sentence_transformers import util as reference

from sentembed import util
from tests.support.paths import DATA

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def dataset() -> datasets.Dataset:
    """60 (question, correct answer) pairs from WikiQA test."""
    with open(DATA / "wikiqa" / "WikiQA-test.txt", encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    pairs = [(question, answer) for question, answer, label in rows if label == "1"][:60]
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
