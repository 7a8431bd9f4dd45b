"""The cross-encoder folder layouts: the classic plain checkpoint and the newer modular folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from sentembed.common.files import path_inside, read_json, read_json_object, write_json
from sentembed.loading.folder import MODEL_CONFIG_FILE, MODULES_FILE
from sentembed.loading.registry import names_known_module
from sentembed.models.dense import activation_from_name, activation_name
from sentembed.models.transformer import find_sentence_config

CONFIG_FILE = "config.json"
# Where the activation's class path is kept in config.json: the current key, then the pre-v4 one.
CONFIG_ACTIVATION_SECTION = "sentence_transformers"
LEGACY_ACTIVATION_KEY = "sbert_ce_default_activation_function"
SEQUENCE_CLASSIFICATION_TASKS = (None, "sequence-classification")
SENTENCE_CONFIG_FILE = "sentence_bert_config.json"
MODULAR_TRANSFORMER_TYPE = "sentence_transformers.base.modules.transformer.Transformer"


@dataclass
class CrossEncoderFolder:
    """What a cross-encoder folder says: where the checkpoint is, and which activation it names."""

    checkpoint: Path
    layout: str
    activation_source: str | None = None
    activation_path: str | None = None
    model_config: dict[str, Any] | None = None

    def activation(self) -> nn.Module | None:
        """The activation the folder names, built through the allowlist; None when it names none."""
        if self.activation_path is None:
            return None
        try:
            return activation_from_name(self.activation_path)
        except ValueError as error:
            raise ValueError(f"{self.activation_source}: {error}") from error


def read_folder(folder: str | os.PathLike) -> CrossEncoderFolder:
    """Read either layout; the modular folder's `config_sentence_transformers.json` wins over config.json."""
    folder = Path(folder)
    if (folder / MODULES_FILE).exists():
        return _read_modular(folder)
    if not (folder / CONFIG_FILE).exists():
        raise OSError(f"{folder} is not a cross-encoder folder: it has neither {MODULES_FILE} nor {CONFIG_FILE}")
    source, path = _activation_in_checkpoint_config(folder)
    return CrossEncoderFolder(folder, "classic", source, path)


def _activation_in_checkpoint_config(checkpoint: Path) -> tuple[str | None, str | None]:
    """The activation named in a checkpoint's config.json, under the current key or the legacy one."""
    config_path = checkpoint / CONFIG_FILE
    config = read_json_object(config_path)
    section = config.get(CONFIG_ACTIVATION_SECTION)
    if isinstance(section, dict) and section.get("activation_fn") is not None:
        return f"{config_path} ({CONFIG_ACTIVATION_SECTION}.activation_fn)", section["activation_fn"]
    if config.get(LEGACY_ACTIVATION_KEY) is not None:
        return f"{config_path} ({LEGACY_ACTIVATION_KEY})", config[LEGACY_ACTIVATION_KEY]
    return None, None


def _read_modular(folder: Path) -> CrossEncoderFolder:
    model_config = _read_model_config(folder)
    checkpoint = path_inside(folder, _single_transformer_path(folder), str(folder / MODULES_FILE))
    task = find_sentence_config(checkpoint).get("transformer_task")
    if task not in SEQUENCE_CLASSIFICATION_TASKS:
        raise OSError(
            f"{checkpoint}: transformer_task {task!r} is not supported; "
            "sentembed loads cross-encoders whose Transformer does sequence classification"
        )
    source, path = _activation_in_checkpoint_config(checkpoint)
    if model_config.get("activation_fn") is not None:
        source, path = f"{folder / MODEL_CONFIG_FILE} (activation_fn)", model_config["activation_fn"]
    return CrossEncoderFolder(checkpoint, "modular", source, path, model_config)


def _read_model_config(folder: Path) -> dict[str, Any]:
    path = folder / MODEL_CONFIG_FILE
    model_config = read_json_object(path) if path.exists() else {}
    model_type = model_config.get("model_type", "CrossEncoder")
    if model_type != "CrossEncoder":
        raise OSError(
            f"{path} says model_type {model_type!r}: this folder is not a CrossEncoder; load it with {model_type}"
        )
    return model_config


def _single_transformer_path(folder: Path) -> str:
    """The module path of the one Transformer a modular cross-encoder may hold."""
    entries = read_json(folder / MODULES_FILE)
    if not isinstance(entries, list) or not entries:
        raise OSError(f"{folder / MODULES_FILE} must hold a non-empty list of modules")
    types = [str(entry.get("type")) for entry in entries if isinstance(entry, dict)]
    is_transformer = bool(types) and names_known_module(types[0], "Transformer")
    if any(names_known_module(kind, "Pooling") for kind in types):
        raise OSError(
            f"{folder} is a bi-encoder (its {MODULES_FILE} pools token embeddings into sentence embeddings): "
            "load it with SentenceTransformer, not CrossEncoder"
        )
    if len(entries) != 1 or not is_transformer:
        raise OSError(
            f"{folder / MODULES_FILE} lists modules {types}; sentembed loads modular cross-encoders made of "
            "a single sequence-classification Transformer"
        )
    return entries[0].get("path", "")


def write_activation(checkpoint: str | os.PathLike, activation: nn.Module | None) -> None:
    """Record the activation in config.json where the reference looks for it (the classic layout).

    None removes any activation named there, so that loading falls back to the default.
    """
    config_path = Path(checkpoint) / CONFIG_FILE
    config = read_json(config_path)
    config.pop(LEGACY_ACTIVATION_KEY, None)
    section = config.get(CONFIG_ACTIVATION_SECTION)
    section = section if isinstance(section, dict) else {}
    section.pop("activation_fn", None)
    if activation is not None:
        section["activation_fn"] = activation_name(activation)
    if section:
        config[CONFIG_ACTIVATION_SECTION] = section
    else:
        config.pop(CONFIG_ACTIVATION_SECTION, None)
    write_json(config_path, config)


def write_prompts(
    folder: str | os.PathLike, activation: nn.Module | None, prompts: dict[str, str], default: str | None
) -> None:
    """Add the modular files the reference reads prompts from (the checkpoint stays at the root, so readers
    of the classic layout still load the folder)."""
    folder = Path(folder)
    write_json(folder / MODULES_FILE, [{"idx": 0, "name": "0", "path": "", "type": MODULAR_TRANSFORMER_TYPE}])
    write_json(folder / SENTENCE_CONFIG_FILE, {"transformer_task": "sequence-classification"})
    model_config: dict[str, Any] = {"model_type": "CrossEncoder", "prompts": prompts, "default_prompt_name": default}
    if activation is not None:
        model_config["activation_fn"] = activation_name(activation)
    write_json(folder / MODEL_CONFIG_FILE, model_config)


def is_saveable_activation(activation: Any) -> bool:
    """True when the activation can be written by name and read back through the allowlist."""
    if not isinstance(activation, nn.Module):
        return False
    try:
        activation_from_name(activation_name(activation))
    except ValueError:
        return False
    return True
