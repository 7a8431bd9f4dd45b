"""PEFT adapters on paraphrase-MiniLM-L3-v2: adding, switching, saving and loading them, equal to the reference.

The LoRA weights are seeded random (`init_lora_weights=False`), so an adapter visibly changes the embeddings.
The reference reaches peft through transformers' integration, which asks for peft >= 0.22; the newest peft on
the package registry here is 0.21.2, so the oracle's version floor is lowered for these tests only.
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch

from sentembed import SentenceTransformer
from tests.support.data import read_sts
from tests.support.paths import MINILM_L3

peft = pytest.importorskip("peft")

PROBE = ["A man is playing a flute.", "Two dogs run in the snow.", "The stock market fell sharply today."]


def lora_config() -> object:
    return peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["query", "value"], init_lora_weights=False, lora_dropout=0.0
    )


def with_base_inside(folder) -> str:
    """Name a copy of the base inside the adapter folder (weights linked): an adapter folder loads on its own only
    onto such a base or a hub repository, never onto a local path elsewhere (tests/security/test_model_folders.py)."""
    shutil.copytree(MINILM_L3, folder / "base", ignore=shutil.ignore_patterns("model.safetensors"))
    (folder / "base" / "model.safetensors").symlink_to(MINILM_L3 / "model.safetensors")
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "base"}))
    return str(folder)


def with_adapter(model, seed: int = 0):
    """`model` with a fresh seeded LoRA adapter named "default", active."""
    torch.manual_seed(seed)
    model.add_adapter(lora_config())
    return model


@pytest.fixture
def ours() -> SentenceTransformer:
    return SentenceTransformer(str(MINILM_L3), device="cpu")


@pytest.fixture
def reference_class(monkeypatch):
    import transformers.integrations.peft as transformers_peft
    from sentence_transformers import SentenceTransformer as Reference

    monkeypatch.setattr(transformers_peft, "MIN_PEFT_VERSION", peft.__version__)
    return Reference


def test_an_added_adapter_changes_the_embeddings_until_disabled(ours):
    base = ours.encode(PROBE)
    with_adapter(ours)
    adapted = ours.encode(PROBE)
    assert ours.active_adapters() == ["default"] and ours.active_adapter() == "default"
    assert np.abs(adapted - base).max() > 1e-2
    ours.disable_adapters()
    np.testing.assert_allclose(ours.encode(PROBE), base, atol=1e-6)
    ours.enable_adapters()
    np.testing.assert_allclose(ours.encode(PROBE), adapted, atol=1e-6)
    state = ours.get_adapter_state_dict()
    assert len(state) == 12 and all(".lora_A." in key or ".lora_B." in key for key in state)
    trainable = {name for name, parameter in ours.named_parameters() if parameter.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)


def test_adapters_match_the_reference_with_the_same_seed(ours, reference_class):
    reference = with_adapter(reference_class(str(MINILM_L3), device="cpu"))
    with_adapter(ours)
    ours_state, reference_state = ours.get_adapter_state_dict(), reference.get_adapter_state_dict()
    assert sorted(ours_state) == sorted(reference_state)
    for key, value in ours_state.items():
        torch.testing.assert_close(value, reference_state[key])
    np.testing.assert_allclose(ours.encode(PROBE), reference.encode(PROBE), atol=1e-5)


def test_our_adapter_folder_loads_in_the_reference_and_theirs_in_ours(ours, reference_class, tmp_path):
    with_adapter(ours, seed=1)
    ours.save(str(tmp_path / "ours"))
    files = {path.name for path in (tmp_path / "ours").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "modules.json"} <= files
    assert "model.safetensors" not in files  # only the adapter: it loads on its base
    config = json.loads((tmp_path / "ours" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(MINILM_L3) and config["peft_type"] == "LORA"
    reference = reference_class(str(tmp_path / "ours"), device="cpu")
    assert reference.active_adapters() == ["default"]
    np.testing.assert_allclose(reference.encode(PROBE), ours.encode(PROBE), atol=1e-5)

    theirs = with_adapter(reference_class(str(MINILM_L3), device="cpu"), seed=2)
    theirs.save(str(tmp_path / "theirs"))
    with pytest.raises(OSError, match="outside the adapter folder"):
        SentenceTransformer(str(tmp_path / "theirs"), device="cpu")
    loaded = SentenceTransformer(with_base_inside(tmp_path / "theirs"), device="cpu")
    assert loaded.active_adapters() == ["default"]
    np.testing.assert_allclose(loaded.encode(PROBE), theirs.encode(PROBE), atol=1e-5)
    assert not any(parameter.requires_grad for name, parameter in loaded.named_parameters() if "lora_" in name)


def test_a_plain_peft_folder_loads_on_its_base_with_mean_pooling(ours, tmp_path):
    from transformers import AutoModel

    torch.manual_seed(3)
    peft.get_peft_model(AutoModel.from_pretrained(str(MINILM_L3)), lora_config()).save_pretrained(tmp_path / "plain")
    assert not (tmp_path / "plain" / "tokenizer.json").exists()
    loaded = SentenceTransformer(with_base_inside(tmp_path / "plain"), device="cpu")
    ours.load_adapter(str(tmp_path / "plain"))
    np.testing.assert_allclose(loaded.encode(PROBE), ours.encode(PROBE), atol=1e-6)


def test_switching_between_two_adapters_matches_the_reference(ours, reference_class, tmp_path):
    first = with_adapter(SentenceTransformer(str(MINILM_L3), device="cpu"), seed=4)
    with_adapter(ours, 5)
    first.save(str(tmp_path / "first"))
    ours.load_adapter(str(tmp_path / "first"), adapter_name="first")
    assert ours.active_adapters() == ["first"]
    np.testing.assert_allclose(ours.encode(PROBE), first.encode(PROBE), atol=1e-6)
    reference = with_adapter(reference_class(str(MINILM_L3), device="cpu"), 5)
    reference.load_adapter(str(tmp_path / "first"), adapter_name="first")
    for name in ("default", "first", "default"):
        ours.set_adapter(name)
        reference.set_adapter(name)
        assert ours.active_adapters() == reference.active_adapters() == [name]
        np.testing.assert_allclose(ours.encode(PROBE), reference.encode(PROBE), atol=1e-5)
    ours.delete_adapter("first")
    with pytest.raises(ValueError, match=r"unknown adapter\(s\) \['first'\]; this model has \['default'\]"):
        ours.set_adapter("first")


def test_bad_adapter_calls_are_named(ours, monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="this model has no adapters"):
        ours.active_adapters()
    with pytest.raises(TypeError, match="must be a peft.PeftConfig"):
        ours.add_adapter({"r": 4})
    with_adapter(ours)
    with pytest.raises(ValueError, match="an adapter named 'default' already exists"):
        ours.add_adapter(lora_config())
    with pytest.raises(OSError, match="adapter_config.json is missing"):
        ours.load_adapter(str(MINILM_L3), adapter_name="other")
    ours.save(str(tmp_path / "adapter"))
    with pytest.raises(ValueError, match="PEFT adapter folder, which loads with backend='torch' only"):
        SentenceTransformer(with_base_inside(tmp_path / "adapter"), backend="onnx", device="cpu")
    monkeypatch.setitem(sys.modules, "peft", None)
    with pytest.raises(ImportError, match=r"pip install 'sentembed\[peft\]'"):
        ours.set_adapter("default")


def test_lora_training_changes_only_the_adapter(ours, tmp_path):
    datasets = pytest.importorskip("datasets")
    from sentembed import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentembed.losses import CoSENTLoss

    with_adapter(ours)
    before = {name: parameter.detach().clone() for name, parameter in ours.named_parameters()}
    first, second, scores = read_sts("train")
    train = datasets.Dataset.from_dict(
        {"sentence1": first[:64], "sentence2": second[:64], "score": [score / 5 for score in scores[:64]]}
    )
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=16, learning_rate=1e-3, max_steps=4,
        report_to="none", save_strategy="no", disable_tqdm=True, seed=7,
    )  # fmt: skip
    SentenceTransformerTrainer(model=ours, args=args, train_dataset=train, loss=CoSENTLoss(ours)).train()
    after = dict(ours.named_parameters())
    changed = {name for name in before if not torch.equal(before[name], after[name].detach())}
    assert changed and all("lora_" in name for name in changed)
    assert len(changed) == 12  # every LoRA matrix moved; no base weight did


def test_an_adapter_on_a_hub_snapshot_names_its_hub_repository(ours, tmp_path):
    snapshot = tmp_path / "hub" / "models--sentence-transformers--paraphrase-MiniLM-L3-v2" / "snapshots" / "0123abc"
    ours.transformers_model.name_or_path = str(snapshot)
    with_adapter(ours).save(str(tmp_path / "adapter"))
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "sentence-transformers/paraphrase-MiniLM-L3-v2"


def damage_config(folder, _):
    config = json.loads((folder / "adapter_config.json").read_text())
    del config["peft_type"]
    (folder / "adapter_config.json").write_text(json.dumps(config))


def config_as_list(folder, _):
    (folder / "adapter_config.json").write_text("[1, 2]")


def garbage_weights(folder, _):
    (folder / "adapter_model.safetensors").write_bytes(b"not a safetensors file at all")


def wrong_shapes(folder, _):
    from safetensors.torch import load_file, save_file

    weights = load_file(folder / "adapter_model.safetensors")
    save_file({key: torch.zeros(2, 2) for key in weights}, folder / "adapter_model.safetensors")


def unknown_field_type(folder, _):
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "r": "four"}))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (damage_config, r"adapter_config\.json is not a peft adapter config"),
        (config_as_list, r"adapter_config\.json must hold a JSON object"),
        (garbage_weights, r"adapter_model\.safetensors is damaged"),
        (wrong_shapes, r"does not fit this base model"),
        (unknown_field_type, r"adapter"),
    ],
)
def test_a_damaged_adapter_folder_is_a_named_oserror(ours, tmp_path, damage, message):
    with_adapter(SentenceTransformer(str(MINILM_L3), device="cpu")).save(str(tmp_path / "adapter"))
    damage(tmp_path / "adapter", None)
    with pytest.raises(OSError, match=message):
        ours.load_adapter(str(tmp_path / "adapter"))
