"""SentenceTransformerTrainer: the transformers `Trainer`, taught to feed text columns to embedding losses."""

from __future__ import annotations

import fnmatch
import importlib.util
import inspect
import logging
import os
import re
import shutil
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from transformers import Trainer, set_seed
from transformers.trainer_utils import HubStrategy

from sentembed.common.files import read_json_object
from sentembed.loading.registry import module_type_name, trusted_module_classes
from sentembed.models import Router
from sentembed.training.arguments import SentenceTransformerTrainingArguments
from sentembed.training.columns import LABEL_COLUMNS, check_dataset_fits_loss, is_streaming
from sentembed.training.data import NamedRows, SentenceCollator, unpack_batch
from sentembed.training.evaluation import SentenceEvaluator, SequentialEvaluator
from sentembed.training.losses import CoSENTLoss
from sentembed.training.losses._base import wrapped_model
from sentembed.training.model_card import ModelCardCallback, fill_card_data
from sentembed.training.samplers import (
    BatchSamplers,
    DefaultBatchSampler,
    GroupByLabelBatchSampler,
    MultiDatasetBatchSamplers,
    NoDuplicatesBatchSampler,
    ProportionalBatchSampler,
    RoundRobinBatchSampler,
)

logger = logging.getLogger(__name__)

# What a checkpoint holds beside the model (optimizer, scheduler and scaler states, the trainer state, random
# states, DeepSpeed's shards): never pushed as part of the model.
TRAINING_STATE_PATTERNS = ("optimizer*", "scheduler*", "scaler*", "trainer_state.json", "rng_state*", "global_step*")
# The count of batches kept beside the sums of named loss parts (`track_loss_components`).
COMPONENT_STEPS = "steps"


def as_named(datasets: Any) -> dict[str | None, Any]:
    """A dict of datasets (DatasetDict or dict) as is; one dataset as {None: dataset}."""
    if datasets is None:
        return {}
    if isinstance(datasets, dict):
        if not datasets:
            raise ValueError("the dict of datasets is empty")
        return dict(datasets)
    if not hasattr(datasets, "column_names"):
        raise TypeError(f"expected a datasets.Dataset or DatasetDict, got {type(datasets).__name__}")
    return {None: datasets}


# Columns the trainer adds to its batches itself.
RESERVED_COLUMNS = ("return_loss", "dataset_name")


def check_reserved_columns(datasets: dict[str | None, Any], kind: str) -> None:
    """Refuse a dataset with a column the trainer uses for itself, naming the dataset and the column."""
    for name, dataset in datasets.items():
        reserved = [column for column in dataset.column_names or [] if column in RESERVED_COLUMNS]
        if reserved:
            raise ValueError(
                f"The following column names are invalid in your {name or kind} dataset: {reserved}. Avoid using "
                "these column names, as they are reserved for internal use."
            )


def check_evaluation_source(strategy: Any, eval_dataset: Any, evaluator: Any, trainer_name: str) -> None:
    """An evaluation strategy other than "no" needs an eval_dataset or an evaluator to evaluate with."""
    if str(getattr(strategy, "value", strategy)) != "no" and eval_dataset is None and evaluator is None:
        raise ValueError(
            f"You have set `args.eval_strategy` to {strategy}, but you didn't provide an `eval_dataset` or an "
            f"`evaluator`. Either provide an `eval_dataset` or an `evaluator` to `{trainer_name}`, or set "
            "`args.eval_strategy='no'` to skip evaluation."
        )


def check_losses_cover(eval_datasets: dict[str | None, Any], loss: Any) -> None:
    """A dict of losses must name every evaluation dataset too (its eval loss needs one)."""
    missing = [name for name in eval_datasets if isinstance(loss, dict) and name not in loss]
    if missing:
        raise ValueError(
            "If the provided `loss` is a dict, then all keys from the `eval_dataset` dictionary must occur in "
            f"`loss` also. Currently, {missing} occur in `eval_dataset` but not in `loss`."
        )


