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


@pytest.mark.parametrize("kind", ["numpy", "tensor", "list"])
def test_select_max_active_dims_keeps_the_largest_magnitudes(embeddings, kind):
    original = as_kind(embeddings.copy(), kind)
    sparse = util.select_max_active_dims(original, 10)
    assert isinstance(sparse, torch.Tensor) and sparse.shape == embeddings.shape
    assert ((sparse != 0).sum(dim=1) == 10).all()
    dense = torch.from_numpy(embeddings)
    for row, kept in zip(dense, sparse, strict=True):
        threshold = row.abs().topk(10).values[-1]
        assert torch.equal(kept[kept != 0], row[row.abs() >= threshold])  # same values, signs kept
    assert np.array_equal(np.asarray(original, dtype=np.float32), embeddings), "the input is not modified"


def test_select_max_active_dims_edges(embeddings):
    assert util.select_max_active_dims(embeddings, None) is embeddings
    everything = util.select_max_active_dims(torch.from_numpy(embeddings), 10_000)
    assert torch.equal(everything, torch.from_numpy(embeddings))
    single = util.select_max_active_dims(torch.tensor([0.5, -3.0, 1.0], dtype=torch.float64), 1)
    assert torch.equal(single, torch.tensor([0.0, -3.0, 0.0], dtype=torch.float64))
    for bad in (0, -2, 1.5):
        with pytest.raises(ValueError, match="max_active_dims must be a positive integer"):
            util.select_max_active_dims(embeddings, bad)


def test_scores_read_only_and_reversed_arrays_without_warning(embeddings):
    import warnings

    expected = util.cos_sim(embeddings, embeddings)
    read_only = embeddings.copy()
    read_only.flags.writeable = False
    reversed_rows = embeddings[::-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.allclose(util.cos_sim(read_only, read_only), expected)
        assert torch.allclose(util.cos_sim(reversed_rows, embeddings), expected.flip(0))


def test_a_writable_array_is_viewed_not_copied(embeddings):
    from sentembed.common.checks import to_tensor

    array = embeddings.copy()
    assert to_tensor(array).data_ptr() == array.__array_interface__["data"][0]
