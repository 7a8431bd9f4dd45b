"""Router: a different stack of modules per route ("query", "document", any name), chosen by the task."""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sentembed.common.files import read_json_object, write_json
from sentembed.common.types import Features, Row
from sentembed.models.base import run_modules
from sentembed.models.input_module import InputModule

ROUTER_CONFIG_FILE = "router_config.json"
ASYM_CONFIG_FILE = "config.json"  # the older Asym module kept the same content here
RouteKey = tuple[str | None, str | tuple[str, ...] | None]
_DIMENSION_METHODS = ("get_embedding_dimension", "get_sentence_embedding_dimension", "get_word_embedding_dimension")


def _dimension(modules: nn.Sequential) -> int | None:
    for module in reversed(list(modules)):
        for name in _DIMENSION_METHODS:
            method = getattr(module, name, None)
            if callable(method):
                return method()
    return None


def _parse_route_key(key: Any) -> RouteKey:
    """A route mapping key: a (task, modality) tuple, or its saved form, the tuple's repr."""
    try:
        parsed = ast.literal_eval(key) if isinstance(key, str) else key
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        parsed = None
    if not (isinstance(parsed, tuple) and len(parsed) == 2):
        raise ValueError(f"a route mapping key must be a (task, modality) pair, got {key!r}")
    return parsed


