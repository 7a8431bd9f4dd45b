"""One rule per argument kind, the same in every function that takes it."""

from __future__ import annotations

import numpy as np
import pytest

from sentembed.common.checks import check_positive_int
from sentembed.util import semantic_search


@pytest.mark.parametrize("value", [True, False, 0, -3, 2.0, "8", None])
def test_a_count_is_a_positive_integer_and_never_a_bool(value):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        check_positive_int(value, "batch_size")


def test_numpy_integers_are_counts():
    assert check_positive_int(np.int64(8), "batch_size") == 8
    assert type(check_positive_int(np.int32(3), "top_k")) is int
    assert check_positive_int(None, "truncate_dim", optional=True) is None


def test_encode_and_predict_take_the_same_batch_sizes(minilm_l3, cross_encoder):
    texts = ["A man is eating food.", "A man is riding a horse."]
    pairs = [(texts[0], texts[1]), (texts[1], texts[0])]
    for bad in (True, 0):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            minilm_l3.encode(texts, batch_size=bad)
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            cross_encoder.predict(pairs, batch_size=bad)
    np.testing.assert_allclose(minilm_l3.encode(texts, batch_size=np.int64(1)), minilm_l3.encode(texts), atol=1e-6)
    np.testing.assert_allclose(
        cross_encoder.predict(pairs, batch_size=np.int64(1)), cross_encoder.predict(pairs), atol=1e-6
    )


def test_search_counts_follow_the_same_rule():
    embeddings = np.eye(4, dtype=np.float32)
    assert semantic_search(embeddings, embeddings, top_k=np.int64(2))[0][0]["corpus_id"] == 0
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        semantic_search(embeddings, embeddings, top_k=True)
