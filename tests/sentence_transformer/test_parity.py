"""Embeddings equal the reference's on real text (STSb test + over-long texts), for every encode option."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.support.data import sts_test_sentences

TOLERANCE = 1e-5


def long_texts() -> list[str]:
    """Texts far longer than max_seq_length, so truncation is exercised."""
    sentences = sts_test_sentences()
    return [" ".join(sentences[start : start + 40]) for start in range(0, 400, 40)]


PARITY_TEXTS = sts_test_sentences() + long_texts()
SUBSET = PARITY_TEXTS[:300] + long_texts()


@pytest.fixture(scope="module", params=["minilm_l6", "minilm_l3"])
def pair(request):
    """(ours, reference, reference float32 embeddings of PARITY_TEXTS) for each test model."""
    ours = request.getfixturevalue(request.param)
    reference = request.getfixturevalue(f"reference_{request.param}")
    expected = reference.encode(PARITY_TEXTS, batch_size=32)
    return ours, reference, expected


@pytest.mark.parametrize("batch_size", [1, 32, 128])
def test_sentence_embeddings_match_reference(pair, batch_size):
    ours, _, expected = pair
    texts = PARITY_TEXTS if batch_size == 32 else SUBSET
    expected = expected if batch_size == 32 else expected[[PARITY_TEXTS.index(text) for text in SUBSET]]
    got = ours.encode(texts, batch_size=batch_size)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < TOLERANCE


def test_normalized_embeddings_match_reference(pair):
    ours, reference, _ = pair
    got = ours.encode(SUBSET, normalize_embeddings=True)
    expected = reference.encode(SUBSET, normalize_embeddings=True)
    assert np.abs(got - expected).max() < TOLERANCE
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("truncate_dim", [32, 128])
def test_truncated_embeddings_match_reference(pair, truncate_dim):
    ours, reference, _ = pair
    got = ours.encode(SUBSET, truncate_dim=truncate_dim, normalize_embeddings=True)
    expected = reference.encode(SUBSET, truncate_dim=truncate_dim, normalize_embeddings=True)
    assert got.shape == (len(SUBSET), truncate_dim)
    assert np.abs(got - expected).max() < TOLERANCE


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_quantized_embeddings_match_reference(pair, precision):
    """Codes are equal except where a float sits within rounding noise of a bucket edge (at most 1 apart)."""
    ours, reference, _ = pair
    got = ours.encode(SUBSET, precision=precision)
    expected = reference.encode(SUBSET, precision=precision)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    different = got != expected
    assert different.mean() < 1e-3
    if precision.endswith("int8"):
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


@pytest.mark.parametrize("include_prompt", [True, False])
def test_prompted_embeddings_match_reference(pair, include_prompt):
    ours, reference, _ = pair
    prompt = "Represent this sentence for searching relevant passages: "
    ours.set_pooling_include_prompt(include_prompt)
    reference.set_pooling_include_prompt(include_prompt)
    try:
        got = ours.encode(SUBSET, prompt=prompt)
        expected = reference.encode(SUBSET, prompt=prompt)
    finally:
        ours.set_pooling_include_prompt(True)
        reference.set_pooling_include_prompt(True)
    assert np.abs(got - expected).max() < TOLERANCE
    plain = ours.encode(SUBSET[:5])
    assert np.abs(got[:5] - plain).max() > 1e-3, "the prompt must change the embedding"


def test_token_embeddings_match_reference(pair):
    ours, reference, _ = pair
    texts = SUBSET[:50] + long_texts()[:2]
    got = ours.encode(texts, output_value="token_embeddings")
    expected = reference.encode(texts, output_value="token_embeddings")
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert isinstance(mine, torch.Tensor)
        assert mine.shape == theirs.shape
        assert (mine - theirs).abs().max().item() < TOLERANCE


def test_tensor_output_matches_reference(pair):
    ours, reference, _ = pair
    got = ours.encode(SUBSET[:64], convert_to_tensor=True)
    expected = reference.encode(SUBSET[:64], convert_to_tensor=True)
    assert isinstance(got, torch.Tensor) and got.shape == expected.shape
    assert (got - expected).abs().max().item() < TOLERANCE