class Router(InputModule):
    """Send each input through the modules of one route: `encode_query` takes route "query",
    `encode_document` route "document", and `encode(task=name)` any route.

    With no task, `default_route` is used (the first route when it is None and `allow_empty_key` is True).
    `route_mappings` maps (task, modality) pairs to route names, as the reference's v6 Router does. As module 0,
    every route must start with an input module; after a shared Transformer, routes can hold any modules.

    Args:
        sub_modules: Route name -> its modules.
        default_route: The route used without a task. Default None: the first route when `allow_empty_key`.
        allow_empty_key: Allow calls without a task (using the default route). Default True.
        route_mappings: (task, modality) -> route name, as the reference's v6 Router takes them. Default None.

    Raises:
        ValueError: No routes, an unnamed or empty route, or a default or mapped route that does not exist.
    """

    config_file_name = ROUTER_CONFIG_FILE
    save_in_root = True

    def __init__(
        self,
        sub_modules: dict[str, list[nn.Module]],
        default_route: str | None = None,
        allow_empty_key: bool = True,
        route_mappings: dict[RouteKey, str] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(sub_modules, dict) or not sub_modules:
            raise ValueError("Router needs a non-empty dict of routes, route name -> list of modules")
        for name, modules in sub_modules.items():
            if not isinstance(name, str) or not modules:
                raise ValueError(f"route {name!r} must be named by a string and hold at least one module")
        self.sub_modules = nn.ModuleDict({name: nn.Sequential(*modules) for name, modules in sub_modules.items()})
        if default_route is None and allow_empty_key:
            default_route = next(iter(sub_modules))
        self.default_route = default_route
        self.allow_empty_key = allow_empty_key
        self.route_mappings = {_parse_route_key(key): route for key, route in (route_mappings or {}).items()}
        for route in [default_route, *self.route_mappings.values()]:
            if route is not None and route not in self.sub_modules:
                raise ValueError(f"route {route!r} is not among the routes {list(self.sub_modules)}")

    @classmethod
    def for_query_document(
        cls,
        query_modules: list[nn.Module],
        document_modules: list[nn.Module],
        default_route: str | None = "document",
        allow_empty_key: bool = True,
    ) -> Router:
        """A Router with a "query" and a "document" route, for `encode_query` and `encode_document`.

        Args:
            query_modules: The query route's modules.
            document_modules: The document route's modules.
            default_route: The route used without a task. Default "document".
            allow_empty_key: Allow calls without a task. Default True.

        Returns:
            The Router.
        """
        return cls({"query": query_modules, "document": document_modules}, default_route, allow_empty_key)

    # ----- choosing a route -------------------------------------------------------------------------

    @property
    def routes(self) -> list[str]:
        return list(self.sub_modules)

    def resolve_route(self, task: str | None = None, modality: str = "text") -> str:
        """The route for a task: the route of that name, else a route mapping, else (with no task) the default.

        Args:
            task: A task such as "query", or None.
            modality: The input's modality. Default "text".

        Returns:
            The route's name.

        Raises:
            TypeError: A task that is not a string.
            ValueError: A task without a route, or no task and no default route.
        """
        if task is not None and not isinstance(task, str):
            raise TypeError(f"task must be a string or None, got {type(task).__name__}")
        if task in self.sub_modules:
            return task
        for key in ((task, modality), (task, None), (None, modality)):
            if key in self.route_mappings:
                return self.route_mappings[key]
        for (mapped_task, modalities), route in self.route_mappings.items():
            if mapped_task == task and isinstance(modalities, tuple) and modality in modalities:
                return route
        available = ", ".join(repr(route) for route in self.sub_modules)
        if task is not None:
            raise ValueError(f"no route for task {task!r}; this Router's routes are {available}")
        if self.default_route is None:
            raise ValueError(
                f"no task given and this Router has no default_route; pass task= one of {available} "
                "(or use encode_query / encode_document)"
            )
        return self.default_route

    def route_input(self, task: str | None = None) -> InputModule:
        """The input module that tokenizes texts for a task's route.

        Args:
            task: A task such as "query", or None for the default route.

        Returns:
            The route's first module.

        Raises:
            TypeError: A route that does not start with an input module.
            ValueError: A task without a route.
        """
        return self._route_input(self.resolve_route(task))

    @property
    def main_route(self) -> str:
        """The route that describes the model (its tokenizer, length limit, dimension): the default, else the first."""
        return self.default_route or self.routes[0]

    def _route_input(self, route: str) -> InputModule:
        first = self.sub_modules[route][0]
        if not isinstance(first, InputModule):
            raise TypeError(
                f"route {route!r} starts with {type(first).__name__}, which cannot take text: as the first module "
                "of a model, every route of a Router must start with an input module (such as Transformer)"
            )
        return first

    # ----- the input-module seam, on the main route ---------------------------------------------------

    @property
    def tokenizer(self) -> Any:
        return self._route_input(self.main_route).tokenizer

    @property
    def max_seq_length(self) -> int | float | None:
        return self._route_input(self.main_route).max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        """Set on every route's input module."""
        for modules in self.sub_modules.values():
            if isinstance(modules[0], InputModule):
                modules[0].max_seq_length = value

    def tokenize_unpadded(self, texts: list[str]) -> tuple[list[Row], int]:
        return self._route_input(self.main_route).tokenize_unpadded(texts)

    def pad(self, rows: list[Row]) -> dict[str, torch.Tensor]:
        return self._route_input(self.main_route).pad(rows)

    def tokenize(self, texts: list[str], padding: str | bool = True, task: str | None = None) -> dict[str, Any]:
        """Texts to one padded batch for a task's route, with the task recorded for `forward`.

        Args:
            texts: The texts.
            padding: Kept for the reference's signature.
            task: A task such as "query", or None for the default route.

        Returns:
            The padded features (and "task").
        """
        features = dict(self.route_input(task).tokenize(texts))
        if task is not None:
            features["task"] = task
        return features

    def prompt_length(self, prompt: str) -> int:
        return self._route_input(self.main_route).prompt_length(prompt)

    def get_sentence_embedding_dimension(self) -> int | None:
        """The output dimension of the main route.

        Returns:
            The dimension, or None when unknown.
        """
        return _dimension(self.sub_modules[self.main_route])

    get_embedding_dimension = get_sentence_embedding_dimension

    @property
    def forward_kwargs(self) -> tuple[str, ...]:
        """ "task", and the keyword arguments the routes' modules read (passed on to them)."""
        inner = {name for module in self.sub_modules.modules() for name in getattr(module, "forward_kwargs", ())}
        return ("task", "modality", *sorted(inner - {"task", "modality"}))

    def forward(
        self, features: Features, task: str | None = None, modality: str | None = None, **kwargs: Any
    ) -> Features:
        """Run the features through the route `task` (else the features' "task") picks for `modality` (else the
        features' "modality", else text); other keyword arguments go on to the route's modules that read them.

        Args:
            features: The batch's features.
            task: The task. Default None: the features' "task".
            modality: The modality. Default None: the features' "modality", else "text".
            **kwargs: Arguments for the route's modules that read them.

        Returns:
            The features after the route's modules.
        """
        route = self.resolve_route(
            task if task is not None else features.get("task"),
            modality if modality is not None else features.get("modality", "text"),
        )
        return run_modules(list(self.sub_modules[route]), features, kwargs)

    # ----- folders ------------------------------------------------------------------------------------

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "default_route": self.default_route,
            "allow_empty_key": self.allow_empty_key,
            "route_mappings": {repr(key): route for key, route in self.route_mappings.items()},
        }

    def save(
        self,
        output_path: str,
        safe_serialization: bool = True,
        type_name: Callable[[nn.Module], str] | None = None,
    ) -> None:
        """Write each module once into `{route}_{index}_{Class}` and `router_config.json` with its types, each
        route's folders and the parameters.

        Args:
            output_path: The Router's folder (created when missing).
            safe_serialization: Write weights as safetensors. Default True.
            type_name: Gives the modules.json type of a module (SentenceTransformer.save passes it).

        Raises:
            TypeError: No type_name.
        """
        if type_name is None:
            raise TypeError("Router.save needs type_name (the module type namer); SentenceTransformer.save passes it")
        os.makedirs(output_path, exist_ok=True)
        folders: dict[int, str] = {}
        types: dict[str, str] = {}
        structure: dict[str, list[str]] = {}
        for route, modules in self.sub_modules.items():
            structure[route] = []
            for index, module in enumerate(modules):
                if id(module) not in folders:
                    folder = f"{route}_{index}_{type(module).__name__}"
                    module.save(str(Path(output_path) / folder), safe_serialization=safe_serialization)
                    folders[id(module)], types[folder] = folder, type_name(module)
                structure[route].append(folders[id(module)])
        config = {"types": types, "structure": structure, "parameters": self.get_config_dict()}
        write_json(Path(output_path) / ROUTER_CONFIG_FILE, config)

    @classmethod
    def load(cls, input_path: str, load_module: Callable[[str, str], nn.Module] | None = None, **kwargs: Any) -> Router:
        """Read `router_config.json` (or an older Asym's `config.json`); `load_module(type_name, folder)` builds
        each listed module once, so that routes sharing a folder share the module.

        Args:
            input_path: The Router's folder.
            load_module: (type name, folder) -> module (SentenceTransformer passes it).
            **kwargs: Ignored.

        Returns:
            The Router.

        Raises:
            TypeError: No load_module.
            OSError: A config without "types" and "structure".
        """
        if load_module is None:
            raise TypeError("Router.load needs load_module (the module loader); SentenceTransformer passes it")
        path = Path(input_path) / ROUTER_CONFIG_FILE
        if not path.is_file():
            path = Path(input_path) / ASYM_CONFIG_FILE
        config = read_json_object(path)
        if not isinstance(config.get("types"), dict) or not isinstance(config.get("structure"), dict):
            raise OSError(f"{path} must hold 'types' and 'structure' objects, as a Router (or Asym) saves them")
        loaded: dict[str, nn.Module] = {}
        sub_modules = {}
        for route, folders in config["structure"].items():
            for folder in folders:
                if folder not in loaded:
                    if folder not in config["types"]:
                        raise OSError(f"{path}: route {route!r} lists {folder!r}, which 'types' does not name")
                    loaded[folder] = load_module(config["types"][folder], folder)
            sub_modules[route] = [loaded[folder] for folder in folders]
        parameters = config.get("parameters", {})
        if not isinstance(parameters, dict):
            raise OSError(f"{path}: 'parameters' must be an object, got {type(parameters).__name__}")
        try:
            return cls(
                sub_modules,
                default_route=parameters.get("default_route"),
                allow_empty_key=parameters.get("allow_empty_key", True),
                route_mappings=parameters.get("route_mappings"),
            )
        except (ValueError, TypeError, AttributeError) as error:
            raise OSError(f"{path}: {error}") from error


Asym = Router  # the module's older name, which the reference keeps as an alias
