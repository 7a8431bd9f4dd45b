"""Read and write the standard bi-encoder folder: modules.json, its module folders and the model config."""

from __future__ import annotations

import inspect
import logging
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import transformers
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from sentembed.common.files import path_inside, read_json, read_json_object, write_json
from sentembed.loading.registry import module_class, module_type_name
from sentembed.models import InputModule, Pooling, Router, Transformer
from sentembed.similarity import SimilarityFunction
from sentembed.version import __version__

logger = logging.getLogger(__name__)

MODULES_FILE = "modules.json"
MODEL_CONFIG_FILE = "config_sentence_transformers.json"


@dataclass
class ModelConfig:
    """The model-level settings kept in `config_sentence_transformers.json`.

    Attributes:
        prompts: Prompt name -> text.
        default_prompt_name: The prompt used when a call names none, or None.
        similarity_fn_name: The model's similarity function name, or None.
        truncate_dim: The dimensions `encode` keeps, or None for all.
        model_type: The model class that saved the folder, or None when unrecorded.
    """

    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None
    similarity_fn_name: str | None = None
    truncate_dim: int | None = None
    # The model class that saved the folder ("SentenceTransformer", "CrossEncoder", ...); None when unrecorded.
    model_type: str | None = None

    @classmethod
    def read(cls, folder: str | os.PathLike) -> ModelConfig:
        """The settings saved in a model folder.

        Args:
            folder: The model folder.

        Returns:
            The settings; the defaults when the folder has no such file.

        Raises:
            OSError: A file that is not a JSON object, or requirements that are not version ranges.
            ImportError: Packages the file requires that are missing or of another version.
            ValueError: An unknown similarity function name.
        """
        path = Path(folder) / MODEL_CONFIG_FILE
        if not path.exists():
            return cls()
        data = read_json_object(path)
        check_requirements(data.get("requirements"), path)
        return cls(
            prompts=dict(data.get("prompts") or {}),
            default_prompt_name=data.get("default_prompt_name"),
            similarity_fn_name=_known_similarity(data.get("similarity_fn_name"), path),
            truncate_dim=data.get("truncate_dim"),
            model_type=data.get("model_type"),
        )

    def for_model_type(self, model_type: str) -> ModelConfig:
        """These settings for loading the folder as a `model_type` model. A folder another model class saved (a
        CrossEncoder's, say) is converted: its prompts, default prompt name and similarity function were chosen
        for that class and are left out; `truncate_dim` is kept.

        Args:
            model_type: the class loading the folder, such as "SentenceTransformer".

        Returns:
            These settings, or the converted ones.
        """
        if self.model_type in (None, model_type):
            return self
        return ModelConfig(truncate_dim=self.truncate_dim, model_type=self.model_type)

    def write(self, folder: str | os.PathLike, model_type: str = "SentenceTransformer") -> None:
        """Write the file; `truncate_dim` only when one is set, as the reference does.

        Args:
            folder: The model folder.
            model_type: The model class saving it. Default "SentenceTransformer".
        """
        data = {
            "__version__": {
                "sentembed": __version__,
                "transformers": transformers.__version__,
                "pytorch": torch.__version__,
            },
            "model_type": model_type,
            "prompts": self.prompts,
            "default_prompt_name": self.default_prompt_name,
            "similarity_fn_name": self.similarity_fn_name,
        }
        if self.truncate_dim is not None:
            data["truncate_dim"] = self.truncate_dim
        write_json(Path(folder) / MODEL_CONFIG_FILE, data)


def check_requirements(requirements: Any, path: Path) -> None:
    """Refuse to load a model whose config names packages (with version ranges, such as {"transformers": ">=5"})
    that are missing or of another version: an ImportError names each unmet one as `name>=version`."""
    if requirements is None:
        return
    if not isinstance(requirements, dict):
        raise OSError(f"{path}: requirements must map package names to version ranges, got {requirements!r}")
    unmet = [f"{name}{wanted}" for name, wanted in requirements.items() if not _installed(name, wanted, path)]
    if unmet:
        raise ImportError(f"{path.parent} needs {', '.join(unmet)}; install it (pip install {' '.join(unmet)!r})")


def _installed(name: Any, wanted: Any, path: Path) -> bool:
    try:
        specifier = SpecifierSet(wanted or "")
        version = metadata.version(name)
    except (InvalidSpecifier, TypeError) as error:
        raise OSError(f"{path}: requirement {name!r}: {wanted!r} is not a version range") from error
    except metadata.PackageNotFoundError:
        return False
    return specifier.contains(version, prereleases=True)


def _known_similarity(name: Any, path: Path) -> str | None:
    """The saved similarity function name, refusing one that names no similarity function."""
    if name is not None and name not in SimilarityFunction.possible_values():
        raise ValueError(
            f"{path}: unknown similarity_fn_name {name!r}; expected one of {SimilarityFunction.possible_values()}"
        )
    return name


def _check_pooling_fits(modules: list[torch.nn.Module], module: torch.nn.Module, where: str) -> None:
    """A Pooling module must pool token embeddings of the size the module before it gives."""
    previous = modules[-1] if modules else None
    token_dimension = getattr(previous, "get_word_embedding_dimension", None)
    if not isinstance(module, Pooling) or not callable(token_dimension):
        return
    if module.word_embedding_dimension != token_dimension():
        raise OSError(
            f"{where}: the Pooling config says word_embedding_dimension {module.word_embedding_dimension}, but the "
            f"{type(previous).__name__} before it gives {token_dimension()}-dimensional token embeddings"
        )


