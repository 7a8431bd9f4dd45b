"""The opt-in large tier: all-mpnet-base-v2 (run scripts/fetch-mpnet, then scripts/test --runlarge)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.data import read_sts, sts_test_sentences
from tests.support.paths import MPNET
from tests.support.retrieval import sts_spearman

pytestmark = pytest.mark.large


@pytest.fixture(scope="module")
def mpnet():
    from sentembed import SentenceTransformer

    if not (MPNET / "modules.json").exists():
        pytest.fail(f"all-mpnet-base-v2 is not at {MPNET}: run scripts/fetch-mpnet")
    return SentenceTransformer(str(MPNET), device="cpu")


@pytest.fixture(scope="module")
def reference_mpnet():
    from sentence_transformers import SentenceTransformer as Reference

    return Reference(str(MPNET), device="cpu")


def test_mpnet_embeddings_match_reference(mpnet, reference_mpnet):
    sentences = sts_test_sentences()
    texts = sentences[:400] + [" ".join(sentences[i : i + 60]) for i in range(0, 300, 60)]
    for batch_size in (1, 32, 128):
        got = mpnet.encode(texts, batch_size=batch_size)
        assert np.abs(got - reference_mpnet.encode(texts, batch_size=32)).max() < 1e-5
    got = mpnet.encode(texts, normalize_embeddings=True, truncate_dim=256)
    assert np.abs(got - reference_mpnet.encode(texts, normalize_embeddings=True, truncate_dim=256)).max() < 1e-5


def test_mpnet_sts_test_spearman(mpnet):
    """Published (MTEB): 0.83422."""
    assert abs(sts_spearman(mpnet, batch_size=64) - 0.83422) < 2e-4


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize(("precision", "published"), [("int8", 0.83128), ("uint8", 0.82601), ("binary", 0.82443)])
def test_mpnet_quantized_sts_spearman(mpnet, precision, published):
    """Published: cosine of the codes, each side quantized with its own ranges; binary unpacked to bits."""
    from scipy.stats import spearmanr

    first, second, gold = read_sts("test")
    a = mpnet.encode(first, precision=precision, batch_size=64)
    b = mpnet.encode(second, precision=precision, batch_size=64)
    if precision == "binary":
        a, b = (np.unpackbits((codes.astype(np.int16) + 128).astype(np.uint8), axis=1) for codes in (a, b))
    assert abs(spearmanr(gold, cosine(a, b)).statistic - published) < 1e-4
