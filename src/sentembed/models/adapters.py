"""PEFT adapters (LoRA and the rest) on a model's transformers network, through the `peft` package.

The adapters live on the transformers model itself (its `peft_config`, and peft's tuner layers), so a
Transformer saves only them when it has any: `adapter_config.json` (whose `base_model_name_or_path`
names the base) and `adapter_model.safetensors`, the layout the reference and peft write and read.
"""

from __future__ import annotations

import os
import pickle
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import regex
import torch
from huggingface_hub.utils import HFValidationError, validate_repo_id
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from sentembed.common.files import path_inside, read_json_object

ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHTS_FILES = ("adapter_model.safetensors", "adapter_model.bin")
# peft keeps adapter weights on disk under the names its PeftModel wrapper gives them.
PEFT_KEY_PREFIX = "base_model.model."
DEFAULT_ADAPTER = "default"
HUB_CACHE_PREFIX = "models--"  # how the hub cache names a model repository's folder
# How long, in seconds, an adapter config's patterns may take to match every module name of the base model.
PATTERN_BUDGET_S = 2.0
ALL_LINEAR = "all-linear"  # peft's shorthand for every linear layer, not a pattern
PLAIN_MODULE_NAME = re.compile(r"[\w\-]+(\.[\w\-]+)*")
PEFT_EXTRA_HINT = "adapters need the peft package: pip install 'sentembed[peft]'"


def import_peft() -> Any:
    """The `peft` module, or an ImportError naming the `peft` extra."""
    try:
        import peft
    except ImportError as error:
        raise ImportError(PEFT_EXTRA_HINT) from error
    return peft


def adapter_base_model(folder: str | os.PathLike) -> str | None:
    """The base model an adapter folder was trained on (its `base_model_name_or_path`), or None when the folder
    holds no `adapter_config.json`, or holds a full checkpoint (a `config.json`) beside it."""
    path = Path(folder)
    config_path = path / ADAPTER_CONFIG_FILE
    if not config_path.is_file() or (path / "config.json").is_file():
        return None
    base = read_json_object(config_path).get("base_model_name_or_path")
    if not isinstance(base, str) or not base:
        raise OSError(f"{config_path} names no base model (base_model_name_or_path); an adapter loads on its base")
    return _followable_base(config_path, base)


def _followable_base(config_path: Path, base: str) -> str:
    """The base an adapter folder may load on by itself: a folder inside the adapter folder, or a hub repository
    id. A local path anywhere else (absolute, climbing out, or relative to the working folder) is an OSError
    telling the caller to load that base themselves and add the adapter to it."""
    folder = config_path.parent
    what = f"{config_path} (base_model_name_or_path)"
    candidate = Path(base)
    if not candidate.is_absolute() and ".." not in candidate.parts and (folder / candidate).is_dir():
        return str(path_inside(folder, base, what))
    if _is_hub_repo_id(base) and not candidate.exists():
        return base
    raise OSError(
        f"{what}: {base!r} is a local path outside the adapter folder; an adapter folder loads on its own only "
        "onto a base inside it or a hub repository. If you trust that base, load it yourself and add the adapter: "
        f"SentenceTransformer(base).load_adapter({str(folder)!r})"
    )


def _is_hub_repo_id(name: str) -> bool:
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return not name.startswith((".", "~"))


def adapter_names(model: torch.nn.Module) -> list[str]:
    """The names of the adapters added to or loaded on `model`, in the order they came."""
    return list(getattr(model, "peft_config", None) or {})


def _tuner_layers(model: torch.nn.Module) -> list[Any]:
    peft = import_peft()
    wrapper_types = (peft.tuners.tuners_utils.BaseTunerLayer, peft.utils.ModulesToSaveWrapper)
    return [module for module in model.modules() if isinstance(module, wrapper_types)]


def _check_known(model: torch.nn.Module, names: list[str]) -> None:
    known = adapter_names(model)
    if not known:
        raise ValueError("this model has no adapters; add one with add_adapter or load_adapter first")
    missing = [name for name in names if name not in known]
    if missing:
        raise ValueError(f"unknown adapter(s) {missing}; this model has {known}")


def _check_new_name(model: torch.nn.Module, name: str) -> None:
    if name in adapter_names(model):
        raise ValueError(f"an adapter named {name!r} already exists; choose another adapter_name")


