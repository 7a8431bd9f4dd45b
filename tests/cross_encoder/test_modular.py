"""CrossEncoder(modules=[...]): a cross-encoder built as a pipeline of modules, its members, scores and folder."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from torch import nn

from sentembed import CrossEncoder
from sentembed.models import Dense, Pooling, Transformer
from tests.support.models import random_static_model
from tests.support.paths import CROSS_ENCODER, MINILM_L3

PAIRS = [
    ("How many people live in Berlin?", "Berlin has a population of 3,520,031 registered inhabitants."),
    ("How many people live in Berlin?", "Berlin is well known for its museums."),
    ("What is the capital of France?", "Paris is the capital and most populous city of France."),
]


def scoring_pipeline(out_features: int, seed: int = 0, output_name: str | None = "scores") -> list[nn.Module]:
    """paraphrase-MiniLM-L3-v2's encoder, mean pooling, and a Dense head with seeded RANDOM weights."""
    transformer = Transformer(str(MINILM_L3))
    width = transformer.get_word_embedding_dimension()
    generator = torch.Generator().manual_seed(seed)
    head = Dense(
        width,
        out_features,
        activation_function=nn.Identity(),
        init_weight=torch.randn(out_features, width, generator=generator) * 0.05,
        init_bias=torch.zeros(out_features),
        module_output_name=output_name,
    )
    return [transformer, Pooling(width, pooling_mode="mean"), head]


def expected_logits(modules: list[nn.Module], pairs: list[tuple[str, str]]) -> torch.Tensor:
    """The pipeline's logits computed by hand: each pair tokenized as one sequence, token embeddings averaged
    over the attention mask, then the head's linear map."""
    transformer, _, head = modules
    rows = []
    with torch.inference_mode():
        for first, second in pairs:
            encoded = transformer.tokenizer(first, second, truncation=True, return_tensors="pt")
            tokens = transformer.auto_model(**encoded).last_hidden_state[0]
            mask = encoded["attention_mask"][0].unsqueeze(-1).float()
            pooled = (tokens * mask).sum(0) / mask.sum()
            rows.append(head.linear(pooled))
    return torch.stack(rows)


@pytest.fixture(scope="module")
def one_label_modules() -> list[nn.Module]:
    return scoring_pipeline(1)


def test_a_pipeline_scores_pairs_read_together_through_every_module(one_label_modules):
    model = CrossEncoder(modules=one_label_modules, device="cpu")
    assert len(model) == 3 and model[0] is one_label_modules[0] and model[2] is one_label_modules[2]
    assert model.num_labels == 1 and isinstance(model.activation_fn, nn.Sigmoid)
    assert model.model is one_label_modules[0].auto_model and model.config.model_type == "bert"
    scores = model.predict(PAIRS)
    expected = torch.sigmoid(expected_logits(one_label_modules, PAIRS)).squeeze(-1).numpy()
    np.testing.assert_allclose(scores, expected, atol=1e-5, rtol=0)
    assert len(set(np.round(scores, 4))) == len(PAIRS)  # the head is not constant


def test_the_scoring_dense_sets_num_labels_and_the_default_activation():
    modules = scoring_pipeline(3, seed=1)
    model = CrossEncoder(modules=modules, device="cpu")
    assert model.num_labels == 3 and isinstance(model.activation_fn, nn.Identity)
    scores = model.predict(PAIRS)
    assert scores.shape == (3, 3)
    np.testing.assert_allclose(scores, expected_logits(modules, PAIRS).numpy(), atol=1e-5, rtol=0)


def test_a_dense_that_does_not_write_scores_is_not_the_head_and_predict_says_so():
    model = CrossEncoder(modules=scoring_pipeline(64, output_name=None), device="cpu")
    assert model.num_labels == 1
    with pytest.raises(ValueError, match="wrote no 'scores' feature"):
        model.predict(PAIRS)


def test_a_pipeline_without_a_transformer_has_no_config_and_cannot_read_pairs():
    static = random_static_model(dimension=16)[0]  # StaticEmbedding with RANDOM token vectors
    model = CrossEncoder(modules=[static, Dense(16, 7, module_output_name="scores")], device="cpu")
    assert model.num_labels == 7 and isinstance(model.activation_fn, nn.Identity)
    assert model.config is None and model.model is None
    with pytest.raises(TypeError, match="cannot read text pairs"):
        model.predict(PAIRS)
    with pytest.raises(TypeError, match="not a SequenceClassifier"):
        model.classifier  # noqa: B018


def test_a_pipeline_round_trips_through_its_folder(tmp_path, one_label_modules):
    model = CrossEncoder(modules=one_label_modules, device="cpu", prompts={"web": "query: "})
    model.save(str(tmp_path / "pipeline"), create_model_card=False)
    entries = json.loads((tmp_path / "pipeline" / "modules.json").read_text())
    assert [entry["type"].rsplit(".", 1)[1] for entry in entries] == ["Transformer", "Pooling", "Dense"]
    model_config = json.loads((tmp_path / "pipeline" / "config_sentence_transformers.json").read_text())
    assert model_config["model_type"] == "CrossEncoder"
    assert model_config["activation_fn"] == "torch.nn.modules.activation.Sigmoid"
    loaded = CrossEncoder(str(tmp_path / "pipeline"), device="cpu")
    assert len(loaded) == 3 and loaded.num_labels == 1 and loaded.prompts == {"web": "query: "}
    np.testing.assert_allclose(loaded.predict(PAIRS), model.predict(PAIRS), atol=1e-6, rtol=0)


def test_a_loaded_cross_encoder_is_one_indexable_classifier_module():
    model = CrossEncoder(str(CROSS_ENCODER), device="cpu")
    assert len(model) == 1 and model[0] is model.classifier
    assert model.processor is model.tokenizer is model[0].tokenizer


def test_modules_beside_a_model_name_are_ignored_with_a_warning(caplog, one_label_modules):
    with caplog.at_level(logging.WARNING, logger="sentembed"):
        model = CrossEncoder(str(CROSS_ENCODER), modules=one_label_modules, device="cpu")
    assert "`modules` argument is ignored" in caplog.text and len(model) == 1


@pytest.mark.parametrize("modules", [None, [], ["not a module"]])
def test_a_model_needs_a_name_or_modules(modules):
    with pytest.raises((ValueError, TypeError), match="modules"):
        CrossEncoder(modules=modules)
