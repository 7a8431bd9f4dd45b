"""Callable classes for `Dataset.map_batches`: each Ray actor loads its model once, then runs every batch it is
given through it. Batches are dicts of numpy arrays (`batch_format="numpy"`)."""

from __future__ import annotations

import builtins
import inspect
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from sentembed.common.checks import check_choice, check_positive_int, resolve_prompt
from sentembed.common.errors import WorkerError
from sentembed.common.files import save_array
from sentembed.common.types import PRECISIONS
from sentembed.cross_encoder import CrossEncoder
from sentembed.loading import ModelConfig
from sentembed.sentence_transformer import SentenceTransformer
from sentembed.sentence_transformer.model import merge_prompts
from sentembed.store import Manifest, encode_for_store

ENCODE_OPTIONS = ("prompt_name", "prompt", "precision", "normalize_embeddings", "truncate_dim", "chunking")
PREDICT_OPTIONS = ("activation_fn", "apply_softmax")
# Set by the pool for every model; not a loading option a caller passes in model_options.
NOT_MODEL_OPTIONS = ("self", "model_name_or_path", "modules", "device")


def check_model_source(model: Any) -> str:
    """A model name or folder that every worker can load (model objects are not shipped to workers)."""
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(model, str) or not model:
        raise TypeError(
            f"model must be a model name or folder that every worker can load, got {type(model).__name__}; "
            "save a model object with model.save(folder) and pass the folder"
        )
    return model


def check_model_options(model_class: type, options: dict[str, Any] | None) -> dict[str, Any]:
    """The loading options for `model_class` (backend, truncate_dim, prompts, model_kwargs, ...), names checked."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(
            f"model_options must be a dict of {model_class.__name__} arguments, got {type(options).__name__}"
        )
    known = [name for name in inspect.signature(model_class.__init__).parameters if name not in NOT_MODEL_OPTIONS]
    check_keywords(options, known, "model_options")
    return dict(options)


def check_keywords(options: dict[str, Any], known: tuple[str, ...] | list[str], what: str) -> None:
    """Refuse keywords outside `known`, listing the ones taken."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"{what} got unknown arguments {unknown}; it takes {sorted(known)}")


def check_encode_options(options: dict[str, Any]) -> dict[str, Any]:
    """The `encode` options a dataset column can hold: names, precision and truncate_dim checked."""
    check_keywords(options, ENCODE_OPTIONS, "encode options")
    check_choice(options.get("precision", "float32"), PRECISIONS, "precision")
    check_positive_int(options.get("truncate_dim"), "truncate_dim", optional=True)
    return options


def check_prompt_name(model: str, model_options: dict[str, Any], encode_options: dict[str, Any]) -> None:
    """Refuse an unknown `prompt_name` before any actor loads the model, when the model is a local folder (its
    prompts are in its config file, with `model_options["prompts"]` over them); a hub model's prompt name is
    checked as each actor starts."""
    if encode_options.get("prompt_name") is None or encode_options.get("prompt") is not None:
        return
    if Path(model).is_dir():
        prompts = merge_prompts(model_options.get("prompts"), ModelConfig.read(model).prompts)
        resolve_prompt(prompts, None, encode_options["prompt_name"])


def column_texts(batch: dict[str, np.ndarray], column: str) -> list[str]:
    """A batch's column as a list, or a ValueError naming the columns the dataset has."""
    if column not in batch:
        raise ValueError(f"the dataset has no column {column!r}; its columns are {sorted(batch)}")
    return np.asarray(batch[column]).tolist()