def _is_causal_lm(transformer: Transformer) -> bool:
    architectures = getattr(transformer.config, "architectures", None) or []
    return any(name.endswith("ForCausalLM") for name in architectures) or bool(
        getattr(transformer.config, "is_decoder", False)
    )


def load_modules(folder: Path, trust_remote_code: bool = False, **transformer_kwargs: Any) -> list[torch.nn.Module]:
    """Build the module pipeline stored in `folder`; a plain checkpoint gets mean (or last-token) pooling.

    Args:
        folder: The model folder.
        trust_remote_code: Allow module classes outside sentembed and sentence-transformers, and custom model
            code. Default False.
        **transformer_kwargs: Loading options for the input modules (cache_folder, revision, token,
            model_kwargs, tokenizer_kwargs, config_kwargs, backend, ...).

    Returns:
        The modules, in order.

    Raises:
        OSError: A malformed modules.json, a module path leaving the folder, missing or damaged files, or a
            Pooling that does not fit the module before it.
        ValueError: A module class that is not allowed without trust_remote_code.
    """
    modules_path = folder / MODULES_FILE
    if not modules_path.exists():
        return _modules_for_plain_checkpoint(folder, trust_remote_code=trust_remote_code, **transformer_kwargs)
    entries = read_json(modules_path)
    if not isinstance(entries, list):
        raise OSError(f"{modules_path} must hold a list of modules, got {type(entries).__name__}")
    modules = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise OSError(f"{modules_path}: entry {index} must be an object with a 'type' string, got {entry!r}")
        module_folder = path_inside(folder, entry.get("path", ""), f"{modules_path} entry {index}")
        module = load_module(entry["type"], module_folder, trust_remote_code, **transformer_kwargs)
        _check_pooling_fits(
            modules, module, f"{module_folder / Pooling.config_file_name} ({modules_path} entry {index})"
        )
        modules.append(module)
    return modules


def load_module(
    type_name: str, module_folder: Path, trust_remote_code: bool = False, **transformer_kwargs: Any
) -> torch.nn.Module:
    """One module from its folder: input modules get the loading options, a Router loads its routes' modules."""
    cls = module_class(type_name, trust_remote_code)
    if isinstance(cls, type) and issubclass(cls, Router):

        def load_routed(routed_type: str, relative: str) -> torch.nn.Module:
            routed_folder = path_inside(module_folder, relative, f"{module_folder / Router.config_file_name}")
            return load_module(routed_type, routed_folder, trust_remote_code, **transformer_kwargs)

        return cls.load(str(module_folder), load_module=load_routed)
    if isinstance(cls, type) and issubclass(cls, InputModule):
        return cls.load(str(module_folder), trust_remote_code=trust_remote_code, **transformer_kwargs)
    return cls.load(str(module_folder))


def _modules_for_plain_checkpoint(folder: Path, **transformer_kwargs: Any) -> list[torch.nn.Module]:
    transformer = Transformer.load(str(folder), **transformer_kwargs)
    mode = "lasttoken" if _is_causal_lm(transformer) else "mean"
    logger.warning(
        "No modules.json found for %s: initializing a new SentenceTransformer model from its transformers "
        "checkpoint with %s pooling.",
        folder,
        mode,
    )
    return [transformer, Pooling(transformer.get_word_embedding_dimension(), pooling_mode=mode)]


def module_folder_name(index: int, module: torch.nn.Module) -> str:
    """Where module `index` is saved: an input module that asks for it at the root, the others in `N_ClassName`."""
    if index == 0 and getattr(module, "save_in_root", False):
        return ""
    return f"{index}_{type(module).__name__}"


def save_module(module: torch.nn.Module, folder: Path, safe_serialization: bool) -> None:
    """`module.save` into `folder`, created first; `safe_serialization` is passed only to a `save` that takes it
    (a user's own module may define `save(self, output_path)` alone, as the reference's docs show), and a save
    that refuses it with a TypeError naming it is called again without it."""
    folder.mkdir(parents=True, exist_ok=True)
    parameters = inspect.signature(module.save).parameters
    takes_flag = "safe_serialization" in parameters or any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()
    )
    if takes_flag:
        try:
            module.save(str(folder), safe_serialization=safe_serialization)
            return
        except TypeError as error:  # a save that names the flag but refuses it (an override, a wrapper)
            if "safe_serialization" not in str(error):
                raise
    module.save(str(folder))


def save_modules(modules: list[torch.nn.Module], folder: Path, safe_serialization: bool = True) -> None:
    """Write every module into its folder and list them in `modules.json`.

    Args:
        modules: The pipeline's modules.
        folder: The model folder (created when missing).
        safe_serialization: Write weights as safetensors. Default True.
    """
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for index, module in enumerate(modules):
        relative = module_folder_name(index, module)
        if isinstance(module, Router):
            module.save(str(folder / relative), safe_serialization=safe_serialization, type_name=module_type_name)
        else:
            save_module(module, folder / relative, safe_serialization)
        entries.append({"idx": index, "name": str(index), "path": relative, "type": module_type_name(module)})
    write_json(folder / MODULES_FILE, entries)
