"""The cross-encoder folder layouts: the classic plain checkpoint, the newer modular folder, and the folders
that convert into a cross-encoder with a new head (a bi-encoder, a plain transformers encoder)."""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from sentembed.common.files import path_inside, read_json, read_json_object, write_json
from sentembed.loading import MODEL_CONFIG_FILE, MODULES_FILE
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
    """What a cross-encoder folder says: where the checkpoint is, which activation it names, and whether the
    checkpoint has a trained classification head (a bi-encoder's or a plain encoder's has none)."""

    checkpoint: Path
    layout: str
    activation_source: str | None = None
    activation_path: str | None = None
    model_config: dict[str, Any] | None = None
    has_head: bool = True

    def activation(self, trust_remote_code: bool = False) -> nn.Module | None:
        """The activation the folder names, built through the allowlist (or, with `trust_remote_code`, imported
        from its class path); None when it names none."""
        if self.activation_path is None:
            return None
        try:
            return activation_from_name(self.activation_path)
        except ValueError as error:
            if trust_remote_code:
                return imported_activation(self.activation_path)
            raise ValueError(
                f"{self.activation_source}: {error}. Pass trust_remote_code=True to import it from its own code."
            ) from error


def imported_activation(class_path: str) -> nn.Module:
    """An instance of the activation class at `class_path` ("package.module.Class"), imported: only for
    `trust_remote_code=True`. A missing module is a ModuleNotFoundError, a missing class an AttributeError."""
    module_path, _, class_name = class_path.rpartition(".")
    if not module_path:
        raise ValueError(f"activation {class_path!r} is not a class path such as 'package.module.Class'")
    return getattr(importlib.import_module(module_path), class_name)()


def read_folder(folder: str | os.PathLike) -> CrossEncoderFolder:
    """Read either layout; the modular folder's `config_sentence_transformers.json` wins over config.json.

    A bi-encoder folder, or a plain transformers checkpoint without a sequence-classification head, is read as
    a checkpoint that needs a new head (`has_head=False`); a bi-encoder's prompts are not taken over.
    """
    folder = Path(folder)
    if (folder / MODULES_FILE).exists():
        if is_bi_encoder_folder(folder):
            return _read_bi_encoder(folder)
        return _read_modular(folder)
    if not (folder / CONFIG_FILE).exists():
        raise OSError(f"{folder} is not a cross-encoder folder: it has neither {MODULES_FILE} nor {CONFIG_FILE}")
    source, path = _activation_in_checkpoint_config(folder)
    return CrossEncoderFolder(folder, "classic", source, path, has_head=has_classification_head(folder))


def has_classification_head(checkpoint: Path) -> bool:
    """Whether config.json's `architectures` name a sequence-classification model (a checkpoint that names no
    architecture is taken to have one)."""
    architectures = read_json_object(checkpoint / CONFIG_FILE).get("architectures")
    if not isinstance(architectures, list):
        return True
    return any(str(name).endswith("ForSequenceClassification") for name in architectures)


def is_bi_encoder_folder(folder: Path) -> bool:
    """A SentenceTransformer folder: its model config says so, or (naming no model type) its modules pool token
    embeddings."""
    config_path = folder / MODEL_CONFIG_FILE
    model_type = read_json_object(config_path).get("model_type") if config_path.exists() else None
    if model_type is not None:
        return model_type == "SentenceTransformer"
    return any(names_known_module(kind, "Pooling") for kind in _module_types(folder))


def _read_bi_encoder(folder: Path) -> CrossEncoderFolder:
    """A bi-encoder's Transformer checkpoint, to load with a new classification head."""
    entries = _module_entries(folder)
    first_type = str(entries[0].get("type"))
    if not names_known_module(first_type, "Transformer"):
        raise OSError(
            f"{folder} is a bi-encoder whose first module is {first_type}; a CrossEncoder can be made from a "
            "bi-encoder whose first module is a Transformer"
        )
    checkpoint = path_inside(folder, entries[0].get("path", ""), str(folder / MODULES_FILE))
    return CrossEncoderFolder(checkpoint, "bi-encoder", has_head=has_classification_head(checkpoint))


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
    if len(_module_entries(folder)) > 1 and not _starts_with_a_classifier(folder):
        return _read_pipeline(folder, model_config)
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


