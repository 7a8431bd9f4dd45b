"""Encoding and scoring Ray Datasets: `encode_dataset` and `predict_dataset` run a pool of model actors over
a dataset's batches and return the dataset with one column added (lazily: nothing runs until it is read)."""

from __future__ import annotations

from typing import Any

from sentembed.common.checks import check_positive_int
from sentembed.cross_encoder import CrossEncoder
from sentembed.distributed._actors import (
    Embedder,
    PairScorer,
    check_encode_options,
    check_keywords,
    check_model_options,
    check_model_source,
    check_prompt_name,
)
from sentembed.distributed._cluster import actor_pool, require_ray
from sentembed.sentence_transformer import SentenceTransformer

DEFAULT_BATCH_ROWS = 256


def encode_dataset(
    ds: Any,
    model: str,
    text_column: str = "text",
    output_column: str = "embedding",
    batch_size: int = DEFAULT_BATCH_ROWS,
    workers: int | None = None,
    gpus_per_worker: float = 0,
    *,
    cpus_per_worker: float = 1,
    device: str | None = None,
    model_options: dict[str, Any] | None = None,
    model_batch_size: int = 32,
    **encode_kwargs: Any,
) -> Any:
    """`ds` with `output_column` added: the embedding of each row's `text_column`, as `model.encode` gives it.

    `batch_size` rows go to an actor at a time and are encoded `model_batch_size` at a time; `workers` actors
    (default: as many as the cluster holds now) each load `model` once, with `device` and `model_options`
    (backend, truncate_dim, prompts, model_kwargs, ...). `encode_kwargs` are encode's prompt_name, prompt,
    precision, normalize_embeddings, truncate_dim and chunking; precision "int8"/"uint8" fixes its ranges per
    batch, as `encode` does per call (store float32 and quantize once for ranges over the whole corpus).
    Killed actors are restarted and their batches run again. Rows come back in no fixed order: keep an id column.

    Args:
        ds: A `ray.data.Dataset`.
        model: The model's name or folder.
        text_column: The column holding the texts. Default "text".
        output_column: The column to add (must not exist yet). Default "embedding".
        batch_size: Rows sent to an actor at a time. Default 256.
        workers: How many actors. Default None: as many as the cluster holds now.
        gpus_per_worker: GPUs each actor reserves (fractions allowed). Default 0.
        cpus_per_worker: CPUs each actor reserves (fractions allowed). Default 1.
        device: Where each actor's model runs, e.g. "cuda". Default None: the best available there.
        model_options: Keyword arguments for the SentenceTransformer. Default None.
        model_batch_size: Texts per `encode` batch. Default 32.
        **encode_kwargs: `encode`'s prompt_name, prompt, precision, normalize_embeddings, truncate_dim and
            chunking.

    Returns:
        The dataset with the embeddings added (lazy, as Ray Data datasets are).

    Raises:
        ImportError: Ray is not installed.
        TypeError: `ds` that is not a Ray dataset, or a model that is not a string.
        ValueError: Missing columns, an existing output column, unknown options, or pool settings the cluster
            cannot hold.
    """
    check_dataset(ds)
    check_columns(ds, {"text_column": text_column}, output_column)
    arguments = {
        "model": check_model_source(model),
        "text_column": text_column,
        "output_column": output_column,
        "device": device,
        "model_options": check_model_options(SentenceTransformer, model_options),
        "model_batch_size": check_positive_int(model_batch_size, "model_batch_size"),
        **check_encode_options(encode_kwargs),
    }
    check_prompt_name(arguments["model"], arguments["model_options"], encode_kwargs)
    return map_with_pool(ds, Embedder, arguments, batch_size, workers, cpus_per_worker, gpus_per_worker)


