"""The cross-encoder's older argument names, translated to the current ones with a warning.

`CrossEncoder.__init__`, `predict` and `rank` are wrapped with these decorators, so scripts written for
sentence-transformers 2 to 5 keep working; they are exported as `sentembed.util` names too, where the reference
keeps them (`sentence_transformers.util.decorators`).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Collection
from typing import Any, TypeVar

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

# Old constructor keyword -> the current one.
INIT_RENAMES = {
    "model_name": "model_name_or_path",
    "automodel_args": "model_kwargs",
    "tokenizer_args": "processor_kwargs",
    "tokenizer_kwargs": "processor_kwargs",
    "config_args": "config_kwargs",
    "cache_dir": "cache_folder",
    "default_activation_function": "activation_fn",
}
# What older versions took positionally after model_name_or_path, in their order (5.x).
INIT_POSITIONAL_ORDER = (
    "num_labels",
    "max_length",
    "activation_fn",
    "device",
    "cache_folder",
    "trust_remote_code",
    "revision",
    "local_files_only",
    "token",
    "model_kwargs",
    "tokenizer_kwargs",
    "config_kwargs",
    "model_card_data",
    "backend",
)
# Old predict / rank keyword -> the current one.
CALL_RENAMES = {"sentences": "inputs", "activation_fct": "activation_fn"}
# Keywords predict / rank once took that no longer do anything.
CALL_NO_OPS = ("num_workers",)
RANK_NO_OPS = ("convert_to_numpy", "convert_to_tensor", "apply_softmax")


def rename_keywords(
    kwargs: dict[str, Any], renames: dict[str, str], owner: str, given_positionally: Collection[str] = ()
) -> dict[str, Any]:
    """`kwargs` with each old name replaced by its new one (a warning each); both names given (the new one by
    keyword or positionally) is a TypeError."""
    for old, new in renames.items():
        if old not in kwargs:
            continue
        if new in kwargs or new in given_positionally:
            raise TypeError(f"{owner} got both {new!r} and its deprecated name {old!r}; pass only {new!r}")
        logger.warning(
            "The %s `%s` argument was renamed and is now deprecated. Please use `%s` instead.", owner, old, new
        )
        kwargs[new] = kwargs.pop(old)
    return kwargs


def drop_keywords(kwargs: dict[str, Any], names: tuple[str, ...], owner: str) -> dict[str, Any]:
    """`kwargs` without the keywords that no longer do anything, with a warning for each one given."""
    for name in names:
        if name in kwargs:
            kwargs.pop(name)
            logger.warning("The %s `%s` argument is deprecated and has no effect.", owner, name)
    return kwargs


def positional_names(function: Callable[..., Any]) -> list[str]:
    """The names of a method's parameters that can be given positionally, after `self`."""
    parameters = list(inspect.signature(function).parameters.values())[1:]
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [parameter.name for parameter in parameters if parameter.kind in kinds]


def keywords_from_positions(args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
    """The constructor's arguments after model_name_or_path, given positionally as older versions allowed, as
    keywords (a warning each); a name also given by keyword is a TypeError."""
    if len(args) > 1 + len(INIT_POSITIONAL_ORDER):
        raise TypeError(f"CrossEncoder takes at most {1 + len(INIT_POSITIONAL_ORDER)} positional arguments")
    for name, value in zip(INIT_POSITIONAL_ORDER, args[1:], strict=False):
        if name in kwargs:
            raise TypeError(f"CrossEncoder got {name!r} both positionally and by keyword")
        logger.warning("Passing `%s` positionally to CrossEncoder is deprecated; pass it by keyword.", name)
        kwargs[name] = value
    return args[:1], kwargs


def cross_encoder_init_args_decorator(init: F) -> F:
    """Translate CrossEncoder's old constructor keywords (`model_name`, `automodel_args`, `tokenizer_args`,
    `tokenizer_kwargs`, `config_args`, `cache_dir`, `default_activation_function`) to the current ones, and
    `classifier_dropout` into `config_kwargs`, each with a warning.

    Args:
        init: The `__init__` to wrap.

    Returns:
        The wrapped `__init__`, which also takes the options after `model_name_or_path` positionally (with a
        warning), as older versions did.
    """

    @functools.wraps(init)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = keywords_from_positions(args, kwargs)
        kwargs = rename_keywords(kwargs, INIT_RENAMES, "CrossEncoder", ("model_name_or_path",)[: len(args)])
        if "classifier_dropout" in kwargs:
            dropout = kwargs.pop("classifier_dropout")
            logger.warning(
                "The CrossEncoder `classifier_dropout` argument is deprecated. Please use "
                "`config_kwargs={'classifier_dropout': %s}` instead.",
                dropout,
            )
            kwargs["config_kwargs"] = {**(kwargs.get("config_kwargs") or {}), "classifier_dropout": dropout}
        return init(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def cross_encoder_predict_rank_args_decorator(method: F) -> F:
    """Translate `predict` / `rank`'s old keywords (`sentences`, `activation_fct`) to the current ones, and drop
    the ones that no longer do anything (`num_workers`; on `rank` also `convert_to_numpy`, `convert_to_tensor`
    and `apply_softmax`, whose scores are always Python floats), each with a warning.

    Args:
        method: `predict` or `rank`, to wrap.

    Returns:
        The wrapped method.
    """
    owner = f"CrossEncoder.{method.__name__}"
    parameters = inspect.signature(method).parameters
    no_ops = CALL_NO_OPS + tuple(name for name in RANK_NO_OPS if method.__name__ == "rank" and name not in parameters)

    names = positional_names(method)

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs = rename_keywords(kwargs, CALL_RENAMES, owner, names[: len(args)])
        kwargs = drop_keywords(kwargs, no_ops, owner)
        return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