def check_loss_dict_datasets(loss: Any, train_dataset: Any, eval_dataset: Any) -> None:
    """A dict of losses (one per dataset) needs dicts of datasets; a dict of datasets cannot hold a streamed one
    (the datasets are batched side by side, which needs their lengths)."""
    for dataset, name in ((train_dataset, "train_dataset"), (eval_dataset, "eval_dataset")):
        if isinstance(loss, dict) and dataset is not None and not isinstance(dataset, dict):
            raise ValueError(
                f"If the provided `loss` is a dict, then the `{name}` must be a `DatasetDict`, with one dataset "
                f"per loss (got a {type(dataset).__name__})."
            )
    if isinstance(train_dataset, dict) and any(is_streaming(dataset) for dataset in train_dataset.values()):
        raise ValueError(
            "Sentence Transformers is not compatible with a DatasetDict containing an IterableDataset: several "
            "datasets are batched side by side, which needs their lengths. Train on one IterableDataset at a time."
        )


def losses_for(datasets: dict[str | None, Any], loss: Any) -> dict[str | None, nn.Module]:
    """One loss per dataset: the same loss for all, or the loss of the same name from a dict."""
    if not isinstance(loss, dict):
        return dict.fromkeys(datasets, loss)
    missing = [name for name in datasets if name not in loss]
    if missing:
        raise ValueError(
            "If the provided `loss` is a dict, then all keys from the `train_dataset` dictionary must occur in "
            f"`loss` also. Currently, {missing} occurs in `train_dataset` but not in `loss` (losses are given for "
            f"{sorted(loss)})."
        )
    return {name: loss[name] for name in datasets}


def rebind_model(loss: nn.Module, old: nn.Module, new: nn.Module) -> nn.Module:
    """Point every reference to `old` in a loss (and in the losses it wraps) at `new`: a re-initialised model, or
    a training wrapper around `old` (the modules are listed first, so the wrapper's own reference stays)."""
    for module in list(loss.modules()):
        for name, child in list(module._modules.items()):
            if child is old:
                module._modules[name] = new
        for name, value in list(vars(module).items()):
            if value is old:
                setattr(module, name, new)
    return loss


# What a loss may read from its model beside calling it; a training wrapper is given them from the model inside.
MODEL_ATTRIBUTES_FOR_LOSSES = ("tokenizer", "device", "max_seq_length")


def innermost_model(model: nn.Module) -> nn.Module:
    """The model inside any DistributedDataParallel / torch.compile wrappers (the model itself when unwrapped)."""
    while (inner := wrapped_model(model)) is not None:
        model = inner
    return model


def lend_model_methods(wrapper: nn.Module, model: nn.Module) -> None:
    """Give a training wrapper the public methods (bound to `model`) and the few attributes losses use that it
    lacks, so a loss holding the wrapper can still tokenize, encode or read the embedding dimension."""
    for name in dir(type(model)):
        if name.startswith("_") or hasattr(wrapper, name):
            continue
        if callable(getattr(type(model), name, None)):
            setattr(wrapper, name, getattr(model, name))
    for name in MODEL_ATTRIBUTES_FOR_LOSSES:
        if not hasattr(wrapper, name) and hasattr(model, name):
            setattr(wrapper, name, getattr(model, name))


def combined_evaluator(evaluator: Any) -> SentenceEvaluator | None:
    if isinstance(evaluator, (list, tuple)):
        return SequentialEvaluator(evaluator) if evaluator else None
    return evaluator


