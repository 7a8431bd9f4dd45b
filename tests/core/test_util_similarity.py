"""sentembed.util similarity functions equal the reference util's for every input kind."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import util as reference_util

from sentembed import util

NAMES = ["cos_sim", "dot_score", "euclidean_sim", "manhattan_sim"]
PAIRWISE = ["pairwise_cos_sim", "pairwise_dot_score", "pairwise_euclidean_sim", "pairwise_manhattan_sim"]


@pytest.fixture(scope="module")
def embeddings(minilm_l3) -> np.ndarray:
    return minilm_l3.encode(["A cat sits.", "A dog runs.", "Stocks fell sharply.", "The kitten is sitting."])


def as_kind(array: np.ndarray, kind: str):
    return {"numpy": array, "tensor": torch.from_numpy(array), "list": array.tolist()}[kind]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kind", ["numpy", "tensor", "list"])
def test_all_pairs_match_reference(embeddings, name, kind):
    a, b = as_kind(embeddings[:2], kind), as_kind(embeddings[1:], kind)
    got = getattr(util, name)(a, b)
    expected = getattr(reference_util, name)(torch.from_numpy(embeddings[:2]), torch.from_numpy(embeddings[1:]))
    assert got.shape == (2, 3)
    assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("name", PAIRWISE)
def test_pairwise_match_reference(embeddings, name):
    got = getattr(util, name)(embeddings[:2], torch.from_numpy(embeddings[2:]))
    expected = getattr(reference_util, name)(torch.from_numpy(embeddings[:2]), torch.from_numpy(embeddings[2:]))
    assert got.shape == (2,)
    assert torch.allclose(got, expected, atol=1e-5)


def test_one_dimensional_and_mixed_inputs(embeddings):
    assert util.cos_sim(embeddings[0], embeddings).shape == (1, 4)
    assert util.cos_sim(embeddings[0].tolist(), torch.from_numpy(embeddings[1])).shape == (1, 1)
    scores = util.cos_sim(embeddings[0], embeddings)[0]
    assert scores.argsort(descending=True)[:2].tolist() == [0, 3]  # itself, then the kitten


def test_mismatched_dimensions_name_both_shapes(embeddings):
    with pytest.raises(ValueError, match=r"\(4, 384\) vs \(4, 10\)"):
        util.cos_sim(embeddings, embeddings[:, :10])


def test_normalize_and_truncate(embeddings):
    normalized = util.normalize_embeddings(torch.from_numpy(embeddings))
    assert torch.allclose(normalized.norm(dim=1), torch.ones(4), atol=1e-6)
    assert util.truncate_embeddings(embeddings, 16).shape == (4, 16)
    assert util.truncate_embeddings(embeddings, None) is embeddings
