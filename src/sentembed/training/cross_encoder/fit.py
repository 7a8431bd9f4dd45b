"""The legacy `CrossEncoder.fit(train_dataloader, ...)` of sentence-transformers 2 and 3, run by
CrossEncoderTrainer: the DataLoader's (text, text) InputExamples with their labels, one loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from sentembed.common.protocols import TrainablePairModel
from sentembed.training.cross_encoder.losses._base import CrossEncoderLoss
from sentembed.training.cross_encoder.losses._pointwise import BinaryCrossEntropyLoss, CrossEntropyLoss
from sentembed.training.fit import (
    examples_to_dataset,
    legacy_arguments,
    legacy_callbacks,
    loader_batch_size,
    run_legacy_training,
)
from sentembed.training.losses._base import ColumnSpec


class LogitsLoss(CrossEncoderLoss):
    """A plain torch loss on each pair's (activated) logits, as old scripts pass `loss_fct=nn.BCEWithLogitsLoss()`:
    one logit per pair and float labels for a one-label model, a row of logits and class labels otherwise.

    Args:
        model: the CrossEncoder.
        loss_fct: a callable `(logits, labels) -> loss`.
        activation_fn: applied to the logits first.
    """

    columns = ColumnSpec(2, 2, "float")

    def __init__(self, model: TrainablePairModel, loss_fct: Callable, activation_fn: nn.Module | None = None) -> None:
        super().__init__(model, activation_fn)
        if not callable(loss_fct):
            raise TypeError(f"loss_fct must be a callable (logits, labels) -> loss, got {type(loss_fct).__name__}")
        self.loss_fct = loss_fct

    def forward(self, columns: list[list[str]], labels: torch.Tensor) -> torch.Tensor:
        logits = self.activated(self.logits(columns[0], columns[1]))
        labels = torch.as_tensor(labels, device=logits.device)
        if self.model.num_labels == 1:
            return self.loss_fct(logits.view(-1), labels.to(logits.dtype).view(-1))
        return self.loss_fct(logits, labels.long().view(-1))


def fit_loss(model: TrainablePairModel, loss_fct: Callable | None, activation_fct: nn.Module | None) -> nn.Module:
    """The loss `fit` trains with: BinaryCrossEntropyLoss for one label, else CrossEntropyLoss, when `loss_fct` is
    None; one of our cross-encoder losses as given; any other callable on the logits."""
    if loss_fct is None:
        loss_class = BinaryCrossEntropyLoss if model.num_labels == 1 else CrossEntropyLoss
        return loss_class(model, activation_fn=activation_fct or nn.Identity())
    if isinstance(loss_fct, CrossEncoderLoss):
        return loss_fct
    return LogitsLoss(model, loss_fct, activation_fct)


def fit_cross_encoder(
    model: TrainablePairModel,
    train_dataloader: Any,
    evaluator: Any = None,
    epochs: int = 1,
    loss_fct: Callable | None = None,
    activation_fct: nn.Module | None = None,
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
) -> None:
    """Train a CrossEncoder on a DataLoader of (text, text) InputExamples with labels.

    Args:
        model: the CrossEncoder.
        train_dataloader: a DataLoader over InputExamples; its batch size is kept.
        evaluator: a cross-encoder evaluator, run every `evaluation_steps` steps (or each epoch).
        epochs: passes over the data.
        loss_fct: None (BinaryCrossEntropyLoss for one label, else CrossEntropyLoss), one of our cross-encoder
            losses, or a torch loss on the logits such as `nn.BCEWithLogitsLoss()`.
        activation_fct: applied to the logits before the loss.
        scheduler: the legacy scheduler name (WarmupLinear, WarmupCosine, ConstantLR, ...).
        warmup_steps: learning-rate warm-up steps.
        optimizer_class: the optimizer.
        optimizer_params: its arguments; "lr" is the learning rate (2e-5 by default).
        weight_decay: the optimizer's weight decay.
        evaluation_steps: evaluate every this many steps (0: each epoch).
        output_path: where the best (or, without an evaluator, the final) model is saved.
        save_best_model: save the best model by the evaluator's primary metric.
        max_grad_norm: gradient clipping.
        use_amp: mixed precision on a GPU.
        callback: called as `callback(score, epoch, steps)` after each evaluation.
        show_progress_bar: show the trainer's progress bar.
    """
    from sentembed.training.cross_encoder.trainer import CrossEncoderTrainer, CrossEncoderTrainingArguments

    examples = list(train_dataloader.dataset)
    for index, example in enumerate(examples):
        if len(getattr(example, "texts", ())) != 2:
            raise ValueError(f"CrossEncoder.fit: example {index} must hold two texts (a pair), got {example!r}")
    dataset = examples_to_dataset(examples, True, "train_dataloader")
    optimizer_params = dict(optimizer_params or {"lr": 2e-5})
    args = legacy_arguments(
        CrossEncoderTrainingArguments,
        1,
        loader_batch_size(train_dataloader, "train_dataloader"),
        evaluator is not None,
        epochs=epochs,
        steps_per_epoch=None,
        scheduler=scheduler,
        warmup_steps=warmup_steps,
        learning_rate=optimizer_params.get("lr", 2e-5),
        weight_decay=weight_decay,
        evaluation_steps=evaluation_steps,
        max_grad_norm=max_grad_norm,
        use_amp=use_amp,
        show_progress_bar=show_progress_bar,
    )
    trainer = CrossEncoderTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=fit_loss(model, loss_fct, activation_fct),
        evaluator=evaluator,
        callbacks=legacy_callbacks(model, evaluator, output_path, save_best_model, callback),
        optimizer_cls_and_kwargs=(optimizer_class, {**optimizer_params, "lr": args.learning_rate}),
    )
    run_legacy_training(trainer, model, evaluator, output_path, save_best_model)