def _starts_with_a_classifier(folder: Path) -> bool:
    """Whether the first module is a Transformer that does sequence classification (its task says so, or its
    checkpoint has the head)."""
    first = _module_entries(folder)[0]
    if not names_known_module(str(first.get("type")), "Transformer"):
        return False
    checkpoint = path_inside(folder, first.get("path", ""), str(folder / MODULES_FILE))
    task = find_sentence_config(checkpoint).get("transformer_task")
    if task is not None:
        return task == "sequence-classification"
    return (checkpoint / CONFIG_FILE).exists() and has_classification_head(checkpoint)


def _read_pipeline(folder: Path, model_config: dict[str, Any]) -> CrossEncoderFolder:
    """A modular cross-encoder of several modules (a Transformer, pooling, a scoring Dense, ...), loaded module
    by module; its activation is the one its model config names."""
    activation_path = model_config.get("activation_fn")
    source = f"{folder / MODEL_CONFIG_FILE} (activation_fn)" if activation_path is not None else None
    return CrossEncoderFolder(folder, "pipeline", source, activation_path, model_config)


def _read_model_config(folder: Path) -> dict[str, Any]:
    path = folder / MODEL_CONFIG_FILE
    model_config = read_json_object(path) if path.exists() else {}
    model_type = model_config.get("model_type", "CrossEncoder")
    if model_type != "CrossEncoder":
        raise OSError(
            f"{path} says model_type {model_type!r}: this folder is not a CrossEncoder; load it with {model_type}"
        )
    return model_config


def _module_entries(folder: Path) -> list[dict[str, Any]]:
    """The entries of `modules.json`: a non-empty list of objects, else an OSError naming the file."""
    entries = read_json(folder / MODULES_FILE)
    if not isinstance(entries, list) or not entries or not all(isinstance(entry, dict) for entry in entries):
        raise OSError(f"{folder / MODULES_FILE} must hold a non-empty list of module objects")
    return entries


def _module_types(folder: Path) -> list[str]:
    return [str(entry.get("type")) for entry in _module_entries(folder)]


def _single_transformer_path(folder: Path) -> str:
    """The module path of the one Transformer a modular cross-encoder may hold."""
    entries = _module_entries(folder)
    types = _module_types(folder)
    is_transformer = names_known_module(types[0], "Transformer")
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


def write_modular_files(
    folder: str | os.PathLike, activation: nn.Module | None, prompts: dict[str, str], default: str | None
) -> None:
    """Add the modular files sentence-transformers 6 reads the activation and prompts from, naming the
    checkpoint at the root as the one Transformer (so readers of the classic layout still load the folder)."""
    folder = Path(folder)
    write_json(folder / MODULES_FILE, [{"idx": 0, "name": "0", "path": "", "type": MODULAR_TRANSFORMER_TYPE}])
    write_json(folder / SENTENCE_CONFIG_FILE, {"transformer_task": "sequence-classification"})
    write_model_config(folder, activation, prompts, default)


def write_model_config(
    folder: str | os.PathLike, activation: nn.Module | None, prompts: dict[str, str], default: str | None
) -> None:
    """`config_sentence_transformers.json`: the model type, prompts, default prompt name and activation."""
    model_config: dict[str, Any] = {"model_type": "CrossEncoder", "prompts": prompts, "default_prompt_name": default}
    if activation is not None:
        model_config["activation_fn"] = activation_name(activation)
    write_json(Path(folder) / MODEL_CONFIG_FILE, model_config)


def is_saveable_activation(activation: Any) -> bool:
    """True when the activation can be written by name and read back through the allowlist."""
    if not isinstance(activation, nn.Module):
        return False
    try:
        activation_from_name(activation_name(activation))
    except ValueError:
        return False
    return True
