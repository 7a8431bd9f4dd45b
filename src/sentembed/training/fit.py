"""The legacy `model.fit(train_objectives=[(dataloader, loss)], ...)` API, run by SentenceTransformerTrainer."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

import torch
from transformers import TrainerCallback

from sentembed.common.checks import check_choice
from sentembed.common.protocols import TrainableEncoderModel, TrainableModel
from sentembed.training.input_example import InputExample
from sentembed.training.samplers import (
    BatchSamplers,
    DefaultBatchSampler,
    GroupByLabelBatchSampler,
    NoDuplicatesBatchSampler,
)

logger = logging.getLogger(__name__)

# Legacy scheduler names and their transformers equivalents.
SCHEDULERS = {
    "constantlr": "constant",
    "warmupconstant": "constant_with_warmup",
    "warmuplinear": "linear",
    "warmupcosine": "cosine",
    "warmupcosinewithhardrestarts": "cosine_with_restarts",
}


def examples_to_dataset(examples: Iterable[Any], with_label: bool, where: str) -> Any:
    """InputExamples as a datasets.Dataset with columns text_0, text_1, ... and, when wanted, label."""
    from datasets import Dataset

    examples = list(examples)
    if not examples:
        raise ValueError(f"the DataLoader of {where} holds no examples")
    for index, example in enumerate(examples):
        if not isinstance(example, InputExample):
            raise TypeError(f"{where}: item {index} is a {type(example).__name__}, expected an InputExample")
    widths = {len(example.texts) for example in examples}
    if len(widths) != 1:
        raise ValueError(f"{where}: every InputExample must have the same number of texts, got {sorted(widths)}")
    columns = {f"text_{i}": [example.texts[i] for example in examples] for i in range(widths.pop())}
    if with_label:
        columns["label"] = [_plain(example.label) for example in examples]
    return Dataset.from_dict(columns)


def _plain(label: Any) -> Any:
    """Tensors and arrays as lists or scalars, so datasets can store them."""
    if hasattr(label, "tolist"):
        return label.tolist()
    return label


def _check_objectives(train_objectives: Any) -> list[tuple[Any, torch.nn.Module]]:
    if not isinstance(train_objectives, (list, tuple)) or not train_objectives:
        raise ValueError("train_objectives must be a non-empty list of (DataLoader, loss) pairs")
    for index, objective in enumerate(train_objectives):
        if not (isinstance(objective, (list, tuple)) and len(objective) == 2):
            raise TypeError(f"train_objectives[{index}] must be a (DataLoader, loss) pair, got {objective!r}")
    return [tuple(objective) for objective in train_objectives]


SAMPLER_CLASSES = {
    BatchSamplers.BATCH_SAMPLER: DefaultBatchSampler,
    BatchSamplers.NO_DUPLICATES: NoDuplicatesBatchSampler,
    BatchSamplers.GROUP_BY_LABEL: GroupByLabelBatchSampler,
}


def _sampler_kind(loader: Any) -> BatchSamplers:
    """The batch sampler a legacy loader asks for (NoDuplicatesDataLoader, SentenceLabelDataset), else shuffled."""
    wanted = getattr(loader, "fit_batch_sampler", None) or getattr(loader.dataset, "fit_batch_sampler", None)
    return BatchSamplers(wanted or BatchSamplers.BATCH_SAMPLER)


def loader_batch_size(loader: Any, where: str) -> int:
    """The DataLoader's batch size, or its own batch sampler's (whose grouping fit does not keep, with a warning)."""
    if getattr(loader, "batch_size", None) is not None:
        return loader.batch_size
    size = getattr(getattr(loader, "batch_sampler", None), "batch_size", None)
    if not isinstance(size, int) or size < 1:
        raise ValueError(
            f"{where}: the DataLoader has no batch_size and its batch_sampler names none; give the DataLoader a "
            "batch_size"
        )
    logger.warning(
        "%s uses its own batch_sampler: fit batches it %d at a time with its own sampler (%s), not in that "
        "sampler's order. Use the trainer with batch_sampler= to keep a custom order.",
        where,
        size,
        _sampler_kind(loader).value,
    )
    return size


class ObjectiveBatchSamplers:
    """The trainer's `batch_sampler` for `fit`: each objective's dataset is batched with its own DataLoader's
    batch size and sampler kind, so objectives with different batch sizes train side by side (round robin)."""

    def __init__(self) -> None:
        self.batching: dict[int, tuple[Any, int, BatchSamplers]] = {}

    def add(self, dataset: Any, batch_size: int, kind: BatchSamplers) -> None:
        self.batching[id(dataset)] = (dataset, batch_size, kind)

    def __call__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> Any:
        _, batch_size, kind = self.batching.get(id(dataset), (dataset, batch_size, BatchSamplers.BATCH_SAMPLER))
        return SAMPLER_CLASSES[kind](dataset, batch_size, drop_last, valid_label_columns, generator, seed)


def _wants_label(loss: torch.nn.Module, examples: Iterable[Any]) -> bool:
    """Whether the objective's dataset gets a label column: as the loss's `columns` say, or, for a loss without
    them (a plain `nn.Module`), unless every label is the InputExample default 0."""
    columns = getattr(loss, "columns", None)
    if columns is not None:
        return columns.label is not None
    return any(not (isinstance(example.label, int) and example.label == 0) for example in examples)


def _scheduler(name: str) -> str:
    return SCHEDULERS[check_choice(name.lower(), sorted(SCHEDULERS), "scheduler (in any case)")]


class LegacyFitCallback(TrainerCallback):
    """After each evaluation: call the user's `callback(score, epoch, steps)`, and save the best model."""

    def __init__(
        self, model: TrainableModel, evaluator: Any, output_path: str | None, save_best: bool, callback: Callable | None
    ):
        self.model, self.evaluator = model, evaluator
        self.output_path, self.save_best, self.callback = output_path, save_best, callback
        self.best: float | None = None

    def on_evaluate(self, args: Any, state: Any, control: Any, metrics: dict | None = None, **kwargs: Any) -> None:
        key = f"eval_{self.evaluator.primary_metric}"
        if not metrics or key not in metrics:
            return
        score = metrics[key]
        if self.callback is not None:
            self.callback(score, int(state.epoch or 0), state.global_step)
        better = self.best is None or (score > self.best if self.evaluator.greater_is_better else score < self.best)
        if better:
            self.best = score
            if self.save_best and self.output_path:
                self.model.save(self.output_path)