def add_adapter(model: torch.nn.Module, adapter_config: Any, adapter_name: str | None = None) -> None:
    """Insert a fresh adapter (a `peft.PeftConfig`, such as `LoraConfig`) into `model` and make it the active one;
    only adapter parameters stay trainable."""
    peft = import_peft()
    if not isinstance(adapter_config, peft.PeftConfig):
        raise TypeError(f"adapter_config must be a peft.PeftConfig (such as LoraConfig), got {type(adapter_config)}")
    name = adapter_name or DEFAULT_ADAPTER
    _check_new_name(model, name)
    adapter_config.base_model_name_or_path = _portable_base_name(getattr(model, "name_or_path", None))
    peft.inject_adapter_in_model(adapter_config, model, adapter_name=name)
    set_adapter(model, name)


def _portable_base_name(name_or_path: str | None) -> str | None:
    """The hub repository id for a base loaded from a hub cache snapshot (`.../models--org--name/snapshots/<hash>`),
    so that a saved adapter folder names a base it may follow; any other name or path as it is."""
    if not name_or_path:
        return name_or_path
    path = Path(name_or_path)
    repository = path.parent.parent.name
    if path.parent.name == "snapshots" and repository.startswith(HUB_CACHE_PREFIX):
        return repository.removeprefix(HUB_CACHE_PREFIX).replace("--", "/")
    return name_or_path


def _read_adapter_config(peft: Any, folder: Path) -> Any:
    """The folder's `adapter_config.json` as peft reads it; a config peft cannot read is an OSError naming it."""
    path = folder / ADAPTER_CONFIG_FILE
    read_json_object(path)
    try:
        return peft.PeftConfig.from_pretrained(str(folder))
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        raise OSError(f"{path} is not a peft adapter config ({type(error).__name__}: {error})") from error


def bound_patterns(config: Any, model: torch.nn.Module, source: Path) -> None:
    """Match the patterns of an adapter config that peft reads as regular expressions against `model`'s module names
    here, within `PATTERN_BUDGET_S` seconds in all, and give peft the names they select instead; so a pattern that
    backtracks without end is an OSError naming its key rather than a hung load. `modules_to_save` and
    `layers_pattern`, which peft pastes into expressions of its own, must be plain module names."""
    names = [name for name, _ in model.named_modules() if name]
    deadline = time.monotonic() + PATTERN_BUDGET_S
    for key in ("target_modules", "exclude_modules"):
        pattern = getattr(config, key, None)
        if isinstance(pattern, str) and pattern != ALL_LINEAR:
            selected = [name for name in names if _matches(regex.fullmatch, pattern, name, deadline, source, key)]
            if key == "target_modules" and not selected:
                raise OSError(f"{source}: the target_modules pattern {pattern!r} selects no module of the base model")
            setattr(config, key, selected)
    for key in ("rank_pattern", "alpha_pattern"):
        patterns = getattr(config, key, None) or {}
        resolved = {}
        for name in names:
            for pattern, value in patterns.items():
                if _matches(regex.match, rf"(.*\.)?({pattern})$", name, deadline, source, key):
                    resolved[re.escape(name)] = value
                    break
        if patterns:
            setattr(config, key, resolved)
    for key in ("modules_to_save", "layers_pattern"):
        value = getattr(config, key, None)
        for item in [value] if isinstance(value, str) else value or []:
            if not isinstance(item, str) or not PLAIN_MODULE_NAME.fullmatch(item):
                raise OSError(f"{source}: {key} must list plain module names, got {item!r}")


def _matches(match: Callable[..., Any], pattern: str, name: str, deadline: float, source: Path, key: str) -> bool:
    try:
        return match(pattern, name, timeout=max(deadline - time.monotonic(), 0.0)) is not None
    except TimeoutError:
        raise OSError(
            f"{source}: matching the {key} pattern {pattern!r} against the module names took over "
            f"{PATTERN_BUDGET_S:g} s (a pattern that backtracks without end); list the module names instead"
        ) from None
    except regex.error as error:
        raise OSError(f"{source}: {key} {pattern!r} is not a regular expression ({error})") from error


