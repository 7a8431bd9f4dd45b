"""Every cross-encoder folder layout loads, with its activation read through the allowlist."""

from __future__ import annotations

import json
import logging
import shutil
import sys

import numpy as np
import pytest
import torch
from torch import nn

from sentembed import CrossEncoder
from tests.support.models import copy_checkpoint
from tests.support.paths import CROSS_ENCODER

TOLERANCE = 1e-5
IDENTITY = "torch.nn.modules.linear.Identity"


def edit_json(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def sample_pairs(wikiqa_pairs):
    return wikiqa_pairs[:40]


@pytest.fixture(scope="module")
def logits(cross_encoder, sample_pairs):
    return cross_encoder.predict(sample_pairs, activation_fn=nn.Identity())


def use_legacy_key(config: dict) -> None:
    del config["sentence_transformers"]
    config["sbert_ce_default_activation_function"] = IDENTITY


def test_legacy_activation_key_is_honoured(tmp_path, sample_pairs, logits):
    from sentence_transformers import CrossEncoder as Reference

    folder = copy_checkpoint(tmp_path / "legacy")
    edit_json(folder / "config.json", use_legacy_key)
    model = CrossEncoder(str(folder), device="cpu")
    assert isinstance(model.activation_fn, nn.Identity)
    scores = model.predict(sample_pairs)
    np.testing.assert_allclose(scores, logits, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(scores, Reference(str(folder), device="cpu").predict(sample_pairs), atol=TOLERANCE)


def test_without_an_activation_one_label_defaults_to_sigmoid(tmp_path, cross_encoder, sample_pairs, our_scores):
    folder = copy_checkpoint(tmp_path / "bare")
    edit_json(folder / "config.json", lambda config: config.pop("sentence_transformers"))
    model = CrossEncoder(str(folder), device="cpu")
    assert isinstance(model.activation_fn, nn.Sigmoid)
    np.testing.assert_allclose(model.predict(sample_pairs), our_scores[:40], atol=TOLERANCE, rtol=0)


def test_modular_model_config_wins_over_config_json(tmp_path, modular_folder, sample_pairs, logits):
    from sentence_transformers import CrossEncoder as Reference

    folder = tmp_path / "modular"
    shutil.copytree(modular_folder, folder)
    edit_json(folder / "config_sentence_transformers.json", lambda config: config.update(activation_fn=IDENTITY))
    model = CrossEncoder(str(folder), device="cpu")
    assert isinstance(model.activation_fn, nn.Identity)
    np.testing.assert_allclose(model.predict(sample_pairs), logits, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(logits, Reference(str(folder), device="cpu").predict(sample_pairs), atol=TOLERANCE)


def test_unknown_activation_in_config_is_a_clear_error_and_never_imported(tmp_path):
    folder = copy_checkpoint(tmp_path / "evil")
    edit_json(
        folder / "config.json", lambda config: config.update(sentence_transformers={"activation_fn": "antigravity.Fly"})
    )
    sys.modules.pop("antigravity", None)
    with pytest.raises(ValueError, match=r"config\.json.*'antigravity\.Fly'.*allowed"):
        CrossEncoder(str(folder), device="cpu")
    assert "antigravity" not in sys.modules


def test_unknown_activation_in_modular_config_names_that_file(tmp_path, modular_folder):
    folder = tmp_path / "modular"
    shutil.copytree(modular_folder, folder)
    edit_json(folder / "config_sentence_transformers.json", lambda config: config.update(activation_fn="os.system"))
    with pytest.raises(ValueError, match=r"config_sentence_transformers\.json.*'os\.system'"):
        CrossEncoder(str(folder), device="cpu")


def test_modular_folder_with_other_modules_is_refused(tmp_path, modular_folder):
    folder = tmp_path / "modular"
    shutil.copytree(modular_folder, folder)
    edit_json(
        folder / "modules.json",
        lambda entries: entries.append(
            {"idx": 1, "name": "1", "path": "1_Dense", "type": "sentence_transformers.models.Dense"}
        ),
    )
    with pytest.raises(OSError, match="single sequence-classification Transformer"):
        CrossEncoder(str(folder), device="cpu")


def test_modular_folder_of_a_causal_lm_reranker_is_refused(tmp_path, modular_folder):
    folder = tmp_path / "modular"
    shutil.copytree(modular_folder, folder)
    edit_json(
        folder / "sentence_bert_config.json", lambda settings: settings.update(transformer_task="text-generation")
    )
    with pytest.raises(OSError, match="transformer_task 'text-generation' is not supported"):
        CrossEncoder(str(folder), device="cpu")


def test_missing_model_is_an_oserror(tmp_path):
    with pytest.raises(OSError, match="not found"):
        CrossEncoder(str(tmp_path / "nothing-here"), local_files_only=True)


def test_bare_name_is_found_under_cross_encoder_in_the_cache(tmp_path, sample_pairs, our_scores):
    (tmp_path / "cross-encoder_wikiqa-test").symlink_to(CROSS_ENCODER, target_is_directory=True)
    model = CrossEncoder("wikiqa-test", cache_folder=str(tmp_path), local_files_only=True, device="cpu")
    np.testing.assert_allclose(model.predict(sample_pairs), our_scores[:40], atol=TOLERANCE, rtol=0)


def test_activation_argument_overrides_the_folder(sample_pairs, logits):
    by_name = CrossEncoder(str(CROSS_ENCODER), activation_fn="Identity", device="cpu")
    np.testing.assert_allclose(by_name.predict(sample_pairs), logits, atol=TOLERANCE, rtol=0)
    with pytest.raises(ValueError, match="unknown activation"):
        CrossEncoder(str(CROSS_ENCODER), activation_fn="os.system", device="cpu")


def test_per_call_activation_override(cross_encoder, sample_pairs, logits, our_scores):
    np.testing.assert_allclose(torch.sigmoid(torch.from_numpy(logits)).numpy(), our_scores[:40], atol=TOLERANCE)
    doubled = cross_encoder.predict(sample_pairs, activation_fn=lambda scores: 2 * scores)
    np.testing.assert_allclose(doubled, 2 * logits, atol=TOLERANCE, rtol=0)
    assert isinstance(cross_encoder.activation_fn, nn.Sigmoid)


def test_max_length_cuts_the_longer_text_first_like_the_reference(sample_pairs, caplog):
    from sentence_transformers import CrossEncoder as Reference

    model = CrossEncoder(str(CROSS_ENCODER), max_length=24, device="cpu")
    assert model.max_length == 24
    with caplog.at_level(logging.WARNING, logger="sentembed"):
        scores = model.predict(sample_pairs)
    assert "were cut" in caplog.text
    expected = Reference(str(CROSS_ENCODER), max_length=24, device="cpu").predict(sample_pairs)
    np.testing.assert_allclose(scores, expected, atol=TOLERANCE, rtol=0)
    first, second = sample_pairs[0]
    row = model.classifier.tokenize_pairs_unpadded([(first, second * 5)])[0][0]["input_ids"]
    assert len(row) == 24 and row.count(model.tokenizer.sep_token_id) == 2


@pytest.mark.parametrize("name", ["config_sentence_transformers.json", "config.json"])
def test_a_config_holding_a_json_list_is_named(tmp_path, modular_folder, name):
    folder = tmp_path / "modular"
    shutil.copytree(modular_folder, folder)
    (folder / name).write_text("[1, 2]")
    with pytest.raises(OSError, match=rf"{name.replace('.', '[.]')} must hold a JSON object, got a JSON list"):
        CrossEncoder(str(folder), device="cpu")