def predict_dataset(
    ds: Any,
    model: str,
    first_column: str = "query",
    second_column: str = "document",
    output_column: str = "score",
    batch_size: int = DEFAULT_BATCH_ROWS,
    workers: int | None = None,
    gpus_per_worker: float = 0,
    *,
    cpus_per_worker: float = 1,
    device: str | None = None,
    model_options: dict[str, Any] | None = None,
    model_batch_size: int = 32,
    **predict_kwargs: Any,
) -> Any:
    """`ds` with `output_column` added: the CrossEncoder's score of each row's (`first_column`, `second_column`)
    pair, as `CrossEncoder.predict` gives it. The pool is set up as in `encode_dataset`.

    Args:
        ds: A `ray.data.Dataset`.
        model: The cross-encoder's name or folder.
        first_column: The column of the pairs' first texts. Default "query".
        second_column: The column of the pairs' second texts. Default "document".
        output_column: The column to add (must not exist yet). Default "score".
        batch_size: Rows sent to an actor at a time. Default 256.
        workers: How many actors. Default None: as many as the cluster holds now.
        gpus_per_worker: GPUs each actor reserves (fractions allowed). Default 0.
        cpus_per_worker: CPUs each actor reserves (fractions allowed). Default 1.
        device: Where each actor's model runs, e.g. "cuda". Default None: the best available there.
        model_options: Keyword arguments for the CrossEncoder. Default None.
        model_batch_size: Pairs per `predict` batch. Default 32.
        **predict_kwargs: `predict`'s activation_fn and apply_softmax.

    Returns:
        The dataset with the scores added.

    Raises:
        ImportError: Ray is not installed.
        TypeError: `ds` that is not a Ray dataset, or a model that is not a string.
        ValueError: Missing columns, an existing output column, unknown options, or pool settings the cluster
            cannot hold.
    """
    check_dataset(ds)
    check_columns(ds, {"first_column": first_column, "second_column": second_column}, output_column)
    check_keywords(predict_kwargs, ("activation_fn", "apply_softmax"), "predict_dataset()")
    arguments = {
        "model": check_model_source(model),
        "first_column": first_column,
        "second_column": second_column,
        "output_column": output_column,
        "device": device,
        "model_options": check_model_options(CrossEncoder, model_options),
        "model_batch_size": check_positive_int(model_batch_size, "model_batch_size"),
        **predict_kwargs,
    }
    return map_with_pool(ds, PairScorer, arguments, batch_size, workers, cpus_per_worker, gpus_per_worker)


def map_with_pool(
    ds: Any, actor: type, arguments: dict[str, Any], batch_size: int, workers, cpus: float, gpus: float
) -> Any:
    """`ds.map_batches` through a pool of `actor`s built with `arguments`."""
    return ds.map_batches(
        actor,
        fn_constructor_kwargs=arguments,
        batch_size=check_positive_int(batch_size, "batch_size"),
        batch_format="numpy",
        **actor_pool(workers, cpus, gpus),
    )


def check_dataset(ds: Any) -> None:
    """Refuse anything but a Ray Dataset."""
    ray = require_ray()
    if not isinstance(ds, ray.data.Dataset):
        raise TypeError(f"ds must be a ray.data.Dataset, got {type(ds).__name__}")


def check_columns(ds: Any, inputs: dict[str, Any], output: Any) -> None:
    """Column names must be strings, the output another column than the inputs, and the inputs in the dataset
    when its schema is known without running it."""
    for name, value in {**inputs, "output_column": output}.items():
        if not isinstance(value, str) or not value:
            raise TypeError(f"{name} must be a column name (str), got {value!r}")
    if output in inputs.values():
        raise ValueError(f"output_column {output!r} would overwrite an input column; choose another name")
    schema = ds.schema(fetch_if_missing=False)
    missing = [name for name, column in inputs.items() if schema is not None and column not in schema.names]
    if missing:
        raise ValueError(
            f"{missing[0]} {inputs[missing[0]]!r} is not a column of the dataset; its columns are {list(schema.names)}"
        )
