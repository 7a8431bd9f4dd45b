"""Input shapes and bad input: scalars for one pair, empty arrays for none, clear errors for the rest."""

from __future__ import annotations

import numpy as np
import pytest
import torch

PAIRS = [
    ("How many people live in Berlin?", "Berlin had a population of 3,520,031 in 2019."),
    ("How many people live in Berlin?", "Berlin is well known for its museums."),
    ("What is the capital of France?", "Paris is the capital of France."),
]


@pytest.fixture(scope="module")
def scores(cross_encoder):
    return cross_encoder.predict(PAIRS)


def test_single_pair_gives_a_scalar(cross_encoder, scores):
    single = cross_encoder.predict(PAIRS[0])
    assert np.ndim(single) == 0
    assert single == pytest.approx(float(scores[0]), abs=1e-6)
    assert cross_encoder.predict(list(PAIRS[0])) == pytest.approx(float(scores[0]), abs=1e-6)


def test_empty_list_gives_an_empty_array(cross_encoder):
    empty = cross_encoder.predict([])
    assert isinstance(empty, np.ndarray) and empty.shape == (0,)
    assert cross_encoder.predict([], convert_to_tensor=True).shape == (0,)
    assert cross_encoder.rank("query", []) == []


def test_output_types(cross_encoder, scores):
    tensor = cross_encoder.predict(PAIRS, convert_to_tensor=True, convert_to_numpy=False)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (3,)
    listed = cross_encoder.predict(PAIRS, convert_to_numpy=False)
    assert isinstance(listed, list) and all(isinstance(score, torch.Tensor) for score in listed)
    np.testing.assert_allclose(torch.stack(listed).numpy(), scores, atol=1e-6)
    np.testing.assert_allclose(cross_encoder.predict(np.array(PAIRS)), scores, atol=1e-6)


def test_rank_best_first_with_documents_and_top_k(cross_encoder):
    query, documents = PAIRS[0][0], [PAIRS[1][1], PAIRS[0][1], PAIRS[2][1]]
    expected = cross_encoder.predict([(query, document) for document in documents])
    hits = cross_encoder.rank(query, documents, return_documents=True)
    assert [hit["corpus_id"] for hit in hits] == np.argsort(-expected, kind="stable").tolist()
    np.testing.assert_allclose([hit["score"] for hit in hits], np.sort(expected)[::-1], atol=1e-6)
    assert all(hit["text"] == documents[hit["corpus_id"]] for hit in hits)
    top = cross_encoder.rank(query, documents, top_k=1)
    assert top == [{"corpus_id": hits[0]["corpus_id"], "score": hits[0]["score"]}]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([PAIRS[0], ("only one",)], r"sentences\[1\] must be a pair of two strings"),
        (
            [PAIRS[0], PAIRS[1], ("a", 3)],
            r"sentences\[2\] must be a pair of two strings, got a tuple of 2 \(str, int\)",
        ),
        ([PAIRS[0], "not a pair"], r"sentences\[1\] must be a pair"),
        ([None], r"sentences\[0\] must be a pair of two strings, got a NoneType"),
        (("a", "b", "c"), "a single pair must be two strings"),
        ("just a string", "got str"),
        ({"a": "b"}, "got dict"),
        (42, "got int"),
    ],
)
def test_bad_pairs_are_type_errors_naming_the_item(cross_encoder, bad, message):
    with pytest.raises(TypeError, match=message):
        cross_encoder.predict(bad)


def test_bad_rank_input(cross_encoder):
    with pytest.raises(TypeError, match=r"documents\[1\] must be a str"):
        cross_encoder.rank("query", ["fine", None])
    with pytest.raises(TypeError, match="query must be a str"):
        cross_encoder.rank(["query"], ["doc"])
    with pytest.raises(TypeError, match="documents must be a list of str"):
        cross_encoder.rank("query", "doc")
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        cross_encoder.rank("query", ["doc"], top_k=0)


def test_bad_options(cross_encoder):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        cross_encoder.predict(PAIRS, batch_size=0)
    with pytest.raises(TypeError, match="activation_fn must be callable"):
        cross_encoder.predict(PAIRS, activation_fn=3)
    with pytest.raises(TypeError, match="unexpected keyword"):
        cross_encoder.predict(PAIRS, normalize=True)


def test_progress_bar_when_asked(cross_encoder, capsys):
    cross_encoder.predict(PAIRS, show_progress_bar=True)
    assert "Scoring pairs" in capsys.readouterr().err
    cross_encoder.predict(PAIRS, show_progress_bar=False)
    assert "Scoring pairs" not in capsys.readouterr().err


@pytest.mark.parametrize("keyword", ["convert_to_numpy", "convert_to_tensor"])
def test_rank_ignores_the_old_conversion_keywords_with_a_warning(cross_encoder, caplog, keyword):
    query, documents = PAIRS[0][0], [PAIRS[0][1], PAIRS[1][1]]
    with caplog.at_level("WARNING", logger="sentembed"):
        hits = cross_encoder.rank(query, documents, **{keyword: True})
    assert hits == cross_encoder.rank(query, documents)
    assert all(type(hit["score"]) is float for hit in hits)
    assert keyword in caplog.text and "deprecated" in caplog.text
    with pytest.raises(TypeError, match="unexpected keyword argument 'convert_to_list'"):
        cross_encoder.rank(query, documents, convert_to_list=True)


def test_predict_runs_the_model_through_call_so_hooks_fire(cross_encoder, scores):
    calls = []
    handle = cross_encoder.register_forward_hook(lambda module, args, output: calls.append(output["scores"].shape))
    try:
        np.testing.assert_allclose(cross_encoder.predict(PAIRS), scores, atol=1e-6)
    finally:
        handle.remove()
    assert calls and sum(shape[0] for shape in calls) == len(PAIRS)
    features = cross_encoder.preprocess(PAIRS)
    with torch.inference_mode():
        output = cross_encoder(features)
    assert set(features) < set(output) and "scores" not in features  # the caller's features are kept as given
    np.testing.assert_allclose(cross_encoder.activation_fn(output["scores"]).view(-1).numpy(), scores, atol=1e-6)
