"""Training sections for the model card: datasets, losses, hyperparameters and evaluation results."""

from __future__ import annotations

from typing import Any

from sentembed.training.columns import is_streaming, split_columns

# Hyperparameters worth showing in a card, when they differ from the transformers defaults.
CARD_HYPERPARAMETERS = (
    "per_device_train_batch_size",
    "num_train_epochs",
    "max_steps",
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "max_grad_norm",
    "fp16",
    "bf16",
    "seed",
    "batch_sampler",
    "multi_dataset_batch_sampler",
    "prompts",
)


def describe_datasets(datasets: dict[str | None, Any], losses: dict[str | None, Any]) -> str:
    lines = ["| dataset | rows | columns | loss |", "|---|---|---|---|"]
    for name, dataset in datasets.items():
        texts, label = split_columns(dataset)
        columns = ", ".join(f"`{column}`" for column in [*texts, *([label] if label else [])])
        loss = losses.get(name) or next(iter(losses.values()))
        config = loss.get_config_dict() if hasattr(loss, "get_config_dict") else {}
        described = type(loss).__name__ + (f" `{config}`" if config else "")
        rows = "streamed" if is_streaming(dataset) else len(dataset)
        lines.append(f"| {name or 'train'} | {rows} | {columns} | {described} |")
    return "\n".join(lines)


def hyperparameters(args: Any) -> dict[str, Any]:
    """The arguments worth recording: those changed from their defaults, and the batch size, rate and epochs."""
    defaults = type(args).__dataclass_fields__
    chosen = {}
    for key in CARD_HYPERPARAMETERS:
        value = getattr(args, key, None)
        default = defaults[key].default if key in defaults else None
        if value != default or key in ("per_device_train_batch_size", "learning_rate", "num_train_epochs"):
            chosen[key] = getattr(value, "value", value)
    return chosen


def describe_hyperparameters(args: Any) -> str:
    return "\n".join(f"- `{key}`: {value}" for key, value in hyperparameters(args).items())


def describe_evaluations(history: list[dict[str, Any]]) -> str:
    """A table with one row per evaluation (epoch, step, then every metric)."""
    if not history:
        return ""
    metrics = sorted({key for row in history for key in row} - {"epoch", "step"})
    lines = ["| epoch | step | " + " | ".join(metrics) + " |", "|---|---|" + "---|" * len(metrics)]
    for row in history:
        values = [f"{row[key]:.4f}" if isinstance(row.get(key), float) else str(row.get(key, "")) for key in metrics]
        lines.append(f"| {row.get('epoch', '')} | {row.get('step', '')} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def training_sections(
    datasets: dict[str | None, Any], losses: dict[str | None, Any], args: Any, history: list[dict[str, Any]]
) -> dict[str, str]:
    """Model card sections (heading -> markdown) for a trainer's run."""
    sections = {
        "Training data and loss": describe_datasets(datasets, losses),
        "Training hyperparameters": describe_hyperparameters(args),
    }
    evaluations = describe_evaluations(history)
    if evaluations:
        sections["Evaluation results"] = evaluations
    return sections
