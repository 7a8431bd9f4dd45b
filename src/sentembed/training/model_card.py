"""What a training run tells the model card: each dataset described with its loss, the hyperparameters (those
changed from their defaults, and all of them), the training logs and the examples the card shows."""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any

from transformers import TrainerCallback

from sentembed.loading import hub_dataset_source

# Arguments that say where things go or who may push them, not how the model was trained.
UNRECORDED_HYPERPARAMETERS = ("output_dir", "logging_dir", "hub_token", "push_to_hub_token", "hub_model_id")
UNLOGGED_SUFFIXES = ("_runtime", "_samples_per_second", "_steps_per_second")
LOG_NAMES = {"loss": "Training Loss", "eval_loss": "Validation Loss"}


def plain(value: Any) -> Any:
    """An argument's value as the card shows it (enums by their value)."""
    return getattr(value, "value", value)


def field_default(item: Any) -> Any:
    if item.default is not MISSING:
        return item.default
    if item.default_factory is not MISSING:
        return item.default_factory()
    return MISSING


def hyperparameter_summary(args: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the arguments changed from their defaults, all arguments), without paths, tokens and private fields."""
    recorded = [
        item
        for item in fields(args)
        if item.init and not item.name.startswith("_") and item.name not in UNRECORDED_HYPERPARAMETERS
    ]
    every = {item.name: plain(getattr(args, item.name)) for item in recorded}
    changed = {
        item.name: every[item.name]
        for item in recorded
        if is_plain(every[item.name]) and differs(every[item.name], field_default(item))
    }
    return changed, every


def is_plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool, list, tuple, dict))


def differs(value: Any, default: Any) -> bool:
    """Whether a value was changed from its field's default; empty values (None, False, "", []) that the
    arguments' own set-up fills in count as unchanged."""
    if default is MISSING:
        return False
    default = plain(default)
    if not value and not default:
        return False
    return value != default


def training_log_rows(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per logged step: epoch, step, the training loss and the evaluation numbers logged then."""
    rows: dict[int, dict[str, Any]] = {}
    for entry in log_history:
        values = {
            LOG_NAMES.get(key, key.removeprefix("eval_")): value
            for key, value in entry.items()
            if (key == "loss" or key.startswith("eval_")) and not key.endswith(UNLOGGED_SUFFIXES)
        }
        if not values or "step" not in entry:
            continue
        row = rows.setdefault(entry["step"], {"epoch": round(entry.get("epoch") or 0, 4), "step": entry["step"]})
        row.update(values)
    return list(rows.values())


def fill_card_data(
    card_data: Any,
    train_datasets: dict[str | None, Any],
    eval_datasets: dict[str | None, Any],
    losses: dict[str | None, Any],
    args: Any,
    log_history: list[dict[str, Any]],
) -> None:
    """Tell a model's card data what a run trained and evaluated on, how, and what it logged.

    Args:
        card_data: The model's `model_card_data`.
        train_datasets: Training datasets by name (None for a single unnamed one).
        eval_datasets: Evaluation datasets, likewise.
        losses: The loss of each dataset by the same names (one entry serves every dataset).
        args: The run's training arguments.
        log_history: The trainer state's log history.
    """
    card_data.set_losses(list(losses.values()))
    card_data.set_hyperparameters(*hyperparameter_summary(args))
    card_data.set_training_logs(training_log_rows(log_history))
    card_data.train_datasets = described(card_data, card_data.train_datasets, train_datasets, losses)
    card_data.eval_datasets = described(card_data, card_data.eval_datasets, eval_datasets, losses)
    first = next(iter(train_datasets.values()), None)
    if first is not None and not card_data.usage_examples:
        card_data.set_widget_examples(first)


def described(
    card_data: Any, given: list[dict[str, Any]], datasets: dict[str | None, Any], losses: dict[str | None, Any]
) -> list[dict[str, Any]]:
    """Each dataset's card entry: the caller's entry of the same position (its name and Hub id; else the Hub id
    `datasets` cached it under) completed with statistics, examples and its loss."""
    entries = []
    for index, (name, dataset) in enumerate(datasets.items()):
        info = dict(given[index]) if index < len(given) else ({"name": name} if name else {})
        if "id" not in info:
            info.update(hub_dataset_source(dataset))
        if info.get("id"):
            info.setdefault("name", info["id"])
        loss = losses.get(name) or next(iter(losses.values()))
        entries.append(card_data.compute_dataset_metrics(dataset, info, loss))
    return entries or given


class ModelCardCallback(TrainerCallback):
    """Keeps the model's card data current during training: the run's description when it starts, the logs as
    they come, so that a model saved during or after training (by the trainer or by `model.save`) has them."""

    def __init__(self, fill: Any) -> None:
        """Args:
        fill: Called without arguments to describe the run in the card data (the trainer's
            `fill_model_card_data`).
        """
        self.fill = fill

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.fill()

    def on_log(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        card_data = getattr(model, "model_card_data", None)
        if card_data is not None:
            card_data.set_training_logs(training_log_rows(state.log_history))

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        """The run's duration, and with load_best_model_at_end the step of the checkpoint that was kept."""
        card_data = getattr(model, "model_card_data", None)
        if card_data is None:
            return
        checkpoint = state.best_model_checkpoint
        if args.load_best_model_at_end and checkpoint:
            card_data.set_best_model_step(int(str(checkpoint).rstrip("/").rsplit("-", 1)[-1]))
        runtimes = [entry["train_runtime"] for entry in state.log_history if "train_runtime" in entry]
        if runtimes:
            card_data.set_training_time(runtimes[-1])
