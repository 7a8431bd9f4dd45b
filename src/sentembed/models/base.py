"""What every pipeline module shares: a JSON config on disk and a `save`/`load` pair."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from sentembed.common.files import read_json_object, write_json

WEIGHTS_SAFETENSORS = "model.safetensors"
WEIGHTS_PICKLE = "pytorch_model.bin"


def load_state_dict(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a module's weights: safetensors first, else a `.bin` through weights-only unpickling."""
    folder = Path(folder)
    safetensors_path = folder / WEIGHTS_SAFETENSORS
    pickle_path = folder / WEIGHTS_PICKLE
    try:
        if safetensors_path.exists():
            return load_file(safetensors_path)
        if pickle_path.exists():
            return torch.load(pickle_path, map_location="cpu", weights_only=True)
    except Exception as error:
        path = safetensors_path if safetensors_path.exists() else pickle_path
        raise OSError(f"could not read weights file {path}: {error}") from error
    raise OSError(f"no weights file in {folder}: expected {WEIGHTS_SAFETENSORS} or {WEIGHTS_PICKLE}")


def save_state_dict(module: torch.nn.Module, folder: str | os.PathLike, safe_serialization: bool = True) -> None:
    state = {name: tensor.detach().contiguous().cpu() for name, tensor in module.state_dict().items()}
    if safe_serialization:
        save_file(state, Path(folder) / WEIGHTS_SAFETENSORS)
    else:
        torch.save(state, Path(folder) / WEIGHTS_PICKLE)


def run_modules(modules: list[torch.nn.Module], features: dict[str, Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Features through `modules` in turn; each module also gets the keyword arguments it names in its
    `forward_kwargs` (a Router's "task", a module's own options)."""
    for module in modules:
        accepted = getattr(module, "forward_kwargs", ())
        features = module(features, **{name: value for name, value in kwargs.items() if name in accepted})
    return features


class Module(torch.nn.Module):
    """A pipeline step: takes the features dict, adds to it, and saves itself to a folder."""

    config_file_name = "config.json"
    config_keys: tuple[str, ...] = ()

    def get_config_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.config_keys}

    def save(self, output_path: str, safe_serialization: bool = True) -> None:
        os.makedirs(output_path, exist_ok=True)
        write_json(Path(output_path) / self.config_file_name, self.get_config_dict())

    @classmethod
    def read_config(cls, input_path: str) -> dict[str, Any]:
        path = Path(input_path) / cls.config_file_name
        return read_json_object(path) if path.exists() else {}

    @classmethod
    def load(cls, input_path: str, **kwargs: Any) -> Module:
        config = cls.read_config(input_path)
        return cls(**{key: value for key, value in config.items() if key in cls.config_keys})


class WeightedModule(Module):
    """A Module whose weights are saved beside its config (`model.safetensors`), as the reference lays them out."""

    def save(self, output_path: str, safe_serialization: bool = True) -> None:
        super().save(output_path)
        save_state_dict(self, output_path, safe_serialization)

    @classmethod
    def load(cls, input_path: str, **kwargs: Any) -> WeightedModule:
        module = super().load(input_path)
        module.load_state_dict(load_state_dict(input_path))
        return module