class SentenceTransformerTrainer(Trainer):
    """Train a `SentenceTransformer` with one loss (or a dict of losses, one per dataset), an optional evaluator,
    and everything `transformers.Trainer` offers: schedules, checkpoints, resuming, logging integrations.

    With `model_init` instead of `model`, each `train()` (each trial of `hyperparameter_search`) starts from a fresh
    model; give the loss as a function of the model (`lambda model: CoSENTLoss(model)`), or as a module whose
    model is then swapped for each new one.

    Args:
        model: The SentenceTransformer to train (or None with `model_init`).
        args: The training arguments. Default None: `SentenceTransformerTrainingArguments(output_dir="trainer_output")`.
        train_dataset: A `datasets.Dataset` (text columns, then a "label" or "score" column if the loss takes
            one), or a dict of them by name.
        eval_dataset: The same, for the evaluation loss. Default None.
        loss: A loss module, a function of the model giving one, or a dict of them by dataset name. Default
            None: CoSENTLoss (with a warning).
        evaluator: An evaluator (or a list of them) run at each evaluation. Default None.
        callbacks: transformers `TrainerCallback`s. Default None.
        optimizers: (optimizer, scheduler) made beforehand. Default (None, None): made from `args`.
        optimizer_cls_and_kwargs: (optimizer class, its keyword arguments). Default None.
        model_init: Makes a fresh model, called as `model_init()` or `model_init(trial)`. Default None.

    Raises:
        ValueError: Both or neither of model and model_init, optimizers with model_init, a Router model
            without a router_mapping, datasets that do not fit their loss, or an evaluation strategy without
            anything to evaluate.
        TypeError: args of another class, or a loss that is neither a module nor a function.
    """

    collator_class = SentenceCollator

    def __init__(
        self,
        model: Any = None,
        args: SentenceTransformerTrainingArguments | None = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        loss: nn.Module | Callable[[Any], nn.Module] | dict[str, Any] | None = None,
        evaluator: SentenceEvaluator | list[SentenceEvaluator] | None = None,
        callbacks: list | None = None,
        optimizers: tuple = (None, None),
        optimizer_cls_and_kwargs: tuple | None = None,
        model_init: Callable[..., Any] | None = None,
    ) -> None:
        if (model is None) == (model_init is None):
            raise ValueError(f"{type(self).__name__} needs a model or a model_init, not both")
        if model_init is not None and tuple(optimizers) != (None, None):
            raise ValueError("model_init makes a new model per run, so it cannot take ready-made optimizers")
        args = args or SentenceTransformerTrainingArguments(output_dir="trainer_output")
        if not isinstance(args, SentenceTransformerTrainingArguments):
            raise TypeError(f"args must be {self.arguments_class_name()}, got {type(args).__name__}")
        if model_init is not None:
            set_seed(args.seed)
            model = self.new_model(model_init, None)
        if any(isinstance(module, Router) for module in model.children()) and not args.router_mapping:
            raise ValueError(
                "the model has a Router but the training arguments have no router_mapping: give one that maps "
                "dataset columns to routes, e.g. {'question': 'query', 'answer': 'document'}"
            )
        if getattr(model, "model_card_data", None) is not None:
            model.model_card_data.add_tags("generated_from_trainer")
        check_loss_dict_datasets(loss, train_dataset, eval_dataset)
        self.train_datasets = as_named(train_dataset)
        self.eval_datasets = as_named(eval_dataset)
        check_reserved_columns(self.train_datasets, "train")
        check_reserved_columns(self.eval_datasets, "eval")
        if loss is None:
            logger.warning("No loss given; using CoSENTLoss.")
            loss = self.default_loss
        self.loss_specs = losses_for(self.train_datasets or self.eval_datasets, loss)
        check_losses_cover(self.eval_datasets, loss)
        self.losses = self.build_losses(self.loss_specs, model, rebind=model_init is not None)
        self.check_datasets()
        self.evaluator = combined_evaluator(evaluator)
        self.evaluation_history: list[dict[str, Any]] = []
        self._evaluator_pending = False
        # transformers refuses an eval_strategy without an eval_dataset; an evaluator alone is enough here.
        strategy = args.eval_strategy
        check_evaluation_source(strategy, eval_dataset, self.evaluator, type(self).__name__)
        if eval_dataset is None and self.evaluator is not None:
            args.eval_strategy = "no"
        super().__init__(
            model=model,
            args=args,
            data_collator=self.make_collator(model, args, None),
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            callbacks=callbacks,
            optimizers=optimizers,
            optimizer_cls_and_kwargs=optimizer_cls_and_kwargs,
        )
        self.args.eval_strategy = strategy
        self.add_callback(ModelCardCallback(self.fill_model_card_data))
        self.model_init = model_init
        # Running sums of the named parts of losses that return a dict, by "train" / "eval"; `log` reports their means.
        self.accum_loss_components: dict[str, dict[str, Any]] = {"train": {}, "eval": {}}
        self.move_losses_to_device()

    # ----- a fresh model per run (model_init, hyperparameter search) --------------------------------------------

    @staticmethod
    def new_model(model_init: Callable[..., Any], trial: Any) -> Any:
        """Call `model_init()` or `model_init(trial)`, refusing a result that is not a model.

        Args:
            model_init: The function.
            trial: The hyperparameter search trial, or None.

        Returns:
            The new model.

        Raises:
            TypeError: A result that is not a torch module.
        """
        model = model_init(trial) if inspect.signature(model_init).parameters else model_init()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model_init must return a model, got {type(model).__name__}")
        return model

    @staticmethod
    def build_losses(specs: dict[str | None, Any], model: Any, rebind: bool) -> dict[str | None, nn.Module]:
        """Each dataset's loss for `model`: factories called, loss modules as given (with `rebind`, moved from the
        model they were built on to `model`).

        Args:
            specs: Dataset name (None for a single dataset) -> loss module or function of the model.
            model: The model to train.
            rebind: Move loss modules onto `model`.

        Returns:
            Dataset name -> loss module (a shared spec gives one shared module).

        Raises:
            TypeError: A spec that is neither a module nor a function.
        """
        built: dict[int, nn.Module] = {}
        for spec in specs.values():
            if id(spec) in built:
                continue
            if isinstance(spec, nn.Module):
                old = getattr(spec, "model", None)
                built[id(spec)] = rebind_model(spec, old, model) if rebind and old is not None else spec
            elif callable(spec):
                built[id(spec)] = spec(model)
            else:
                raise TypeError(f"loss must be a torch module or a function of the model, got {type(spec).__name__}")
        return {name: built[id(spec)] for name, spec in specs.items()}

    def call_model_init(self, trial: Any = None) -> Any:
        """A fresh model from `model_init`, with the losses and the collator rebuilt around it.

        Args:
            trial: The hyperparameter search trial, or None.

        Returns:
            The new model.
        """
        model = self.new_model(self.model_init, trial)
        self.losses = self.build_losses(self.loss_specs, model, rebind=True)
        self.data_collator = self.make_collator(model, self.args, None)
        self.move_losses_to_device()
        return model

    def move_losses_to_device(self) -> None:
        """Put every loss module (and what it owns) on the training device."""
        for module in {id(loss): loss for loss in self.losses.values()}.values():
            module.to(self.args.device)

    def hyperparameter_search(
        self,
        hp_space: Callable[[Any], dict[str, Any]] | None = None,
        compute_objective: Callable[[dict[str, float]], float] | None = None,
        n_trials: int = 20,
        direction: str | list[str] = "minimize",
        backend: str | None = None,
        hp_name: Callable[[Any], str] | None = None,
        **kwargs: Any,
    ) -> Any:
        """transformers' search over `TrainingArguments` fields (needs `model_init`); returns a `BestRun`.

        `compute_objective(metrics)` reads the evaluator's metrics (e.g. `metrics["eval_sts_spearman_cosine"]`).

        Args:
            hp_space: Trial -> the training arguments to try. Default None: transformers' default space.
            compute_objective: Metrics -> the number to optimise. Default None: the evaluation loss, or the sum of
                the metrics.
            n_trials: How many trials. Default 20.
            direction: "minimize" (default) or "maximize" (or a list of them, for several objectives).
            backend: "optuna" (default), or another transformers search backend.
            hp_name: Trial -> a name for it. Default None.
            **kwargs: Passed to the backend (e.g. optuna's `sampler`).

        Returns:
            transformers' `BestRun`.

        Raises:
            ValueError: A trainer built without model_init.
            ImportError: optuna is not installed.
        """
        if self.model_init is None:
            raise ValueError("hyperparameter_search needs the trainer built with model_init=..., not model=...")
        if backend in (None, "optuna") and importlib.util.find_spec("optuna") is None:
            raise ImportError("hyperparameter_search needs optuna: pip install 'sentembed[optuna]'")
        return super().hyperparameter_search(
            hp_space, compute_objective, n_trials, direction, backend or "optuna", hp_name, **kwargs
        )

    def _hp_search_setup(self, trial: Any) -> None:
        super()._hp_search_setup(trial)
        self.args.sync_warmup_ratio()

    # ----- hooks for the cross-encoder trainer ---------------------------------------------------------

    @staticmethod
    def arguments_class_name() -> str:
        """The training arguments class this trainer takes, for error messages.

        Returns:
            Its name.
        """
        return "SentenceTransformerTrainingArguments"

    def default_loss(self, model: Any) -> nn.Module:
        """The loss used when none is given.

        Args:
            model: The model to train.

        Returns:
            CoSENTLoss(model).
        """
        return CoSENTLoss(model)

    def make_collator(self, model: Any, args: Any, dataset_name: str | None) -> Any:
        """The collator that tokenizes a dataset's batches.

        Args:
            model: The model to train.
            args: The training arguments (for the prompts and router mapping).
            dataset_name: The dataset's name, or None.

        Returns:
            The collator.
        """
        return SentenceCollator(model.preprocess, args.prompts, model.prompt_length, dataset_name, args.router_mapping)

    # ----- data ------------------------------------------------------------------------------------------

    def check_datasets(self) -> None:
        """Refuse a dataset whose columns its loss cannot read.

        Raises:
            ValueError: Naming the dataset, the loss and what it needs.
        """
        for name, dataset in [*self.train_datasets.items(), *self.eval_datasets.items()]:
            loss = self.losses.get(name) or next(iter(self.losses.values()))
            check_dataset_fits_loss(dataset, getattr(loss, "columns", None), type(loss).__name__, name)

    def get_batch_sampler(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
    ) -> Any:
        """The batch sampler for one dataset, as `args.batch_sampler` names it (or builds it, when callable).

        Args:
            dataset: The dataset.
            batch_size: Rows per batch.
            drop_last: Drop a last batch that is not full.
            valid_label_columns: The names label columns may have. Default None.
            generator: The random generator. Default None.
            seed: The seed of the first epoch's order. Default 0.

        Returns:
            The batch sampler.
        """
        choice = self.args.batch_sampler
        if callable(choice):
            return choice(
                dataset,
                batch_size=batch_size,
                drop_last=drop_last,
                valid_label_columns=valid_label_columns,
                generator=generator,
                seed=seed,
            )
        kinds = {
            BatchSamplers.BATCH_SAMPLER: DefaultBatchSampler,
            BatchSamplers.NO_DUPLICATES: NoDuplicatesBatchSampler,
            BatchSamplers.NO_DUPLICATES_HASHED: NoDuplicatesBatchSampler,  # the same batches: values are keyed once
            BatchSamplers.GROUP_BY_LABEL: GroupByLabelBatchSampler,
        }
        return kinds[choice](dataset, batch_size, drop_last, valid_label_columns, generator, seed)

    def get_multi_dataset_batch_sampler(
        self, dataset: Any, batch_samplers: list[Any], generator: torch.Generator | None = None, seed: int = 0
    ) -> Any:
        """How batches of several datasets follow each other, as `args.multi_dataset_batch_sampler` says.

        Args:
            dataset: The datasets, concatenated.
            batch_samplers: One batch sampler per dataset.
            generator: The random generator. Default None.
            seed: The seed of the first epoch's order. Default 0.

        Returns:
            The multi-dataset batch sampler.
        """
        choice = self.args.multi_dataset_batch_sampler
        if callable(choice):
            return choice(dataset, batch_samplers=batch_samplers, generator=generator, seed=seed)
        if choice == MultiDatasetBatchSamplers.ROUND_ROBIN:
            return RoundRobinBatchSampler(dataset, batch_samplers, generator, seed)
        return ProportionalBatchSampler(dataset, batch_samplers, generator, seed)

    def get_train_dataloader(self) -> DataLoader:
        """The training batches: every dataset's rows through its batch sampler, tokenized by the collator.

        Returns:
            The DataLoader, prepared by accelerate.

        Raises:
            ValueError: No training dataset.
        """
        if not self.train_datasets:
            raise ValueError("training needs a train_dataset")
        if any(is_streaming(dataset) for dataset in self.train_datasets.values()):
            return self.streamed_train_dataloader()
        rows = NamedRows(self.train_datasets)
        samplers = [
            self.get_batch_sampler(
                dataset,
                self._train_batch_size,
                self.args.dataloader_drop_last,
                valid_label_columns=list(LABEL_COLUMNS),
                seed=self.args.seed,
            )
            for dataset in self.train_datasets.values()
        ]
        sampler = samplers[0]
        if len(samplers) > 1:
            sampler = self.get_multi_dataset_batch_sampler(rows, samplers, seed=self.args.seed)
        loader = DataLoader(
            rows,
            batch_sampler=sampler,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
        )
        return self.accelerator.prepare(loader)

    def streamed_train_dataloader(self) -> DataLoader:
        """Batches read in order from one streamed dataset: batch samplers need a length, so none is used.

        Returns:
            The DataLoader, prepared by accelerate.

        Raises:
            ValueError: Several streamed datasets.
        """
        if len(self.train_datasets) > 1:
            raise ValueError("a dict of datasets cannot include a streamed (iterable) one; interleave them first")
        loader = DataLoader(
            next(iter(self.train_datasets.values())),
            batch_size=self._train_batch_size,
            drop_last=self.args.dataloader_drop_last,
            collate_fn=self.data_collator,
            num_workers=self.args.dataloader_num_workers,
            pin_memory=self.args.dataloader_pin_memory,
        )
        return self.accelerator.prepare(loader)

    def get_eval_dataloader(self, eval_dataset: Any = None) -> DataLoader:
        """The evaluation batches of one dataset, in order.

        Args:
            eval_dataset: A dataset, the name of one of the eval datasets, or None for the trainer's.

        Returns:
            The DataLoader, prepared by accelerate.
        """
        name = eval_dataset if isinstance(eval_dataset, str) else None
        if isinstance(eval_dataset, str):
            eval_dataset = self.eval_datasets[eval_dataset]
        dataset = eval_dataset if eval_dataset is not None else self.eval_dataset
        if isinstance(dataset, dict):
            raise ValueError("pass one evaluation dataset, or its name")
        loader = DataLoader(
            dataset,
            batch_size=self.args.eval_batch_size,
            collate_fn=self.make_collator(self.model, self.args, name),
            num_workers=self.args.dataloader_num_workers,
        )
        return self.accelerator.prepare(loader)

    # ----- loss ------------------------------------------------------------------------------------------

    def compute_loss(
        self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> torch.Tensor | tuple[torch.Tensor, dict]:
        """The loss of one batch, with the loss of the batch's dataset.

        Args:
            model: The model (perhaps wrapped for distributed training or compilation).
            inputs: The collated batch.
            return_outputs: Also return the outputs (an empty dict). Default False.
            num_items_in_batch: Unused (transformers passes it).

        Returns:
            The loss, or (the loss, {}) with `return_outputs`.
        """
        inputs = dict(inputs)
        name = inputs.pop("dataset_name", None)
        loss_module = self.losses.get(name) or next(iter(self.losses.values()))
        features, labels = unpack_batch(inputs)
        if wrapped_model(model) is not None and getattr(loss_module, "model", None) is not model:
            self.override_model_in_loss(loss_module, model)
        loss = loss_module(features, labels)
        if isinstance(loss, dict):  # named parts (a loss written the reference's way may return them): summed
            self.track_loss_components(loss)
            loss = torch.stack([part.reshape(()) for part in loss.values()]).sum()
        return (loss, {}) if return_outputs else loss

    def track_loss_components(self, components: dict[str, torch.Tensor]) -> None:
        """Add one batch's named loss parts to the running sums that `log` reports beside the loss, as their mean
        per batch (under "train" or "eval", by the model's mode). The parts are detached: sums holding their graphs
        would keep each step's activations (and a cached loss's gradient caches) alive until the next log. With
        `logging_nan_inf_filter`, a NaN or infinite part counts as the mean of those before it.

        Args:
            components: Part name -> scalar tensor.
        """
        sums = self.accum_loss_components["train" if self.model.training else "eval"]
        steps = sums.get(COMPONENT_STEPS, 0)
        for name, value in components.items():
            value = value.detach()
            if self.args.logging_nan_inf_filter and not torch.isfinite(value).all():
                value = sums[name] / steps if name in sums and steps else torch.zeros_like(value)
            sums[name] = sums[name] + value if name in sums else value
        sums[COMPONENT_STEPS] = steps + 1

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        """transformers' log, with the mean of each named loss part since the last log beside the training loss
        (`name`) or the evaluation loss (`eval_name`).

        Args:
            logs: The values to log.
            *args: Passed on to transformers (its `start_time`).
            **kwargs: Passed on to transformers.
        """
        mode = "train" if "loss" in logs else "eval" if "eval_loss" in logs else None
        sums = self.accum_loss_components.get(mode, {}) if mode else {}
        steps = sums.pop(COMPONENT_STEPS, 0)
        if steps:
            prefix = "eval_" if mode == "eval" else ""
            logs = {**logs, **{prefix + name: round(float(total) / steps, 4) for name, total in sums.items()}}
            sums.clear()
        super().log(logs, *args, **kwargs)

    def override_model_in_loss(self, loss: nn.Module, model: nn.Module) -> None:
        """Make `loss` (and the losses it wraps) call `model`, the training wrapper (DistributedDataParallel,
        torch.compile) around the model they were built with: through the wrapper, gradients are synchronised
        across processes and the compiled forward runs. The wrapper is lent the model's methods.

        Args:
            loss: the loss module whose `model` references are replaced.
            model: the wrapper the transformers Trainer built around the model.
        """
        inner = innermost_model(model)
        lend_model_methods(model, inner)
        rebind_model(loss, inner, model)

    def prediction_step(
        self, model: nn.Module, inputs: dict[str, Any], prediction_loss_only: bool, ignore_keys: Any = None
    ) -> tuple[torch.Tensor | None, None, None]:
        """The evaluation loss of one batch (no predictions: the evaluator measures the model).

        Args:
            model: The model.
            inputs: The collated batch.
            prediction_loss_only: Unused: only the loss is returned.
            ignore_keys: Unused.

        Returns:
            (the loss, None, None).
        """
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            loss = self.compute_loss(model, inputs)
        return loss.detach(), None, None

    def create_optimizer(self, model: nn.Module | None = None) -> torch.optim.Optimizer:
        """The usual optimizer (with `learning_rate_mapping`, one parameter group per learning rate), plus any
        parameters the losses own (e.g. SoftmaxLoss's classifier).

        Args:
            model: Unused beyond transformers' own use. Default None.

        Returns:
            The optimizer.
        """
        if self.optimizer is None and self.args.learning_rate_mapping:
            optimizer_class, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, self.model)
            self.optimizer = optimizer_class(self.learning_rate_groups(), **optimizer_kwargs)
        optimizer = super().create_optimizer(model)
        known = {id(parameter) for parameter in self.model.parameters()}
        extra = [
            parameter
            for loss in self.losses.values()
            for parameter in loss.parameters()
            if id(parameter) not in known and parameter.requires_grad
        ]
        extra = list({id(parameter): parameter for parameter in extra}.values())
        if extra:
            optimizer.add_param_group({"params": extra, "weight_decay": self.args.weight_decay})
        return optimizer

    def learning_rate_groups(self) -> list[dict[str, Any]]:
        """Parameter groups by learning rate: a parameter whose name a `learning_rate_mapping` pattern finds gets
        the last such pattern's rate, the others `learning_rate`; weight decay as the Trainer applies it.

        Returns:
            The optimizer's parameter groups.

        Raises:
            ValueError: A pattern that matches no parameter.
        """
        patterns = [(re.compile(pattern), rate) for pattern, rate in self.args.learning_rate_mapping.items()]
        named = [(name, parameter) for name, parameter in self.model.named_parameters() if parameter.requires_grad]
        for pattern, _ in patterns:
            if not any(pattern.search(name) for name, _ in named):
                raise ValueError(
                    f"learning_rate_mapping pattern {pattern.pattern!r} matches no trainable parameter; "
                    f"names look like {named[0][0] if named else '(none)'!r}"
                )
        decayed = set(self.get_decay_parameter_names(self.model))
        groups: dict[tuple[float, bool], list[nn.Parameter]] = {}
        for name, parameter in named:
            rate = next((rate for pattern, rate in reversed(patterns) if pattern.search(name)), self.args.learning_rate)
            groups.setdefault((rate, name in decayed), []).append(parameter)
        return [
            {"params": parameters, "lr": rate, "weight_decay": self.args.weight_decay if decay else 0.0}
            for (rate, decay), parameters in groups.items()
        ]

    # ----- evaluation ------------------------------------------------------------------------------------

    def run_evaluator(self, metric_key_prefix: str) -> dict[str, float]:
        """The evaluator's metrics, prefixed like the Trainer's own (e.g. 'eval_sts_spearman_cosine').

        Args:
            metric_key_prefix: The prefix, e.g. "eval".

        Returns:
            The prefixed metrics ({} without an evaluator).
        """
        if self.evaluator is None:
            return {}
        epoch = self.state.epoch if self.state.epoch is not None else -1
        metrics = self.evaluator(self.model, output_path=None, epoch=epoch, steps=self.state.global_step)
        self.evaluation_history.append({"epoch": round(epoch, 2), "step": self.state.global_step, **metrics})
        return {f"{metric_key_prefix}_{key}": value for key, value in metrics.items()}

    def evaluate(self, eval_dataset: Any = None, ignore_keys: Any = None, metric_key_prefix: str = "eval") -> dict:
        """The evaluation loss on the eval dataset(s), and the evaluator's metrics.

        Args:
            eval_dataset: A dataset, the name of one of the eval datasets, or None for the trainer's.
            ignore_keys: Passed to transformers.
            metric_key_prefix: The metrics' prefix. Default "eval".

        Returns:
            Metric name -> value.
        """
        if isinstance(eval_dataset, str):
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        if eval_dataset is not None:
            check_reserved_columns(as_named(eval_dataset), "eval")
        if eval_dataset is None and self.eval_dataset is None:
            metrics = self.run_evaluator(metric_key_prefix)
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics
        self._evaluator_pending = True
        return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)

    def evaluation_loop(self, dataloader: DataLoader, description: str, *args: Any, **kwargs: Any) -> Any:
        """transformers' evaluation loop, with the evaluator's metrics added to its output.

        Args:
            dataloader: The evaluation batches.
            description: The loop's name, e.g. "Evaluation".
            *args: transformers' other arguments.
            **kwargs: transformers' other keyword arguments.

        Returns:
            transformers' EvalLoopOutput.
        """
        output = super().evaluation_loop(dataloader, description, *args, **kwargs)
        if self._evaluator_pending:
            self._evaluator_pending = False
            prefix = kwargs.get("metric_key_prefix", args[-1] if args else "eval")
            output.metrics.update(self.run_evaluator(prefix))
        return output

    # ----- saving and loading ----------------------------------------------------------------------------

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        output_dir = output_dir or self.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        self.save_trained_model(output_dir)
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def fill_model_card_data(self) -> None:
        """Tell the model's card data what this run trained on: datasets, losses, hyperparameters, logs, examples."""
        card_data = getattr(self.model, "model_card_data", None)
        if card_data is not None:
            fill_card_data(
                card_data, self.train_datasets, self.eval_datasets, self.losses, self.args, self.state.log_history
            )

    def save_trained_model(self, output_dir: str) -> None:
        """Save the model folder with a model card that records this training run.

        Args:
            output_dir: The folder.
        """
        self.fill_model_card_data()
        self.model.save(output_dir)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        self.load_weights_from_folder(resume_from_checkpoint, model or self.model)

    def _load_best_model(self) -> None:
        self.load_weights_from_folder(self.state.best_model_checkpoint, self.model)

    def load_weights_from_folder(self, folder: str, model: nn.Module) -> None:
        """Copy the weights of a saved model folder (a checkpoint) into `model`. The model's own module classes
        load as they are, without trust_remote_code: a custom module's class is the one being trained.

        Args:
            folder: the saved model folder.
            model: the model to load the weights into.
        """
        logger.info("Loading weights from %s", folder)
        own_classes = {module_type_name(module): type(module) for module in model.modules()}
        with trusted_module_classes(own_classes):
            loaded = type(model)(
                folder, device=str(model.device), trust_remote_code=getattr(model, "trust_remote_code", False)
            )
        model.load_state_dict(loaded.state_dict())

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        """Push a checkpoint to the hub. transformers copies only its own files (weights, config) from the
        checkpoint into `output_dir` before uploading it; the rest of the model folder (modules.json, the module
        folders, the model card, the tokenizer) is copied here first, without the training state."""
        if self.pushes_checkpoint():
            copy_model_folder(checkpoint_folder, self.args.output_dir)
        super()._push_from_checkpoint(checkpoint_folder)

    def pushes_checkpoint(self) -> bool:
        """Whether transformers' `_push_from_checkpoint` uploads now: on the main process, with a hub strategy that
        pushes checkpoints, and no earlier push still running (unless `hub_always_push`).

        Returns:
            True when it uploads.
        """
        if not self.is_world_process_zero() or self.args.hub_strategy == HubStrategy.END:
            return False
        push = getattr(self, "push_in_progress", None)  # set by transformers once a hub repository is made
        running = push is not None and not push.is_done()
        return self.args.hub_always_push or not running


def copy_model_folder(checkpoint_folder: str, output_dir: str) -> None:
    """Copy a checkpoint's model files and folders into `output_dir`: everything but the training state
    (`TRAINING_STATE_PATTERNS`) and the weight shards transformers' own push copies.

    Args:
        checkpoint_folder: the checkpoint, as the trainer saved it.
        output_dir: the folder that is pushed to the hub.
    """
    copied_by_transformers = set(sharded_weight_files(checkpoint_folder))
    for name in os.listdir(checkpoint_folder):
        if name in copied_by_transformers or any(fnmatch.fnmatch(name, pattern) for pattern in TRAINING_STATE_PATTERNS):
            continue
        source, target = os.path.join(checkpoint_folder, name), os.path.join(output_dir, name)
        if os.path.isdir(source):
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy(source, target)


def sharded_weight_files(folder: str) -> list[str]:
    """The weight index files of a sharded checkpoint in `folder` and the shards they list; [] when unsharded."""
    files: list[str] = []
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        path = os.path.join(folder, index_name)
        if os.path.isfile(path):
            files.append(index_name)
            files.extend(set(read_json_object(path).get("weight_map", {}).values()))
    return files
