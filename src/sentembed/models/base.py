"""What every pipeline module shares: a JSON config on disk and a `save`/`load` pair."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError
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
        """The module's settings, as its config file records them.

        Returns:
            Setting name -> value (JSON-ready).
        """
        return {key: getattr(self, key) for key in self.config_keys}

    def save(self, output_path: str, safe_serialization: bool = True) -> None:
        """Write the module into the folder `output_path` (created when missing), for `load` to read back.

        Args:
            output_path: The module's folder.
            safe_serialization: Write weights as safetensors (True, default) rather than pickled torch files.
        """
        self.save_config(output_path)

    def save_config(self, output_path: str, filename: str | None = None) -> None:
        """Write `get_config_dict()` as JSON into the folder `output_path` (created when missing).

        Args:
            output_path: the module's folder.
            filename: the file name; default `config_file_name`.
        """
        os.makedirs(output_path, exist_ok=True)
        write_json(Path(output_path) / (filename or self.config_file_name), self.get_config_dict())

    def save_torch_weights(self, output_path: str, safe_serialization: bool = True) -> None:
        """Write the module's weights into the folder `output_path`.

        Args:
            output_path: the module's folder (it must exist).
            safe_serialization: `model.safetensors` when True, else `pytorch_model.bin`.
        """
        save_state_dict(self, output_path, safe_serialization)

    @classmethod
    def read_config(cls, input_path: str) -> dict[str, Any]:
        """The settings saved in a module folder's config file.

        Args:
            input_path: The module's folder.

        Returns:
            The config's object, or {} when the folder has no config file.

        Raises:
            OSError: A config file that is not a JSON object.
        """
        path = Path(input_path) / cls.config_file_name
        return read_json_object(path) if path.exists() else {}

    @staticmethod
    def load_file_path(
        model_name_or_path: str,
        filename: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
    ) -> str | None:
        """The local path of a module's file, downloaded from the hub when `model_name_or_path` is a repository
        id; None when the file is not there.

        Args:
            model_name_or_path: a model folder or a hub repository id.
            filename: the file's name.
            subfolder: the module's folder inside the model, e.g. "1_Pooling"; "" for the root.
            token: the hub token.
            cache_folder: where hub downloads go (default: the hub's cache).
            revision: the hub revision.
            local_files_only: never download.

        Returns:
            The file's local path, or None when it is not there.
        """
        if os.path.isdir(model_name_or_path):
            path = Path(model_name_or_path, subfolder, filename)
            return str(path) if path.is_file() else None
        try:
            return hf_hub_download(
                model_name_or_path,
                filename,
                subfolder=subfolder or None,
                revision=revision,
                token=token,
                cache_dir=cache_folder,
                local_files_only=local_files_only,
            )
        except EntryNotFoundError:
            return None

    @staticmethod
    def load_dir_path(
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
    ) -> str | None:
        """The local path of a module's folder, downloaded from the hub when `model_name_or_path` is a
        repository id; None when a local model has no such folder.

        Args:
            model_name_or_path: a model folder or a hub repository id.
            subfolder: the module's folder inside the model, e.g. "2_Dense"; "" for the root.
            token: the hub token.
            cache_folder: where hub downloads go (default: the hub's cache).
            revision: the hub revision.
            local_files_only: never download.

        Returns:
            The folder's local path, or None when a local model has no such folder.
        """
        if os.path.isdir(model_name_or_path):
            folder = Path(model_name_or_path, subfolder)
            return str(folder) if folder.is_dir() else None
        snapshot = snapshot_download(
            model_name_or_path,
            allow_patterns=[f"{subfolder}/*"] if subfolder else None,
            revision=revision,
            token=token,
            cache_dir=cache_folder,
            local_files_only=local_files_only,
        )
        return str(Path(snapshot, subfolder))

    @classmethod
    def load_config(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        config_filename: str | None = None,
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
    ) -> dict[str, Any]:
        """The module's saved settings (the JSON object in its config file); {} when there is no such file.

        Args:
            model_name_or_path: a model folder or a hub repository id.
            subfolder: the module's folder inside the model, e.g. "1_Pooling"; "" for the root.
            config_filename: the file's name; default `config_file_name`.
            token: the hub token.
            cache_folder: where hub downloads go (default: the hub's cache).
            revision: the hub revision.
            local_files_only: never download.

        Returns:
            The config's object, or {} when there is no config file.
        """
        filename = config_filename or cls.config_file_name
        path = cls.load_file_path(
            model_name_or_path, filename, subfolder, token, cache_folder, revision, local_files_only
        )
        return read_json_object(path) if path is not None else {}

    @classmethod
    def load_torch_weights(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        model: torch.nn.Module | None = None,
    ) -> torch.nn.Module | dict[str, torch.Tensor]:
        """The module's saved weights (`model.safetensors`, else `pytorch_model.bin`): loaded into `model` and
        `model` returned, or the state dict itself without one. An OSError when the folder has neither file.

        Args:
            model_name_or_path: a model folder or a hub repository id.
            subfolder: the module's folder inside the model, e.g. "2_Dense"; "" for the root.
            token: the hub token.
            cache_folder: where hub downloads go (default: the hub's cache).
            revision: the hub revision.
            local_files_only: never download.
            model: the module to load the weights into (strictly); None to return them.

        Returns:
            `model` with the weights loaded, or the state dict without one.
        """
        folder = cls.load_dir_path(model_name_or_path, subfolder, token, cache_folder, revision, local_files_only)
        if folder is None:
            raise OSError(f"{model_name_or_path} has no folder {subfolder!r} with module weights")
        state = load_state_dict(folder)
        if model is None:
            return state
        model.load_state_dict(state)
        return model

    @classmethod
    def load(cls, input_path: str, **kwargs: Any) -> Module:
        """Read a module saved by `save`.

        Args:
            input_path: The module's folder.
            **kwargs: Loading options some modules take (trust_remote_code, cache_folder, ...); others ignore
                them.

        Returns:
            The module.

        Raises:
            OSError: A folder whose files are missing or damaged.
        """
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
