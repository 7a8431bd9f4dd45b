"""Several labels: 2-D scores, apply_softmax and per-call activations, equal to the reference's.

The 3-label model is the test cross-encoder's encoder with a randomly initialised (seeded) head:
its scores mean nothing, but they exercise the mechanics exactly.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from sentembed import CrossEncoder
from tests.support.paths import CROSS_ENCODER

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def three_label_folder(tmp_path_factory):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tmp_path_factory.mktemp("three-label") / "model"
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(CROSS_ENCODER), num_labels=3, ignore_mismatched_sizes=True
    )
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(CROSS_ENCODER)).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config.pop("sentence_transformers", None)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="module")
def models(three_label_folder):
    from sentence_transformers import CrossEncoder as Reference

    return CrossEncoder(str(three_label_folder), device="cpu"), Reference(str(three_label_folder), device="cpu")


@pytest.fixture(scope="module")
def pairs(wikiqa_pairs):
    return wikiqa_pairs[:64]


def test_several_labels_default_to_identity_and_equal_the_reference(models, pairs):
    ours, reference = models
    assert ours.num_labels == 3 and isinstance(ours.activation_fn, nn.Identity)
    scores = ours.predict(pairs)
    assert scores.shape == (64, 3)
    np.testing.assert_allclose(scores, reference.predict(pairs), atol=TOLERANCE, rtol=0)


def test_apply_softmax_equals_the_reference(models, pairs):
    ours, reference = models
    scores = ours.predict(pairs, apply_softmax=True)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(scores, reference.predict(pairs, apply_softmax=True), atol=TOLERANCE, rtol=0)


def test_per_call_activation_then_softmax_equals_the_reference(models, pairs):
    ours, reference = models
    expected = reference.predict(pairs, activation_fn=nn.Tanh(), apply_softmax=True)
    np.testing.assert_allclose(ours.predict(pairs, activation_fn="Tanh", apply_softmax=True), expected, atol=TOLERANCE)


def test_single_pair_gives_one_row(models, pairs):
    ours, _ = models
    row = ours.predict(pairs[0])
    assert row.shape == (3,)
    np.testing.assert_allclose(row, ours.predict(pairs[:1])[0], atol=1e-6)


def test_rank_on_several_labels_is_a_value_error(models):
    ours, _ = models
    with pytest.raises(ValueError, match="num_labels=3"):
        ours.rank("query", ["a document"])
    assert ours.predict([]).shape == (0, 3)


def test_num_labels_argument_builds_a_new_head():
    model = CrossEncoder(str(CROSS_ENCODER), num_labels=2, model_kwargs={"ignore_mismatched_sizes": True}, device="cpu")
    assert model.num_labels == 2
    assert model.predict(("a", "b")).shape == (2,)