def fit(
    model: TrainableEncoderModel,
    train_objectives: list[tuple[Any, torch.nn.Module]],
    evaluator: Any = None,
    epochs: int = 1,
    steps_per_epoch: int | None = None,
    scheduler: str = "WarmupLinear",
    warmup_steps: int = 10000,
    optimizer_class: type[torch.optim.Optimizer] = torch.optim.AdamW,
    optimizer_params: dict[str, Any] | None = None,
    weight_decay: float = 0.01,
    evaluation_steps: int = 0,
    output_path: str | None = None,
    save_best_model: bool = True,
    max_grad_norm: float = 1,
    use_amp: bool = False,
    callback: Callable[[float, int, int], None] | None = None,
    show_progress_bar: bool = True,
    checkpoint_path: str | None = None,
    checkpoint_save_steps: int = 500,
    checkpoint_save_total_limit: int = 0,
) -> None:
    """Train `model` on each (DataLoader of InputExample, loss) objective in turn, batch by batch.

    Each objective keeps its DataLoader's batch size (or its batch sampler's) and the sampler kind its loader
    asks for; the loss may be one of ours or a plain `nn.Module` with `forward(features, labels)`.
    """
    from datasets import DatasetDict

    from sentembed.training.arguments import SentenceTransformerTrainingArguments
    from sentembed.training.trainer import SentenceTransformerTrainer

    objectives = _check_objectives(train_objectives)
    datasets, losses, batch_sizes = {}, {}, []
    samplers = ObjectiveBatchSamplers()
    for index, (loader, loss) in enumerate(objectives):
        name = f"objective_{index}"
        examples = list(loader.dataset)
        datasets[name] = examples_to_dataset(examples, _wants_label(loss, examples), f"train_objectives[{index}]")
        losses[name] = loss
        batch_sizes.append(loader_batch_size(loader, f"train_objectives[{index}]"))
        samplers.add(datasets[name], batch_sizes[-1], _sampler_kind(loader))
    optimizer_params = dict(optimizer_params or {"lr": 2e-5})
    count = len(objectives)
    args = legacy_arguments(
        SentenceTransformerTrainingArguments,
        count,
        max(batch_sizes),
        evaluator is not None,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        scheduler=scheduler,
        warmup_steps=warmup_steps,
        learning_rate=optimizer_params.get("lr", 2e-5),
        weight_decay=weight_decay,
        evaluation_steps=evaluation_steps,
        max_grad_norm=max_grad_norm,
        use_amp=use_amp,
        show_progress_bar=show_progress_bar,
        checkpoint_path=checkpoint_path,
        checkpoint_save_steps=checkpoint_save_steps,
        checkpoint_save_total_limit=checkpoint_save_total_limit,
        batch_sampler=samplers,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=DatasetDict(datasets) if count > 1 else datasets["objective_0"],
        loss=losses if count > 1 else losses["objective_0"],
        evaluator=evaluator,
        callbacks=legacy_callbacks(model, evaluator, output_path, save_best_model, callback),
        optimizer_cls_and_kwargs=(optimizer_class, {**optimizer_params, "lr": args.learning_rate}),
    )
    run_legacy_training(trainer, model, evaluator, output_path, save_best_model)


