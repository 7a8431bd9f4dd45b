"""Saving and loading: our folders load in the reference and ours, and the reference's load in ours."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer as Reference
from sentence_transformers import models as reference_models

from sentembed import SentenceTransformer, models
from tests.support.data import sts_test_sentences
from tests.support.paths import MINILM_L3

TEXTS = sts_test_sentences()[:200] + ["word " * 300]


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    assert np.abs(a - b).max() < 1e-5


def test_saved_folder_loads_in_both_libraries(tmp_path, minilm_l6):
    prompts = minilm_l6.prompts
    minilm_l6.prompts = {"query": "query: "}
    minilm_l6.similarity_fn_name = "dot"
    try:
        minilm_l6.save(str(tmp_path))
        expected = minilm_l6.encode(TEXTS)
    finally:
        minilm_l6.prompts = prompts
        minilm_l6.similarity_fn_name = None
    for name in ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "README.md"):
        assert (tmp_path / name).exists(), name
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "2_Normalize").is_dir()
    assert json.loads((tmp_path / "modules.json").read_text())[1]["type"] == "sentence_transformers.models.Pooling"

    ours = SentenceTransformer(str(tmp_path), device="cpu")
    reference = Reference(str(tmp_path), device="cpu")
    assert_same(ours.encode(TEXTS), expected)
    assert_same(reference.encode(TEXTS), expected)
    assert reference.similarity_fn_name == "dot" and reference.prompts.get("query") == "query: "
    assert reference.max_seq_length == 256


def test_reference_saved_folder_loads_in_ours(tmp_path, reference_minilm_l3, minilm_l3):
    reference_minilm_l3.save(str(tmp_path))
    ours = SentenceTransformer(str(tmp_path), device="cpu")
    assert ours.max_seq_length == 128
    assert_same(ours.encode(TEXTS), reference_minilm_l3.encode(TEXTS))


def build_ours() -> SentenceTransformer:
    torch.manual_seed(0)
    transformer = models.Transformer(str(MINILM_L3), max_seq_length=64)
    return SentenceTransformer(
        modules=[
            transformer,
            models.Pooling(transformer.get_word_embedding_dimension(), pooling_mode="cls"),
            models.Dense(384, 128, activation_function=torch.nn.Tanh()),
            models.Normalize(),
        ],
        device="cpu",
    )


def build_reference() -> Reference:
    torch.manual_seed(0)
    transformer = reference_models.Transformer(str(MINILM_L3), max_seq_length=64)
    return Reference(
        modules=[
            transformer,
            reference_models.Pooling(transformer.get_embedding_dimension(), pooling_mode="cls"),
            reference_models.Dense(384, 128, activation_function=torch.nn.Tanh()),
            reference_models.Normalize(),
        ],
        device="cpu",
    )


def test_model_built_from_modules_round_trips_into_the_reference(tmp_path):
    ours = build_ours()
    expected = ours.encode(TEXTS)
    assert expected.shape == (len(TEXTS), 128)
    assert np.allclose(np.linalg.norm(expected, axis=1), 1, atol=1e-5)
    ours.save(str(tmp_path))
    assert json.loads((tmp_path / "2_Dense" / "config.json").read_text())["activation_function"] == (
        "torch.nn.modules.activation.Tanh"
    )
    assert_same(Reference(str(tmp_path), device="cpu").encode(TEXTS), expected)
    assert_same(SentenceTransformer(str(tmp_path), device="cpu").encode(TEXTS), expected)


def test_model_built_by_the_reference_round_trips_into_ours(tmp_path):
    reference = build_reference()
    reference.save(str(tmp_path))
    ours = SentenceTransformer(str(tmp_path), device="cpu")
    assert [type(module).__name__ for module in ours] == ["Transformer", "Pooling", "Dense", "Normalize"]
    assert_same(ours.encode(TEXTS), reference.encode(TEXTS))


def test_save_pretrained_is_save(tmp_path, minilm_l3):
    minilm_l3.save_pretrained(str(tmp_path), create_model_card=False)
    assert (tmp_path / "modules.json").exists() and not (tmp_path / "README.md").exists()


@pytest.mark.parametrize("name", ["Tanh", "torch.nn.modules.activation.ReLU", "torch.nn.modules.linear.Identity"])
def test_dense_activations_come_from_an_allowlist(name):
    assert models.Dense(4, 2, activation_function=name).activation_function is not None


def test_dense_refuses_an_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation function 'os.system'"):
        models.Dense(4, 2, activation_function="os.system")


class ScaleByConstant(torch.nn.Module):
    """A module written the way the reference's docs show custom modules: `save(self, output_path)` only, writing
    into the folder without creating it, and a static `load(input_path)`."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, features):
        return {**features, "sentence_embedding": features["sentence_embedding"] * self.factor}

    def save(self, output_path):
        with open(os.path.join(output_path, "scale.json"), "w") as handle:
            json.dump({"factor": self.factor}, handle)

    @staticmethod
    def load(input_path):
        with open(os.path.join(input_path, "scale.json")) as handle:
            return ScaleByConstant(**json.load(handle))


def test_a_users_module_with_a_path_only_save_gets_its_folder(tmp_path, minilm_l3):
    model = SentenceTransformer(modules=[*minilm_l3, ScaleByConstant(3.0)], device="cpu")
    model.save(str(tmp_path / "scaled"), safe_serialization=False)
    entry = json.loads((tmp_path / "scaled" / "modules.json").read_text())[-1]
    assert entry["type"].endswith("test_roundtrip.ScaleByConstant")
    assert json.loads((tmp_path / "scaled" / entry["path"] / "scale.json").read_text()) == {"factor": 3.0}
    loaded = SentenceTransformer(str(tmp_path / "scaled"), device="cpu", trust_remote_code=True)
    assert isinstance(loaded[-1], ScaleByConstant)
    np.testing.assert_allclose(loaded.encode(TEXTS[:8]), 3.0 * minilm_l3.encode(TEXTS[:8]), rtol=1e-5)


def test_a_save_that_refuses_safe_serialization_is_called_again_without_it(tmp_path, minilm_l3, monkeypatch):
    calls = []
    original = models.Pooling.save

    def refusing_save(self, path, safe_serialization=None):
        calls.append(safe_serialization)
        if safe_serialization is not None:
            raise TypeError("save() got an unexpected keyword argument 'safe_serialization'")
        return original(self, path)

    monkeypatch.setattr(models.Pooling, "save", refusing_save)
    minilm_l3.save(str(tmp_path / "saved"))
    assert calls == [True, None]
    assert (tmp_path / "saved" / "1_Pooling" / "config.json").exists()