def _adapter_weights(folder: Path) -> dict[str, torch.Tensor]:
    for name in ADAPTER_WEIGHTS_FILES:
        path = folder / name
        if path.is_file():
            return _read_weights(path)
    raise OSError(f"no adapter weights in {folder}: expected one of {list(ADAPTER_WEIGHTS_FILES)}")


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    """An adapter weights file: safetensors, or a `.bin` of plain tensors (any other pickle is refused)."""
    try:
        weights = (
            load_file(path)
            if path.suffix == ".safetensors"
            else torch.load(path, map_location="cpu", weights_only=True)
        )
    except pickle.UnpicklingError as error:
        raise OSError(f"{path} holds pickled objects other than tensors; sentembed refuses to unpickle them") from error
    except (SafetensorError, OSError, RuntimeError, ValueError, EOFError) as error:
        raise OSError(f"{path} is damaged or not an adapter weights file ({type(error).__name__}: {error})") from error
    if not isinstance(weights, dict) or not all(isinstance(value, torch.Tensor) for value in weights.values()):
        raise OSError(f"{path} must hold a mapping of names to tensors")
    return weights


def load_adapter(
    model: torch.nn.Module, adapter_path: str | os.PathLike, adapter_name: str | None = None, is_trainable: bool = False
) -> None:
    """Read an adapter folder (`adapter_config.json` and its weights) into `model` under `adapter_name`; it becomes
    the active adapter. Its parameters are frozen unless `is_trainable`."""
    peft = import_peft()
    folder = Path(adapter_path)
    if not (folder / ADAPTER_CONFIG_FILE).is_file():
        raise OSError(f"{folder / ADAPTER_CONFIG_FILE} is missing: an adapter folder holds its adapter_config.json")
    name = adapter_name or DEFAULT_ADAPTER
    _check_new_name(model, name)
    config = _read_adapter_config(peft, folder)
    config.inference_mode = not is_trainable
    bound_patterns(config, model, folder / ADAPTER_CONFIG_FILE)
    weights = {key.removeprefix(PEFT_KEY_PREFIX): value for key, value in _adapter_weights(folder).items()}
    try:
        peft.inject_adapter_in_model(config, model, adapter_name=name)
        result = peft.set_peft_model_state_dict(model, weights, adapter_name=name)
    except (ValueError, TypeError, KeyError, RuntimeError) as error:
        raise OSError(
            f"{folder}: the adapter does not fit this base model ({type(error).__name__}: {error})"
        ) from error
    if result.unexpected_keys:
        raise OSError(f"{folder}: adapter weights {result.unexpected_keys[:3]} match no layer of the base model")
    set_adapter(model, name)
    if not is_trainable:
        for parameter_name, parameter in model.named_parameters():
            if f".{name}." in parameter_name or parameter_name.endswith(f".{name}"):
                parameter.requires_grad_(False)


def set_adapter(model: torch.nn.Module, adapter_name: str | list[str]) -> None:
    """Run `model` with this adapter (or these adapters) only."""
    names = [adapter_name] if isinstance(adapter_name, str) else list(adapter_name)
    _check_known(model, names)
    for layer in _tuner_layers(model):
        layer.set_adapter(adapter_name)


def enable_adapters(model: torch.nn.Module, enabled: bool = True) -> None:
    """Switch every adapter layer on (the active adapters count) or off (the base model alone)."""
    _check_known(model, [])
    for layer in _tuner_layers(model):
        layer.enable_adapters(enabled)


def active_adapters(model: torch.nn.Module) -> list[str]:
    """The adapters `model` runs with (all of them, whether or not adapters are switched off for now)."""
    _check_known(model, [])
    for layer in _tuner_layers(model):
        active = layer.active_adapter
        return [active] if isinstance(active, str) else list(active)
    return []


def adapter_state_dict(model: torch.nn.Module, adapter_name: str | None = None) -> dict[str, torch.Tensor]:
    """The weights of one adapter (the active one by default), named as peft names them without the adapter."""
    peft = import_peft()
    name = adapter_name or active_adapters(model)[0]
    _check_known(model, [name])
    return peft.get_peft_model_state_dict(model, adapter_name=name)


def delete_adapter(model: torch.nn.Module, adapter_names_to_delete: str | list[str]) -> None:
    """Remove adapters from `model` entirely."""
    names = [adapter_names_to_delete] if isinstance(adapter_names_to_delete, str) else list(adapter_names_to_delete)
    _check_known(model, names)
    for name in names:
        for layer in _tuner_layers(model):
            if hasattr(layer, "delete_adapter"):
                layer.delete_adapter(name)
        del model.peft_config[name]
    if not model.peft_config:
        del model.peft_config


