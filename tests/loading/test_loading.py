"""Finding and loading model folders: names, caches, packages, the hub (offline), layouts and bad files."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from sentembed import SentenceTransformer
from sentembed.common.types import fullname
from sentembed.loading import resolve
from sentembed.loading.registry import trusted_module_classes
from sentembed.models import Dense, Normalize, Pooling, Transformer
from sentembed.models.base import Module
from tests.support.models import fake_hub_cache
from tests.support.paths import CROSS_ENCODER, MINILM_L3, minilm_l6_folder

TEXTS = ["A man is eating food.", "Someone is playing a guitar."]


@pytest.fixture()
def l3_copy(tmp_path) -> Path:
    """A private copy of paraphrase-MiniLM-L3-v2 that a test may change."""
    return Path(shutil.copytree(MINILM_L3, tmp_path / "model"))


@pytest.fixture()
def minilm_l3_fresh() -> SentenceTransformer:
    """paraphrase-MiniLM-L3-v2 loaded for this test alone (it may be changed)."""
    return SentenceTransformer(str(MINILM_L3), device="cpu")


@pytest.fixture(scope="module")
def l3_embeddings(minilm_l3) -> np.ndarray:
    return minilm_l3.encode(TEXTS)


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data)))


@pytest.mark.parametrize("name", ["all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"])
def test_default_model_resolves_offline_from_its_package(name, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    assert resolve.resolve_model_path(name) == minilm_l6_folder()


def test_cache_folder_is_searched_before_packages(tmp_path, monkeypatch, l3_embeddings):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snapshot = fake_hub_cache(tmp_path, "sentence-transformers/all-MiniLM-L6-v2", MINILM_L3)
    assert resolve.resolve_model_path("all-MiniLM-L6-v2", cache_folder=str(tmp_path)) == snapshot
    monkeypatch.setenv("SENTENCE_TRANSFORMERS_HOME", str(tmp_path))
    model = SentenceTransformer("all-MiniLM-L6-v2", device="cpu")
    assert np.abs(model.encode(TEXTS) - l3_embeddings).max() < 1e-6


def test_legacy_flat_cache_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    flat = Path(shutil.copytree(MINILM_L3, tmp_path / "someone_tiny-model"))
    assert resolve.resolve_model_path("someone/tiny-model", cache_folder=str(tmp_path)) == flat


def test_missing_model_lists_every_place_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError) as error:
        SentenceTransformer("no-such-model-anywhere", cache_folder=str(tmp_path))
    message = str(error.value)
    for place in ["path no-such-model-anywhere", f"cache {tmp_path}", "installed model packages", "hub: not asked"]:
        assert place in message


def test_hub_download_gets_revision_token_and_cache(tmp_path, monkeypatch):
    """With no local copy, the hub is asked through huggingface_hub with the caller's settings."""
    calls = []

    def fake_snapshot_download(repo_id, **kwargs):
        if kwargs.get("local_files_only"):
            raise FileNotFoundError("not cached")
        calls.append((repo_id, kwargs))
        return str(MINILM_L3)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(resolve.hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(resolve, "snapshot_download", fake_snapshot_download)
    path = resolve.resolve_model_path("org/model", cache_folder=str(tmp_path), revision="v2", token="secret")
    assert path == MINILM_L3
    repo_id, kwargs = calls[0]
    assert repo_id == "org/model"
    assert (kwargs["revision"], kwargs["token"], kwargs["cache_dir"]) == ("v2", "secret", str(tmp_path))
    calls.clear()
    with pytest.raises(OSError, match="hub: not asked"):
        resolve.resolve_model_path("org/model", cache_folder=str(tmp_path), local_files_only=True)
    assert calls == []


def test_real_hub_failure_is_reported_not_hung(tmp_path, monkeypatch):
    """The hub is unreachable here: the error must say so among the places tried."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(resolve.hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "2")
    with pytest.raises(OSError, match="hub sentembed-tests/does-not-exist@main"):
        resolve.resolve_model_path("sentembed-tests/does-not-exist", cache_folder=str(tmp_path))


def test_new_pooling_config_and_new_type_names(l3_copy, l3_embeddings):
    (l3_copy / "1_Pooling" / "config.json").write_text(json.dumps({"embedding_dimension": 384, "pooling_mode": "mean"}))
    edit_json(
        l3_copy / "modules.json",
        lambda modules: [
            {**modules[0], "type": "sentence_transformers.base.modules.transformer.Transformer"},
            {**modules[1], "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
        ],
    )
    model = SentenceTransformer(str(l3_copy), device="cpu")
    assert np.abs(model.encode(TEXTS) - l3_embeddings).max() < 1e-6


@pytest.mark.parametrize("mode", ["cls", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"])
def test_every_pooling_mode_matches_reference(l3_copy, mode):
    from sentence_transformers import SentenceTransformer as Reference

    (l3_copy / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 384, "pooling_mode_mean_tokens": False, f"pooling_mode_{mode}": True})
        if mode in ("cls_token", "lasttoken")
        else json.dumps({"embedding_dimension": 384, "pooling_mode": [mode, "mean"]})
    )
    ours = SentenceTransformer(str(l3_copy), device="cpu").encode(TEXTS + ["a longer third sentence for padding"])
    theirs = Reference(str(l3_copy), device="cpu").encode(TEXTS + ["a longer third sentence for padding"])
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-5


def test_old_sentence_config_name_and_model_config(l3_copy, l3_embeddings):
    (l3_copy / "sentence_bert_config.json").rename(l3_copy / "sentence_roberta_config.json")
    (l3_copy / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: "}, "default_prompt_name": None, "similarity_fn_name": "dot"})
    )
    model = SentenceTransformer(str(l3_copy), device="cpu")
    assert model.max_seq_length == 128
    assert model.prompts == {"query": "query: ", "document": ""} and model.similarity_fn_name == "dot"
    assert np.abs(model.encode(TEXTS) - l3_embeddings).max() < 1e-6


def test_plain_checkpoint_loads_with_mean_pooling(caplog):
    with caplog.at_level("WARNING"):
        model = SentenceTransformer(str(CROSS_ENCODER), device="cpu")
    assert isinstance(model[0], Transformer) and isinstance(model[1], Pooling)
    assert model[1].modes == ["mean"]
    said = [record.message for record in caplog.records]
    assert any(f"No modules.json found for {CROSS_ENCODER}" in line and "with mean pooling" in line for line in said)
    assert model.encode(TEXTS).shape == (2, 384)


def test_unknown_module_type_is_refused_without_trust_remote_code(l3_copy, tmp_path, monkeypatch):
    package = tmp_path / "custom_pkg"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            import torch
            class Doubler(torch.nn.Module):
                def forward(self, features):
                    features["sentence_embedding"] = features["sentence_embedding"] * 2
                    return features
                def save(self, path, safe_serialization=True):
                    pass
                @classmethod
                def load(cls, path):
                    return cls()
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    edit_json(
        l3_copy / "modules.json",
        lambda modules: [*modules, {"idx": 2, "name": "2", "path": "", "type": "custom_pkg.Doubler"}],
    )
    with pytest.raises(ValueError, match="unknown module type 'custom_pkg.Doubler'.*trust_remote_code=True"):
        SentenceTransformer(str(l3_copy), device="cpu")
    assert "custom_pkg" not in sys.modules
    model = SentenceTransformer(str(l3_copy), device="cpu", trust_remote_code=True)
    plain = SentenceTransformer(str(MINILM_L3), device="cpu")
    assert np.allclose(model.encode(TEXTS), 2 * plain.encode(TEXTS), atol=1e-5)


def test_corrupt_weights_are_an_os_error_naming_the_file(l3_copy):
    (l3_copy / "model.safetensors").write_bytes(b"this is not a safetensors file")
    with pytest.raises(OSError, match="model.safetensors"):
        SentenceTransformer(str(l3_copy), device="cpu")


def test_missing_weights_are_an_os_error_naming_the_file(l3_copy):
    (l3_copy / "model.safetensors").unlink()
    with pytest.raises(OSError, match="model.safetensors"):
        SentenceTransformer(str(l3_copy), device="cpu")


def test_bin_weights_load_through_weights_only(l3_copy, l3_embeddings):
    """A pickled `.bin` checkpoint loads, but only through weights-only unpickling."""
    import torch
    from safetensors.torch import load_file

    torch.save(load_file(l3_copy / "model.safetensors"), l3_copy / "pytorch_model.bin")
    (l3_copy / "model.safetensors").unlink()
    model = SentenceTransformer(str(l3_copy), device="cpu")
    assert np.abs(model.encode(TEXTS) - l3_embeddings).max() < 1e-6


def test_pickled_code_in_a_bin_file_is_refused(tmp_path):
    """A Dense `.bin` holding arbitrary objects is refused rather than executed."""
    from sentembed.models import Dense

    Dense(4, 2).save(str(tmp_path))
    (tmp_path / "model.safetensors").unlink()
    import torch

    torch.save({"linear.weight": torch.zeros(2, 4), "payload": print}, tmp_path / "pytorch_model.bin")
    with pytest.raises(OSError, match="pytorch_model.bin"):
        Dense.load(str(tmp_path))


def test_a_file_is_not_a_model(tmp_path):
    path = tmp_path / "model.txt"
    path.write_text("hello")
    with pytest.raises(NotADirectoryError, match="is a file, not a directory"):
        SentenceTransformer(str(path))


def test_constructor_overrides(l3_embeddings):
    model = SentenceTransformer(
        str(MINILM_L3),
        device="cpu",
        prompts={"query": "q: "},
        default_prompt_name="query",
        similarity_fn_name="manhattan",
        truncate_dim=16,
    )
    assert model.encode(TEXTS).shape == (2, 16)
    assert model.similarity_fn_name == "manhattan"
    with pytest.raises(ValueError, match="Default prompt name 'missing' not found in the configured prompts"):
        SentenceTransformer(str(MINILM_L3), device="cpu", default_prompt_name="missing")
    with pytest.raises(ValueError, match="unknown backend"):
        SentenceTransformer(str(MINILM_L3), backend="tensorflow")


def test_a_model_whose_requirements_are_unmet_is_refused_by_name(l3_copy):
    config = {"prompts": {}}
    config["requirements"] = {"transformers": ">=999", "torch": ">=2"}
    (l3_copy / "config_sentence_transformers.json").write_text(json.dumps(config))
    with pytest.raises(ImportError, match=r"needs transformers>=999; install it") as raised:
        SentenceTransformer(str(l3_copy))
    assert "torch" not in str(raised.value)  # met requirements are not named
    config["requirements"] = {"transformers": ">=4", "not-a-package-of-this-machine": ""}
    (l3_copy / "config_sentence_transformers.json").write_text(json.dumps(config))
    with pytest.raises(ImportError, match="not-a-package-of-this-machine"):
        SentenceTransformer(str(l3_copy))
    config["requirements"] = {"transformers": "at least five"}
    (l3_copy / "config_sentence_transformers.json").write_text(json.dumps(config))
    with pytest.raises(OSError, match="is not a version range"):
        SentenceTransformer(str(l3_copy))
    config["requirements"] = {"transformers": ">=4"}
    (l3_copy / "config_sentence_transformers.json").write_text(json.dumps(config))
    assert SentenceTransformer(str(l3_copy)).trust_remote_code is False


def test_gradient_checkpointing_reaches_the_transformers_network(minilm_l3_fresh):
    model = minilm_l3_fresh
    assert not model[0].auto_model.is_gradient_checkpointing
    model.gradient_checkpointing_enable({"use_reentrant": False})
    assert model[0].auto_model.is_gradient_checkpointing
    model.train()
    loss = model(model.preprocess(["a text to check"]))["sentence_embedding"].sum()
    loss.backward()  # the recomputed forward gives gradients
    assert model[0].auto_model.embeddings.word_embeddings.weight.grad is not None
    with pytest.raises(ValueError, match="needs a transformers network"):
        SentenceTransformer(modules=[Pooling(8)]).gradient_checkpointing_enable()


# ----- modules written outside sentembed ----------------------------------------------------------------


class Scaler(Module):
    """A third-party module as the reference's docs write one: a strict `load` signature (no **kwargs), its
    config written by `save_config` and read by `load_config`."""

    config_keys = ("scale",)

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, features, **kwargs):
        features["sentence_embedding"] = features["sentence_embedding"] * self.scale
        return features

    def save(self, output_path, *args, safe_serialization=True, **kwargs):
        self.save_config(output_path)

    @classmethod
    def load(
        cls, model_name_or_path, subfolder="", token=None, cache_folder=None, revision=None, local_files_only=False
    ):
        config = cls.load_config(
            model_name_or_path,
            subfolder=subfolder,
            token=token,
            cache_folder=cache_folder,
            revision=revision,
            local_files_only=local_files_only,
        )
        return cls(**config)


class MyNormalize(Normalize):
    """A user's subclass of a known module."""


def test_a_third_party_module_round_trips_with_trust_remote_code_or_as_a_trusted_class(random_static, tmp_path):
    model = SentenceTransformer(modules=[*random_static, Scaler(scale=2.0)], device="cpu")
    model.save(str(tmp_path))
    assert json.loads((tmp_path / "modules.json").read_text())[2]["type"] == fullname(Scaler)
    assert json.loads((tmp_path / "2_Scaler" / "config.json").read_text()) == {"scale": 2.0}

    with pytest.raises(ValueError, match="trust_remote_code"):
        SentenceTransformer(str(tmp_path), device="cpu")
    reloaded = SentenceTransformer(str(tmp_path), device="cpu", trust_remote_code=True)
    assert isinstance(reloaded[2], Scaler) and reloaded[2].scale == 2.0
    np.testing.assert_allclose(reloaded.encode(TEXTS), 2 * random_static.encode(TEXTS), atol=1e-6)

    with trusted_module_classes({"other_package.Thing": Scaler}), pytest.raises(ValueError, match="trust_remote_code"):
        SentenceTransformer(str(tmp_path), device="cpu")  # only the names it maps are trusted
    with trusted_module_classes({fullname(Scaler): Scaler}):
        trusted = SentenceTransformer(str(tmp_path), device="cpu")
    assert isinstance(trusted[2], Scaler) and trusted.trust_remote_code is False
    with pytest.raises(ValueError, match="trust_remote_code"):
        SentenceTransformer(str(tmp_path), device="cpu")  # the block is over


def test_a_subclass_of_a_known_module_is_saved_under_its_own_name(random_static, tmp_path):
    SentenceTransformer(modules=[random_static[0], MyNormalize()], device="cpu").save(str(tmp_path / "mine"))
    assert json.loads((tmp_path / "mine" / "modules.json").read_text())[1]["type"] == fullname(MyNormalize)
    assert isinstance(SentenceTransformer(str(tmp_path / "mine"), trust_remote_code=True)[1], MyNormalize)
    random_static.save(str(tmp_path / "standard"))  # sentembed's own classes keep the reference's names
    types = [entry["type"] for entry in json.loads((tmp_path / "standard" / "modules.json").read_text())]
    assert types == ["sentence_transformers.models.StaticEmbedding", "sentence_transformers.models.Normalize"]


def test_module_file_helpers_read_and_write_a_modules_folder(tmp_path):
    dense = Dense(4, 2, init_weight=torch.arange(8.0).reshape(2, 4), init_bias=torch.ones(2))
    folder = tmp_path / "2_Dense"
    dense.save_config(str(folder))
    dense.save_torch_weights(str(folder))
    assert Dense.load_config(str(tmp_path), subfolder="2_Dense")["out_features"] == 2
    assert Dense.load_config(str(tmp_path), subfolder="2_Dense", config_filename="other.json") == {}
    assert Dense.load_file_path(str(tmp_path), "config.json", subfolder="2_Dense") == str(folder / "config.json")
    assert Dense.load_file_path(str(tmp_path), "missing.json") is None
    assert Dense.load_dir_path(str(tmp_path), subfolder="2_Dense") == str(folder)
    assert Dense.load_dir_path(str(tmp_path), subfolder="3_Normalize") is None
    state = Dense.load_torch_weights(str(tmp_path), subfolder="2_Dense")
    torch.testing.assert_close(state["linear.weight"], dense.linear.weight.detach())
    fresh = Dense(4, 2)
    assert Dense.load_torch_weights(str(tmp_path), subfolder="2_Dense", model=fresh) is fresh
    torch.testing.assert_close(fresh.linear.bias.detach(), torch.ones(2))
    dense.save_torch_weights(str(folder), safe_serialization=False)
    assert (folder / "pytorch_model.bin").exists()
    with pytest.raises(OSError, match="no weights file"):
        Dense.load_torch_weights(str(tmp_path))
