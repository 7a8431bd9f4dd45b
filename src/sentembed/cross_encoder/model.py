"""`CrossEncoder`: reads a query and a passage together and scores how well they match."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sentembed import backend as backends
from sentembed.common.batching import run_in_sorted_batches
from sentembed.common.checks import (
    check_default_prompt_name,
    check_positive_int,
    renamed_argument,
    resolve_prompt,
)
from sentembed.common.hits import hits_from_top_k
from sentembed.common.runtime import check_device, default_device
from sentembed.common.types import Pair, Row, supports_modality
from sentembed.cross_encoder import layout
from sentembed.cross_encoder.legacy_args import (
    cross_encoder_init_args_decorator,
    cross_encoder_predict_rank_args_decorator,
)
from sentembed.cross_encoder.pairs import check_pairs, check_query_and_documents
from sentembed.loading.card_data import CrossEncoderModelCardData, card_data_for
from sentembed.loading.hub import PushToHubMixin
from sentembed.loading.model_card import write_model_card
from sentembed.loading.resolve import log_loading, resolve_model_path
from sentembed.models import SequenceClassifier
from sentembed.models.dense import activation_from_name

logger = logging.getLogger(__name__)

BACKENDS = backends.BACKENDS
HUB_ORGANIZATION = "cross-encoder"
Activation = Callable[[torch.Tensor], torch.Tensor]


class CrossEncoder(PushToHubMixin, nn.Module):
    """Load a cross-encoder folder (classic or modular layout) and `predict` or `rank` text pairs.

    `model_name_or_path` may be a folder, a hub repository id, or a bare name such as
    "ms-marco-MiniLM-L6-v2" (meaning cross-encoder/ms-marco-MiniLM-L6-v2).
    """

    @cross_encoder_init_args_decorator
    def __init__(
        self,
        model_name_or_path: str | os.PathLike,
        *,
        num_labels: int | None = None,
        max_length: int | None = None,
        activation_fn: Activation | str | None = None,
        device: str | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        backend: str = "torch",
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        model_card_data: CrossEncoderModelCardData | None = None,
    ) -> None:
        super().__init__()
        model_kwargs, backend_options = backends.split_model_kwargs(model_kwargs, backend)
        num_labels = check_positive_int(num_labels, "num_labels", optional=True)
        self.model_path = resolve_model_path(
            model_name_or_path, cache_folder, revision, token, local_files_only, organization=HUB_ORGANIZATION
        )
        log_loading("CrossEncoder", model_name_or_path)
        folder = layout.read_folder(self.model_path)
        saved = folder.model_config or {}
        self.prompts = check_prompts(saved.get("prompts") if prompts is None else prompts)
        self.default_prompt_name = check_default_prompt_name(
            default_prompt_name or saved.get("default_prompt_name"), self.prompts
        )
        config_kwargs = {**(config_kwargs or {}), **({"num_labels": num_labels} if num_labels is not None else {})}
        self.backend = backend
        self.classifier = SequenceClassifier.load(
            str(folder.checkpoint),
            cache_folder=cache_folder,
            trust_remote_code=trust_remote_code,
            local_files_only=local_files_only,
            token=token,
            model_kwargs=model_kwargs,
            tokenizer_kwargs=processor_kwargs,
            config_kwargs=config_kwargs,
            backend=backend,
        )
        [self.classifier], self.backend, self.backend_choice = backends.apply_backend(
            [self.classifier], backend, backend_options, cache_folder, device
        )  # backend_choice: what backend="auto" chose (a BackendChoice), else None
        if max_length is not None:
            self.max_length = max_length
        self.activation_fn = self._initial_activation(activation_fn, folder)
        self.model_card_data = card_data_for(
            CrossEncoderModelCardData, model_card_data, model_name_or_path, self.model_path, revision
        )
        self.model_card_data.register_model(self)
        self.to(check_device(device) if device is not None else default_device())

    def __setattr__(self, name: str, value: Any) -> None:
        # The activation is a plain attribute, not a registered submodule: it holds no weights.
        if name == "activation_fn":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def _initial_activation(
        self, activation_fn: Activation | str | None, folder: layout.CrossEncoderFolder
    ) -> Activation:
        """The caller's activation, else the folder's, else Sigmoid for one label and Identity for several."""
        if activation_fn is not None:
            return as_activation(activation_fn)
        from_folder = folder.activation()
        if from_folder is not None:
            return from_folder
        return nn.Sigmoid() if self.num_labels == 1 else nn.Identity()

    # ----- members -------------------------------------------------------------------------------

    @property
    def model(self) -> nn.Module:
        """The transformers sequence-classification model."""
        return self.classifier.auto_model

    @property
    def tokenizer(self) -> Any:
        return self.classifier.tokenizer

    @property
    def config(self) -> Any:
        return self.classifier.auto_model.config

    @property
    def default_activation_function(self) -> Activation:
        """The older name of `activation_fn` (deprecated)."""
        warnings.warn(
            "The `default_activation_function` property was renamed and is now deprecated; use `activation_fn`.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.activation_fn

    @property
    def modalities(self) -> list[str]:
        """The kinds of input the model reads: text pairs."""
        return ["text"]

    def supports(self, modality: str | tuple[str, ...]) -> bool:
        """Whether the model reads `modality` (only "text" for a cross-encoder)."""
        return supports_modality(self.modalities, modality)

    @property
    def num_labels(self) -> int:
        return self.classifier.num_labels

    @property
    def max_length(self) -> int:
        """Pairs longer than this many tokens are cut, the longer text first."""
        return self.classifier.max_seq_length

    @max_length.setter
    def max_length(self, value: int) -> None:
        self.classifier.max_seq_length = value

    max_seq_length = max_length

    @property
    def device(self) -> torch.device:
        for parameter in self.parameters():
            return parameter.device
        return torch.device("cpu")

    # ----- scoring -------------------------------------------------------------------------------

    def is_singular_input(self, inputs: Any) -> bool:
        """True when `inputs` is one pair (a list or tuple whose first item is not itself a list or tuple, or a
        1-D string array) rather than a batch of pairs."""
        if isinstance(inputs, (list, tuple)):
            return len(inputs) > 0 and not isinstance(inputs[0], (list, tuple))
        if isinstance(inputs, np.ndarray) and inputs.dtype.kind in "UO":
            return inputs.size > 0 and inputs.ndim < 2
        return True

    @cross_encoder_predict_rank_args_decorator
    def predict(
        self,
        inputs: Pair | list[Pair] | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Activation | str | None = None,
        apply_softmax: bool = False,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | None = None,
        pool: Any = None,
        chunk_size: int | None = None,
        **kwargs: Any,
    ) -> np.ndarray | torch.Tensor | list[torch.Tensor] | np.floating:
        """Score each (a, b) pair: shape (n,) for one label, (n, num_labels) for several.

        A single pair gives a scalar (or a 1-D row for several labels). The activation is the
        model's unless `activation_fn` is given; `apply_softmax` then normalises several labels.
        A prompt (`prompt`, or `prompt_name` from `prompts`, else `default_prompt_name`) goes before each first text.
        """
        inputs = renamed_argument(inputs, kwargs, "sentences", "inputs", "CrossEncoder.predict()")
        if kwargs:
            raise TypeError(f"CrossEncoder.predict() got unexpected keyword arguments {sorted(kwargs)}")
        self.use_device(device, pool, chunk_size)
        pairs, single = check_pairs(inputs)
        pairs = self.prompted_pairs(pairs, prompt_name, prompt)
        batch_size = check_positive_int(batch_size, "batch_size")
        activation = self.activation_fn if activation_fn is None else as_activation(activation_fn)
        rows = self.tokenize_pairs(pairs) if pairs else []
        logits = self.score_rows(rows, batch_size, show_progress_bar)
        scores = self.scores_from_logits(logits, activation, apply_softmax)
        result = shape_scores(scores, convert_to_numpy, convert_to_tensor)
        return result[0] if single else result

    def prompted_pairs(self, pairs: list[Pair], prompt_name: str | None, prompt: str | None) -> list[Pair]:
        """The pairs with the chosen prompt before each first text (unchanged when there is none)."""
        text = resolve_prompt(self.prompts, prompt, prompt_name, self.default_prompt_name)
        if not text:
            return pairs
        return [(text + first, second) for first, second in pairs]

    def use_device(self, device: str | None, pool: Any, chunk_size: int | None) -> None:
        """Move to `device` for this call; a multi-process pool is refused with a clear error."""
        if pool is not None or isinstance(device, (list, tuple)) or chunk_size is not None:
            raise ValueError(
                "sentembed's CrossEncoder scores in this process only: pass one device (or none), no pool or "
                "chunk_size; for many machines use sentembed.distributed.predict_dataset"
            )
        if device is not None:
            self.to(check_device(device))

    def scores_from_logits(
        self, logits: torch.Tensor, activation: Activation | None = None, apply_softmax: bool = False
    ) -> torch.Tensor:
        """Activation (the model's when None), then one score per pair for a single label, then softmax
        across several labels."""
        activation = self.activation_fn if activation is None else activation
        with torch.inference_mode():
            scores = activation(logits.float())
            if self.num_labels == 1 and scores.dim() > 1:
                scores = scores.squeeze(-1)
            if apply_softmax and scores.dim() > 1:
                scores = torch.softmax(scores, dim=1)
        return scores

    @torch.inference_mode()
    def score_rows(self, rows: list[Row], batch_size: int = 32, show_progress_bar: bool | None = False) -> torch.Tensor:
        """Logits for token rows made by `tokenize_pairs`, in their order, from length-sorted batches.

        `predict` is `tokenize_pairs`, this and `scores_from_logits`; the server calls them apart, so
        that many requests' pairs share one run of the model.
        """
        if not rows:
            return torch.empty((0, self.num_labels), device=self.device)
        self.eval()
        classifier = self.classifier
        return run_in_sorted_batches(
            rows, batch_size, classifier.pad, self.device, self.logits, show_progress_bar, desc="Scoring pairs"
        )

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        """The features of a padded batch from `preprocess`, with its logits (pairs, num_labels) as "scores"."""
        return {**features, "scores": self.classifier.logits(features)}

    def logits(self, features: dict[str, Any]) -> torch.Tensor:
        """The logits of a padded batch, through the model's `__call__` (so forward hooks and `torch.compile`
        apply, as `predict` uses it)."""
        return self(features)["scores"]

    def tokenize_pairs(self, pairs: list[Pair]) -> list[Row]:
        """Token rows for (first, second) pairs, warning when pairs were cut at `max_length`."""
        rows, truncated = self.classifier.tokenize_pairs_unpadded(pairs)
        if truncated:
            logger.warning(
                "%d of %d pairs were longer than max_length=%d tokens and were cut, the longer text first.",
                truncated,
                len(pairs),
                self.max_length,
            )
        return rows

    @cross_encoder_predict_rank_args_decorator
    def rank(
        self,
        query: str,
        documents: list[str],
        top_k: int | None = None,
        return_documents: bool = False,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        activation_fn: Activation | str | None = None,
        device: str | None = None,
        pool: Any = None,
        chunk_size: int | None = None,
    ) -> list[dict[str, Any]]:
        """Score `query` against every document; return `{"corpus_id", "score"[, "text"]}` best first.

        Scores are Python floats. `convert_to_numpy`, `convert_to_tensor` and `apply_softmax`, which older
        versions accepted here, are ignored with a warning.
        """
        documents = check_query_and_documents(query, documents)
        check_positive_int(top_k, "top_k", optional=True)
        if self.num_labels != 1:
            raise ValueError(
                f"rank() needs a model with one label, this one has num_labels={self.num_labels}; "
                "use predict() on (query, document) pairs instead"
            )
        scores = self.predict(
            [(query, document) for document in documents],
            prompt_name=prompt_name,
            prompt=prompt,
            device=device,
            pool=pool,
            chunk_size=chunk_size,
            batch_size=batch_size,
            show_progress_bar=show_progress_bar,
            activation_fn=activation_fn,
            convert_to_tensor=True,
        ).tolist()
        order = sorted(range(len(documents)), key=lambda index: scores[index], reverse=True)[:top_k]
        hits = hits_from_top_k([[scores[index] for index in order]], [order])[0]
        if return_documents:
            for hit in hits:
                hit["text"] = documents[hit["corpus_id"]]
        return hits

    def hub_usage_example(self, repo_id: str) -> str:
        """Python lines that load the cross-encoder from `repo_id` and score and rank with it."""
        return "\n".join(
            [
                "from sentembed import CrossEncoder  # or: from sentence_transformers import CrossEncoder",
                "",
                f'model = CrossEncoder("{repo_id}")',
                'scores = model.predict([("How many people live in Berlin?", "Berlin has 3.5 million people.")])',
                'ranks = model.rank("How many people live in Berlin?", ["Berlin has 3.5 million people.", "Paris."])',
            ]
        )

    def preprocess(self, inputs: Pair | list[Pair], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """The padded features (`input_ids`, `attention_mask`, ...) of (first, second) pairs, each read as one
        sequence cut at `max_length`, with `prompt` (or `prompt_name`, else the default prompt) before each first
        text; {} for no pairs."""
        pairs, _ = check_pairs(inputs)
        if not pairs:
            return {}
        pairs = self.prompted_pairs(pairs, kwargs.pop("prompt_name", None), prompt)
        if kwargs:
            raise TypeError(f"CrossEncoder.preprocess() got unexpected keyword arguments {sorted(kwargs)}")
        return dict(self.classifier.pad(self.tokenize_pairs(pairs)))

    def tokenize(self, texts: Pair | list[Pair], **kwargs: Any) -> dict[str, Any]:
        """The older name of `preprocess` (deprecated in the reference, with a warning)."""
        logger.warning("CrossEncoder.tokenize is deprecated; use preprocess instead.")
        return self.preprocess(texts, **kwargs)

    def smart_batching_collate(self, batch: list[Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The legacy `fit` collate function: InputExamples holding (text, text) pairs as features on the
        model's device and their labels (float for one label, class numbers otherwise)."""
        features = self.preprocess([tuple(example.texts) for example in batch])
        features = {name: value.to(self.device) for name, value in features.items()}
        dtype = torch.float if self.num_labels == 1 else torch.long
        labels = torch.tensor([example.label for example in batch], dtype=dtype, device=self.device)
        return features, labels

    # ----- training ------------------------------------------------------------------------------

    def fit(self, train_dataloader: Any, **kwargs: Any) -> None:
        """The legacy training API of sentence-transformers < 4; see
        `sentembed.training.cross_encoder.fit.fit_cross_encoder` for the arguments."""
        from sentembed.training.cross_encoder.fit import fit_cross_encoder

        fit_cross_encoder(self, train_dataloader, **kwargs)

    def evaluate(self, evaluator: Any, output_path: str | None = None) -> dict[str, float]:
        """Run a cross-encoder evaluator (see `sentembed.cross_encoder.evaluation`) and return its metrics."""
        if output_path is not None:
            os.makedirs(output_path, exist_ok=True)
        return evaluator(self, output_path=output_path)

    # ----- saving --------------------------------------------------------------------------------

    def save(
        self,
        path: str | os.PathLike,
        model_name: str | None = None,
        create_model_card: bool = True,
        train_datasets: list[str] | None = None,
        safe_serialization: bool = True,
    ) -> None:
        """Write the classic layout: a transformers checkpoint whose config.json names the activation."""
        folder = Path(path)
        self.classifier.save_checkpoint(folder, safe_serialization=safe_serialization)
        saveable = layout.is_saveable_activation(self.activation_fn)
        if not saveable:
            logger.warning(
                "activation_fn %r is not in the allowlist and is not saved; loading %s gives the default activation.",
                self.activation_fn,
                folder,
            )
        activation = self.activation_fn if saveable else None
        layout.write_activation(folder, activation)
        if self.prompts:
            layout.write_prompts(folder, activation, self.prompts, self.default_prompt_name)
        if create_model_card:
            write_model_card(self, folder, model_name, train_datasets)

    save_pretrained = save


def check_prompts(prompts: Any) -> dict[str, str]:
    """The prompts as a dict of names to strings; TypeError naming the first bad entry."""
    if prompts is None:
        return {}
    if not isinstance(prompts, dict):
        raise TypeError(f"prompts must be a dict of names to prompt strings, got {type(prompts).__name__}")
    for name, text in prompts.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise TypeError(f"prompts must map strings to strings; got {name!r}: {text!r}")
    return dict(prompts)


def as_activation(activation_fn: Activation | str) -> Activation:
    """A callable as it is; a name (such as "torch.nn.modules.activation.Sigmoid") through the allowlist."""
    if isinstance(activation_fn, str):
        return activation_from_name(activation_fn)
    if not callable(activation_fn):
        raise TypeError(f"activation_fn must be callable or an activation name, got {type(activation_fn).__name__}")
    return activation_fn


def shape_scores(
    scores: torch.Tensor, convert_to_numpy: bool, convert_to_tensor: bool
) -> np.ndarray | torch.Tensor | list[torch.Tensor]:
    """One tensor, a numpy array, or a list of per-pair tensors, as the caller asked."""
    if convert_to_tensor:
        return scores
    if convert_to_numpy:
        return scores.cpu().numpy()
    return list(scores)
