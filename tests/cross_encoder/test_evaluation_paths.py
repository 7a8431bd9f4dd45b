"""The cross-encoder evaluators' import path and the reference's deprecated CE* names, against the reference."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from sentembed import CrossEncoder
from sentembed.cross_encoder import evaluation
from tests.support.paths import CROSS_ENCODER

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from sentence_transformers import CrossEncoder as Reference
    from sentence_transformers.cross_encoder import evaluation as reference_evaluation

PAIRS = [
    ["what is a cat", "a cat is a small domesticated animal"],
    ["what is a cat", "paris is the capital of france"],
    ["who wrote hamlet", "hamlet is a tragedy by william shakespeare"],
    ["who wrote hamlet", "the sky is blue on a clear day"],
]
LABELS = [1, 0, 1, 0]
SAMPLES = [{"query": "what is a cat", "positive": [PAIRS[0][1]], "negative": [PAIRS[1][1], PAIRS[3][1]]}]


@pytest.fixture(scope="module")
def models():
    return CrossEncoder(str(CROSS_ENCODER), device="cpu"), Reference(str(CROSS_ENCODER), device="cpu")


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("CEBinaryAccuracyEvaluator", (PAIRS, LABELS)),
        ("CEBinaryClassificationEvaluator", (PAIRS, LABELS)),
        ("CEF1Evaluator", (PAIRS, LABELS)),
        ("CESoftmaxAccuracyEvaluator", (PAIRS, LABELS)),
        ("CECorrelationEvaluator", (PAIRS, [0.9, 0.1, 0.8, 0.2])),
        ("CERerankingEvaluator", (SAMPLES,)),
    ],
)
def test_deprecated_names_warn_and_score_as_the_reference(models, name, arguments):
    ours, theirs = models
    with pytest.warns(DeprecationWarning, match=name):
        evaluator = getattr(evaluation, name)(*arguments, name="t")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = getattr(reference_evaluation, name)(*arguments, name="t")(theirs)
    got = evaluator(ours)
    assert sorted(got) == sorted(expected)
    np.testing.assert_allclose([got[key] for key in expected], list(expected.values()), atol=1e-5)
