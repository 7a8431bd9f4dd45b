"""A bi-encoder folder or a plain transformers encoder loads as a CrossEncoder with a new classification head, as
the reference does; activations are saved where sentence-transformers 6 reads them."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from sentembed import CrossEncoder, SentenceTransformer
from tests.support.models import random_static_model
from tests.support.paths import CROSS_ENCODER, MINILM_L3

PAIRS = [("How many people live in Berlin?", "Berlin has 3.5 million people."), ("A man eats.", "A dog runs.")]


def encoder_weights(model: nn.Module) -> torch.Tensor:
    return model.get_input_embeddings().weight.detach()


def test_a_bi_encoder_loads_with_a_new_one_label_head_like_the_reference(caplog):
    from sentence_transformers import CrossEncoder as Reference

    with caplog.at_level(logging.WARNING, logger="sentembed"):
        model = CrossEncoder(str(MINILM_L3), device="cpu")
    assert "no sequence-classification head" in caplog.text and "initialized at random" in caplog.text
    reference = Reference(str(MINILM_L3), device="cpu")
    assert model.num_labels == reference.num_labels == 1
    assert isinstance(model.activation_fn, nn.Sigmoid) and isinstance(reference.activation_fn, nn.Sigmoid)
    bi_encoder = SentenceTransformer(str(MINILM_L3), device="cpu")
    torch.testing.assert_close(encoder_weights(model.model), encoder_weights(bi_encoder[0].auto_model))
    assert model.max_length == bi_encoder.max_seq_length == 128
    assert model.predict(PAIRS).shape == (2,)


@pytest.mark.parametrize(("num_labels", "activation"), [(1, nn.Tanh()), (1, nn.Softmax()), (3, None)])
def test_a_new_head_and_its_activation_round_trip(tmp_path, num_labels, activation):
    model = CrossEncoder(str(MINILM_L3), num_labels=num_labels, activation_fn=activation, device="cpu")
    expected_activation = type(activation) if activation is not None else nn.Identity
    assert model.num_labels == num_labels and type(model.activation_fn) is expected_activation
    model.save_pretrained(str(tmp_path / "converted"))
    model_config = json.loads((tmp_path / "converted" / "config_sentence_transformers.json").read_text())
    assert model_config["activation_fn"].rsplit(".", 1)[1] == expected_activation.__name__
    loaded = CrossEncoder(str(tmp_path / "converted"), device="cpu")
    assert loaded.num_labels == num_labels and type(loaded.activation_fn) is expected_activation
    np.testing.assert_allclose(loaded.predict(PAIRS), model.predict(PAIRS), atol=1e-6, rtol=0)


def test_a_bi_encoders_prompts_are_not_taken_over(tmp_path):
    source = SentenceTransformer(
        str(MINILM_L3), device="cpu", prompts={"query": "Represent this: "}, default_prompt_name="query"
    )
    source.save(str(tmp_path / "bi"))
    model = CrossEncoder(str(tmp_path / "bi"), device="cpu")
    assert model.prompts == {} and model.default_prompt_name is None


def test_a_plain_transformers_encoder_gets_a_new_head(tmp_path):
    folder = tmp_path / "plain"
    shutil.copytree(MINILM_L3, folder, ignore=shutil.ignore_patterns("modules.json", "1_Pooling"))
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["BertModel"]
    model = CrossEncoder(str(folder), device="cpu")
    assert model.num_labels == 1
    assert CrossEncoder(str(folder), num_labels=2, device="cpu").num_labels == 2


def test_a_trained_cross_encoder_keeps_its_head():
    model = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    head = model.model.classifier.weight
    assert model.num_labels == 1 and not torch.equal(head, torch.zeros_like(head))
    np.testing.assert_allclose(model.predict(PAIRS), CrossEncoder(str(CROSS_ENCODER)).predict(PAIRS), rtol=0)


def test_a_bi_encoder_without_a_transformer_is_refused(tmp_path):
    random_static_model(dimension=16).save(str(tmp_path / "static"))  # StaticEmbedding with RANDOM vectors
    with pytest.raises(OSError, match="first module is .*StaticEmbedding"):
        CrossEncoder(str(tmp_path / "static"))


def test_an_activation_outside_the_allowlist_is_imported_only_with_trust_remote_code(tmp_path):
    folder = tmp_path / "custom"
    CrossEncoder(str(CROSS_ENCODER), device="cpu").save(str(folder), create_model_card=False)
    config_path = folder / "config_sentence_transformers.json"
    config = json.loads(config_path.read_text())
    config["activation_fn"] = "torch.nn.modules.activation.Hardtanh"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match="Hardtanh.*trust_remote_code=True"):
        CrossEncoder(str(folder))
    assert isinstance(CrossEncoder(str(folder), trust_remote_code=True).activation_fn, nn.Hardtanh)
    config["activation_fn"] = "sentembed_tests_missing_package.activations.Custom"
    config_path.write_text(json.dumps(config))
    with pytest.raises(ModuleNotFoundError, match="sentembed_tests_missing_package"):
        CrossEncoder(str(folder), trust_remote_code=True)
