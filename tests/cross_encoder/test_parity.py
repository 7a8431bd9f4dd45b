"""predict and rank equal the reference's on all 2,351 WikiQA test pairs, for both folder layouts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.support.data import group_by_question
from tests.support.retrieval import mean_average_precision

TOLERANCE = 1e-5
# rank() parity in the default tier covers the first 30 questions; --runslow covers all 243.
RANKED_QUESTIONS = 30
# WikiQA test MAP of the test cross-encoder (questions with right and wrong candidates), ../shared/models/README.md.
PUBLISHED_MAP = 0.638


@pytest.fixture(scope="module")
def modular_cross_encoder(modular_folder):
    from sentembed import CrossEncoder

    return CrossEncoder(str(modular_folder), device="cpu")


def rank_all_questions(model, wikiqa_rows, limit: int | None = None) -> list[list[dict]]:
    questions = list(group_by_question(wikiqa_rows).items())[:limit]
    return [model.rank(question, [wikiqa_rows[i][1] for i in indices]) for question, indices in questions]


def assert_same_rankings(ours: list[list[dict]], expected: list[list[dict]]) -> None:
    assert len(ours) == len(expected)
    for our_hits, expected_hits in zip(ours, expected, strict=True):
        assert [hit["corpus_id"] for hit in our_hits] == [hit["corpus_id"] for hit in expected_hits]
        np.testing.assert_allclose(
            [hit["score"] for hit in our_hits], [hit["score"] for hit in expected_hits], atol=TOLERANCE, rtol=0
        )


def test_reference_writes_the_modular_layout(modular_folder):
    model_config = json.loads((modular_folder / "config_sentence_transformers.json").read_text())
    assert (modular_folder / "modules.json").exists()
    assert model_config["model_type"] == "CrossEncoder"
    assert model_config["activation_fn"] == "torch.nn.modules.activation.Sigmoid"


def test_predict_equals_reference_on_all_wikiqa_pairs(our_scores, reference_scores, wikiqa_pairs):
    assert our_scores.shape == reference_scores.shape == (len(wikiqa_pairs),) == (2351,)
    assert our_scores.dtype == np.float32
    np.testing.assert_allclose(our_scores, reference_scores, atol=TOLERANCE, rtol=0)


def test_predict_from_modular_folder_equals_reference(modular_cross_encoder, reference_scores, wikiqa_pairs):
    scores = modular_cross_encoder.predict(wikiqa_pairs)
    np.testing.assert_allclose(scores, reference_scores, atol=TOLERANCE, rtol=0)


@pytest.fixture(scope="module")
def reference_rankings(reference_cross_encoder, wikiqa_rows, request) -> list[list[dict]]:
    """The reference's rank() of every WikiQA test question (slow tier) or of the first 30."""
    limit = None if request.config.getoption("--runslow") else RANKED_QUESTIONS
    return rank_all_questions(reference_cross_encoder, wikiqa_rows, limit)


@pytest.mark.parametrize("layout", ["classic", "modular"])
def test_rank_equals_reference(layout, cross_encoder, modular_cross_encoder, reference_rankings, wikiqa_rows):
    model = cross_encoder if layout == "classic" else modular_cross_encoder
    ours = rank_all_questions(model, wikiqa_rows, len(reference_rankings))
    assert_same_rankings(ours, reference_rankings)


@pytest.mark.slow
def test_rank_covers_every_wikiqa_pair(reference_rankings, wikiqa_rows):
    assert sum(len(hits) for hits in reference_rankings) == len(wikiqa_rows)


def test_wikiqa_map_equals_the_references(our_scores, reference_scores, wikiqa_rows):
    ours = mean_average_precision(wikiqa_rows, our_scores)
    assert ours == pytest.approx(mean_average_precision(wikiqa_rows, reference_scores), abs=1e-6)
    assert ours == pytest.approx(PUBLISHED_MAP, abs=5e-4)


def test_scores_do_not_depend_on_batch_size(cross_encoder, our_scores, wikiqa_pairs):
    scores = cross_encoder.predict(wikiqa_pairs[:150], batch_size=7)
    np.testing.assert_allclose(scores, our_scores[:150], atol=TOLERANCE, rtol=0)