def legacy_arguments(
    arguments_class: type,
    objectives: int,
    batch_size: int,
    evaluate: bool,
    epochs: int,
    steps_per_epoch: int | None,
    scheduler: str,
    warmup_steps: int,
    learning_rate: float,
    weight_decay: float,
    evaluation_steps: int,
    max_grad_norm: float,
    use_amp: bool,
    show_progress_bar: bool,
    checkpoint_path: str | None = None,
    checkpoint_save_steps: int = 500,
    checkpoint_save_total_limit: int = 0,
    batch_sampler: Any = "batch_sampler",
) -> Any:
    """The trainer's arguments for a legacy `fit` call. Step counts keep their old meaning of one batch of every
    objective, so they are multiplied by the number of `objectives` (trained round robin)."""
    evaluate_every = "steps" if evaluation_steps and evaluation_steps > 0 else "epoch"
    return arguments_class(
        output_dir=checkpoint_path or tempfile.mkdtemp(prefix="sentembed-fit-"),
        num_train_epochs=epochs,
        max_steps=steps_per_epoch * epochs * objectives if steps_per_epoch else -1,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        lr_scheduler_type=_scheduler(scheduler),
        warmup_steps=warmup_steps * objectives,
        weight_decay=weight_decay,
        max_grad_norm=max_grad_norm,
        fp16=bool(use_amp and torch.cuda.is_available()),
        eval_strategy=evaluate_every if evaluate else "no",
        eval_steps=evaluation_steps * objectives if evaluate_every == "steps" else None,
        save_strategy="steps" if checkpoint_path else "no",
        save_steps=checkpoint_save_steps * objectives,
        save_total_limit=checkpoint_save_total_limit or None,
        batch_sampler=batch_sampler,
        multi_dataset_batch_sampler="round_robin",
        disable_tqdm=not show_progress_bar,
        report_to="none",
    )


def legacy_callbacks(
    model: TrainableModel, evaluator: Any, output_path: str | None, save_best_model: bool, callback: Callable | None
) -> list[TrainerCallback] | None:
    """The callback that reports each evaluation to `callback` and saves the best model, when there is an evaluator."""
    if evaluator is None:
        return None
    return [LegacyFitCallback(model, evaluator, output_path, save_best_model, callback)]


def run_legacy_training(
    trainer: Any, model: TrainableModel, evaluator: Any, output_path: str | None, save_best_model: bool
) -> None:
    """Train, then save to `output_path` unless the best model was already saved there during training."""
    trainer.train()
    if output_path and (evaluator is None or not save_best_model):
        model.save(output_path)