class Embedder:
    """A Ray Data actor that adds `output_column` (one embedding row per text of `text_column`) to each batch,
    with a SentenceTransformer loaded once per actor; `encode_dataset` runs a pool of them.

    Args:
        model: The model's name or folder (a string, so each actor loads its own copy).
        text_column: The column holding the texts. Default "text".
        output_column: The column to add. Default "embedding".
        device: Where the model runs. Default None: the best available.
        model_options: Keyword arguments for the SentenceTransformer (backend, truncate_dim, prompts,
            model_kwargs, ...). Default None.
        model_batch_size: Texts per `encode` batch. Default 32.
        **encode_options: `encode`'s prompt_name, prompt, precision, normalize_embeddings, truncate_dim and
            chunking.

    Raises:
        TypeError: A model that is not a string.
        ValueError: Unknown model or encode options, an unknown prompt name, or a `model_batch_size` that is
            not a positive int.
    """

    def __init__(
        self,
        model: str,
        text_column: str = "text",
        output_column: str = "embedding",
        device: str | None = None,
        model_options: dict[str, Any] | None = None,
        model_batch_size: int = 32,
        **encode_options: Any,
    ) -> None:
        options = check_model_options(SentenceTransformer, model_options)
        self.model = SentenceTransformer(check_model_source(model), device=device, **options)
        self.text_column, self.output_column = text_column, output_column
        self.model_batch_size = check_positive_int(model_batch_size, "model_batch_size")
        self.encode_options = check_encode_options(encode_options)
        resolve_prompt(self.model.prompts, encode_options.get("prompt"), encode_options.get("prompt_name"))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The batch with its embeddings added."""
        embeddings = self.model.encode(
            column_texts(batch, self.text_column), batch_size=self.model_batch_size, show_progress_bar=False,
            convert_to_numpy=True, **self.encode_options,
        )  # fmt: skip
        return {**batch, self.output_column: np.asarray(embeddings)}


class PairScorer:
    """A Ray Data actor that adds `output_column` (the CrossEncoder's score of each (first, second) pair) to
    each batch, with the model loaded once per actor; `predict_dataset` runs a pool of them.

    Args:
        model: The cross-encoder's name or folder (a string, so each actor loads its own copy).
        first_column: The column of the pairs' first texts. Default "query".
        second_column: The column of the pairs' second texts. Default "document".
        output_column: The column to add. Default "score".
        device: Where the model runs. Default None: the best available.
        model_options: Keyword arguments for the CrossEncoder. Default None.
        model_batch_size: Pairs per `predict` batch. Default 32.
        **predict_options: `predict`'s activation_fn and apply_softmax.

    Raises:
        TypeError: A model that is not a string.
        ValueError: Unknown model or predict options, or a `model_batch_size` that is not a positive int.
    """

    def __init__(
        self,
        model: str,
        first_column: str = "query",
        second_column: str = "document",
        output_column: str = "score",
        device: str | None = None,
        model_options: dict[str, Any] | None = None,
        model_batch_size: int = 32,
        **predict_options: Any,
    ) -> None:
        options = check_model_options(CrossEncoder, model_options)
        self.model = CrossEncoder(check_model_source(model), device=device, **options)
        self.columns, self.output_column = (first_column, second_column), output_column
        self.model_batch_size = check_positive_int(model_batch_size, "model_batch_size")
        check_keywords(predict_options, PREDICT_OPTIONS, "predict options")
        self.predict_options = predict_options

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The batch with its scores added."""
        pairs = list(zip(*(column_texts(batch, column) for column in self.columns), strict=True))
        scores = self.model.predict(
            pairs, batch_size=self.model_batch_size, show_progress_bar=False, convert_to_numpy=True,
            **self.predict_options,
        )  # fmt: skip
        return {**batch, self.output_column: np.asarray(scores)}


class ShardEncoder:
    """Encodes whole store shards (rows `shard`, `name`, `texts`) the way the store's manifest says, and writes
    each shard's float32 embeddings to `shard_dir/name` (atomically); returns each shard's number and rows.

    An error in the worker (loading the model, encoding) comes back as data, in the `error` column (see
    `describe_error`), rather than as Ray's wrapper around it, so that the driver raises it with its own type
    and message (`raise_worker_error`).
    """

    def __init__(
        self,
        model: str,
        manifest: Manifest,
        shard_dir: str,
        device: str | None = None,
        model_options: dict[str, Any] | None = None,
        model_batch_size: int = 32,
    ) -> None:
        self.manifest, self.shard_dir, self.model_batch_size = manifest, Path(shard_dir), model_batch_size
        self.model, self.error = None, ""
        try:
            self.model = SentenceTransformer(model, device=device, **(model_options or {}))
        except Exception as error:  # reported with the first batch, as data
            self.error = describe_error(error)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Write each shard of the batch; its number and row count come back, or the worker's error."""
        shards = batch["shard"]
        if self.error:
            return failed_shards(shards, self.error)
        try:
            rows = [
                self.encode(name, texts) for name, texts in zip(batch["name"].tolist(), batch["texts"], strict=True)
            ]
        except Exception as error:
            return failed_shards(shards, describe_error(error))
        return {"shard": shards, "rows": np.asarray(rows, dtype=np.int64), "error": np.full(len(shards), "")}

    def encode(self, name: str, texts: np.ndarray) -> int:
        """Encode one shard and stage its file; returns its row count."""
        embeddings = encode_for_store(self.model, self.manifest, list(texts), self.model_batch_size)
        save_array(self.shard_dir / name, embeddings)
        return len(embeddings)


def failed_shards(shards: np.ndarray, description: str) -> dict[str, np.ndarray]:
    """The result rows of shards that a worker could not encode, each carrying its error."""
    return {"shard": shards, "rows": np.zeros(len(shards), dtype=np.int64), "error": np.full(len(shards), description)}


def describe_error(error: BaseException) -> str:
    """An error as text that survives Ray: its type's name and its message, as JSON."""
    message = error.args[0] if len(error.args) == 1 and isinstance(error.args[0], str) else str(error)
    return json.dumps({"type": type(error).__name__, "message": message})


def raise_worker_error(description: str) -> None:
    """Raise an error described by a worker with its own type (a built-in exception; any other is a
    WorkerError, a RuntimeError, naming its type) and message, noting that it came from a Ray worker."""
    error = json.loads(description)
    kind = getattr(builtins, error["type"], None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        raised = kind(error["message"])
    else:
        raised = WorkerError(f"{error['type']}: {error['message']}")
    raised.add_note("(raised in a Ray worker)")
    raise raised