def save_adapter(model: torch.nn.Module, folder: str | os.PathLike, safe_serialization: bool = True) -> None:
    """Write the active adapter as peft does: its `adapter_config.json` and weights, and nothing of the base."""
    active = active_adapters(model)
    if len(active) != 1:
        raise ValueError(f"save one adapter at a time: {active} are active; set_adapter(name) one of them first")
    weights = {
        PEFT_KEY_PREFIX + key: value.detach().contiguous().cpu() for key, value in adapter_state_dict(model).items()
    }
    os.makedirs(folder, exist_ok=True)
    model.peft_config[active[0]].save_pretrained(str(folder))
    if safe_serialization:
        save_file(weights, Path(folder) / ADAPTER_WEIGHTS_FILES[0])
    else:
        torch.save(weights, Path(folder) / ADAPTER_WEIGHTS_FILES[1])


class AdapterMethods:
    """The adapter methods of a model class whose `transformers_model` is its transformers network."""

    transformers_model: Any

    def _adapter_model(self) -> torch.nn.Module:
        model = self.transformers_model
        if model is None:
            raise ValueError(f"adapters need a transformers model inside; this {type(self).__name__} has none")
        return model

    def has_peft_compatible_model(self) -> bool:
        """Whether adapters (peft) can be added to this model.

        Returns:
            True when the model holds a transformers network that adapters can be inserted into.
        """
        return self.transformers_model is not None

    def add_adapter(self, adapter_config: Any, adapter_name: str | None = None) -> None:
        """Add a fresh adapter and make it active, for training (needs the `peft` extra).

        Args:
            adapter_config: A `peft.PeftConfig`, such as `LoraConfig(r=8, target_modules=[...])`.
            adapter_name: Its name. Default None: "default".

        Raises:
            TypeError: A config that is not a `peft.PeftConfig`.
            ValueError: A model without a transformers network inside.
        """
        add_adapter(self._adapter_model(), adapter_config, adapter_name)

    def load_adapter(
        self, peft_model_id: str | os.PathLike, adapter_name: str | None = None, is_trainable: bool = False
    ) -> None:
        """Load an adapter folder (`adapter_config.json` and its weights) and make it active.

        Args:
            peft_model_id: The adapter's folder or hub repository id.
            adapter_name: The name to load it under. Default None: "default".
            is_trainable: Keep its weights trainable (to train it further). Default False.

        Raises:
            OSError: A folder without `adapter_config.json`.
            ValueError: A model without a transformers network inside.
        """
        load_adapter(self._adapter_model(), peft_model_id, adapter_name, is_trainable)

    def set_adapter(self, adapter_name: str | list[str]) -> None:
        """Use only this adapter (or these adapters).

        Args:
            adapter_name: The name of a loaded adapter, or a list of names.

        Raises:
            ValueError: A model without a transformers network inside.
        """
        set_adapter(self._adapter_model(), adapter_name)

    def enable_adapters(self) -> None:
        """Run with the active adapters again after `disable_adapters`.

        Raises:
            ValueError: A model without a transformers network inside.
        """
        enable_adapters(self._adapter_model(), True)

    def disable_adapters(self) -> None:
        """Run the base model alone, keeping the adapters for later.

        Raises:
            ValueError: A model without a transformers network inside.
        """
        enable_adapters(self._adapter_model(), False)

    def active_adapters(self) -> list[str]:
        """The adapters in use.

        Returns:
            Their names.

        Raises:
            ValueError: A model without a transformers network inside.
        """
        return active_adapters(self._adapter_model())

    def active_adapter(self) -> str:
        """The first adapter in use.

        Returns:
            Its name.

        Raises:
            ValueError: A model without a transformers network inside.
        """
        return self.active_adapters()[0]

    def get_adapter_state_dict(self, adapter_name: str | None = None) -> dict[str, torch.Tensor]:
        """The weights of one adapter.

        Args:
            adapter_name: The adapter. Default None: the active one.

        Returns:
            Its weights, parameter name -> tensor.

        Raises:
            ValueError: A model without a transformers network inside.
        """
        return adapter_state_dict(self._adapter_model(), adapter_name)

    def delete_adapter(self, adapter_names: str | list[str]) -> None:
        """Remove adapters from the model.

        Args:
            adapter_names: The name of an adapter, or a list of names.

        Raises:
            ValueError: A model without a transformers network inside.
        """
        delete_adapter(self._adapter_model(), adapter_names)
