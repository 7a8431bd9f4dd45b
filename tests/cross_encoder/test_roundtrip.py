"""Round trips: saved by us and loaded by the reference (and by us), with the same scores."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from torch import nn

from sentembed import CrossEncoder
from tests.support.paths import CROSS_ENCODER

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def pairs(wikiqa_pairs):
    return wikiqa_pairs[:200]


@pytest.fixture(scope="module")
def saved_by_us(tmp_path_factory, cross_encoder):
    folder = tmp_path_factory.mktemp("ours") / "model"
    cross_encoder.save(str(folder))
    return folder


def test_save_writes_the_classic_checkpoint_and_the_modular_files(saved_by_us):
    config = json.loads((saved_by_us / "config.json").read_text())
    assert config["sentence_transformers"]["activation_fn"] == "torch.nn.modules.activation.Sigmoid"
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert (saved_by_us / "model.safetensors").exists()
    assert "CrossEncoder" in (saved_by_us / "README.md").read_text()
    modules = json.loads((saved_by_us / "modules.json").read_text())
    assert [(entry["path"], entry["type"].rsplit(".", 1)[1]) for entry in modules] == [("", "Transformer")]
    model_config = json.loads((saved_by_us / "config_sentence_transformers.json").read_text())
    assert model_config["model_type"] == "CrossEncoder"
    assert model_config["activation_fn"] == "torch.nn.modules.activation.Sigmoid"


def test_reference_loads_our_folder_with_the_same_scores(saved_by_us, pairs, our_scores):
    from sentence_transformers import CrossEncoder as Reference

    reference = Reference(str(saved_by_us), device="cpu")
    assert isinstance(reference.activation_fn, nn.Sigmoid)
    np.testing.assert_allclose(reference.predict(pairs), our_scores[:200], atol=TOLERANCE, rtol=0)


def test_we_load_our_folder_with_the_same_scores(saved_by_us, pairs, our_scores):
    np.testing.assert_allclose(CrossEncoder(str(saved_by_us)).predict(pairs), our_scores[:200], atol=TOLERANCE, rtol=0)


def test_reference_folder_round_trips_through_us(tmp_path, modular_folder, pairs, reference_scores):
    from sentence_transformers import CrossEncoder as Reference

    CrossEncoder(str(modular_folder), device="cpu").save_pretrained(str(tmp_path / "again"))
    np.testing.assert_allclose(
        Reference(str(tmp_path / "again"), device="cpu").predict(pairs), reference_scores[:200], atol=TOLERANCE, rtol=0
    )


def test_activation_and_max_length_survive_a_round_trip(tmp_path, pairs):
    from sentence_transformers import CrossEncoder as Reference

    model = CrossEncoder(str(CROSS_ENCODER), max_length=32, activation_fn=nn.Identity(), device="cpu")
    model.save(str(tmp_path / "identity"), create_model_card=False)
    assert not (tmp_path / "identity" / "README.md").exists()
    ours, reference = CrossEncoder(str(tmp_path / "identity")), Reference(str(tmp_path / "identity"), device="cpu")
    assert ours.max_length == reference.max_seq_length == 32
    assert isinstance(ours.activation_fn, nn.Identity) and isinstance(reference.activation_fn, nn.Identity)
    expected = model.predict(pairs[:50])
    np.testing.assert_allclose(ours.predict(pairs[:50]), expected, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(reference.predict(pairs[:50]), expected, atol=TOLERANCE, rtol=0)


def test_an_activation_outside_the_allowlist_is_not_saved(tmp_path, caplog):
    model = CrossEncoder(str(CROSS_ENCODER), activation_fn=lambda scores: scores, device="cpu")
    with caplog.at_level(logging.WARNING, logger="sentembed"):
        model.save(str(tmp_path / "custom"))
    assert "not in the allowlist" in caplog.text
    assert "sentence_transformers" not in json.loads((tmp_path / "custom" / "config.json").read_text())
    assert isinstance(CrossEncoder(str(tmp_path / "custom")).activation_fn, nn.Sigmoid)
