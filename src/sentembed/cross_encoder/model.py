"""`CrossEncoder`: reads a query and a passage together and scores how well they match."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from concurrent.futures import Executor
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
from sentembed.common.types import Backend, Pair, Row, supports_modality
from sentembed.cross_encoder import _layout as layout
from sentembed.cross_encoder._pairs import check_pairs, check_query_and_documents
from sentembed.cross_encoder.legacy_args import (
    cross_encoder_init_args_decorator,
    cross_encoder_predict_rank_args_decorator,
)
from sentembed.loading import (
    CrossEncoderModelCardData,
    PushToHubMixin,
    card_data_for,
    load_modules,
    save_modules,
    write_model_card,
)
from sentembed.loading.resolve import log_loading, resolve_model_path
from sentembed.models import SequenceClassifier, Transformer
from sentembed.models.dense import activation_from_name
from sentembed.models.input_module import ProcessingKwargs, check_processing_kwargs

logger = logging.getLogger(__name__)

BACKENDS = backends.BACKENDS
HUB_ORGANIZATION = "cross-encoder"
Activation = Callable[[torch.Tensor], torch.Tensor]
# The feature that holds the logits, written by the last scoring module.
SCORES = "scores"


class CrossEncoder(PushToHubMixin, nn.Sequential):
    """Load a cross-encoder folder (classic or modular layout), or build one from modules, and `predict` or
    `rank` text pairs.

    `model_name_or_path` may be a folder, a hub repository id, or a bare name such as
    "ms-marco-MiniLM-L6-v2" (meaning cross-encoder/ms-marco-MiniLM-L6-v2). A bi-encoder or a plain transformers
    encoder loads with a new, untrained classification head (with a warning), to be trained.

    Without `model_name_or_path`, `modules` is the pipeline (a modular cross-encoder): a first module that reads
    text pairs (a Transformer), then modules of which the last to write "scores" (a `Dense` with
    `module_output_name="scores"`) gives the logits. `model[0]` is the first module, as for a bi-encoder; a
    loaded cross-encoder has one module, its `SequenceClassifier`.

    The other arguments are documented at `__init__`.
    """

    @cross_encoder_init_args_decorator
    def __init__(
        self,
        model_name_or_path: str | os.PathLike | None = None,
        *,
        modules: list[nn.Module] | None = None,
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
        backend: Backend = "torch",
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        model_card_data: CrossEncoderModelCardData | None = None,
    ) -> None:
        """Load or build the cross-encoder.

        Args:
            model_name_or_path: a folder, a hub id or a bare name; None to build the model from `modules`.
            modules: the pipeline of a modular cross-encoder (used only without `model_name_or_path`).
            num_labels: the classifier's number of outputs (a new head gets 1 unless given).
            max_length: the most tokens a pair keeps.
            activation_fn: applied to the logits by `predict` (default: the folder's, else Sigmoid for one label
                and Identity for several).
            device: where the model runs (default: the best available).
            cache_folder: where hub downloads go.
            trust_remote_code: run code a folder names (custom model classes, an activation outside the allowlist).
            revision: the hub revision to load.
            local_files_only: never download.
            token: the hub token.
            model_kwargs: options for the transformers model's `from_pretrained` (and a backend's options).
            config_kwargs: options for `AutoConfig.from_pretrained`.
            backend: "torch", "onnx", "openvino" or "auto".
            prompts: named prompts that `predict` can put before each first text.
            default_prompt_name: the prompt used when a call names none.
            processor_kwargs: options for the tokenizer's `from_pretrained`.
            model_card_data: what the model card says.

        Raises:
            ValueError: A num_labels that is not a positive int, no model_name_or_path and no usable modules,
                an unknown backend or prompt name.
            OSError: A folder or hub repository that cannot be found or read.
        """
        super().__init__()
        model_kwargs, backend_options = backends.split_model_kwargs(model_kwargs, backend)
        num_labels = check_positive_int(num_labels, "num_labels", optional=True)
        self.model_path = None
        folder = None
        if model_name_or_path is None:
            modules = check_modules(modules)
        else:
            if modules is not None:
                logger.warning(
                    "The `modules` argument is ignored because model_name_or_path=%r is given.", str(model_name_or_path)
                )
            self.model_path = resolve_model_path(
                model_name_or_path, cache_folder, revision, token, local_files_only, organization=HUB_ORGANIZATION
            )
            log_loading("CrossEncoder", model_name_or_path)
            folder = layout.read_folder(self.model_path)
            loading_options = {
                "cache_folder": cache_folder,
                "trust_remote_code": trust_remote_code,
                "local_files_only": local_files_only,
                "token": token,
                "model_kwargs": model_kwargs,
                "tokenizer_kwargs": processor_kwargs,
                "config_kwargs": config_kwargs,
                "backend": backend,
            }
            modules = load_folder_modules(folder, num_labels, loading_options)
        saved = (folder.model_config if folder is not None else None) or {}
        self.prompts = check_prompts(saved.get("prompts") if prompts is None else prompts)
        self.default_prompt_name = check_default_prompt_name(
            default_prompt_name or saved.get("default_prompt_name"), self.prompts
        )
        modules, self.backend, self.backend_choice = backends.apply_backend(
            modules, backend, backend_options, cache_folder, device
        )  # backend_choice: what backend="auto" chose (a BackendChoice), else None
        for index, module in enumerate(modules):
            self.add_module(str(index), module)
        if max_length is not None:
            self.max_length = max_length
        self.activation_fn = self._initial_activation(activation_fn, folder, trust_remote_code)
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
        self, activation_fn: Activation | str | None, folder: layout.CrossEncoderFolder | None, trust_remote_code: bool
    ) -> Activation:
        """The caller's activation, else the folder's, else Sigmoid for one label and Identity for several."""
        if activation_fn is not None:
            return as_activation(activation_fn)
        from_folder = folder.activation(trust_remote_code) if folder is not None else None
        if from_folder is not None:
            return from_folder
        return nn.Sigmoid() if self.num_labels == 1 else nn.Identity()

    # ----- members -------------------------------------------------------------------------------

    @property
    def classifier(self) -> SequenceClassifier:
        """The sequence-classification module of a loaded cross-encoder (its module 0)."""
        first = self[0]
        if not isinstance(first, SequenceClassifier):
            raise TypeError(
                f"this cross-encoder's first module is a {type(first).__name__}, not a SequenceClassifier; "
                "it was built from modules, which score through the whole pipeline (model(features)['scores'])"
            )
        return first

    def is_single_classifier(self) -> bool:
        """Whether the model is one SequenceClassifier (a loaded cross-encoder), not a pipeline of modules.

        Returns:
            True for a loaded cross-encoder, False for one built from modules.
        """
        return len(self) == 1 and isinstance(self[0], SequenceClassifier)

    @property
    def input_module(self) -> nn.Module:
        """The first module, which turns text pairs into token rows (`tokenize_pairs_unpadded`) and pads them."""
        first = self[0]
        if not hasattr(first, "tokenize_pairs_unpadded"):
            raise TypeError(
                f"the first module, a {type(first).__name__}, cannot read text pairs; a cross-encoder that predicts "
                "starts with a Transformer (or a SequenceClassifier)"
            )
        return first

    def _first_transformer(self) -> Transformer | None:
        return next((module for module in self if isinstance(module, Transformer)), None)

    @property
    def model(self) -> nn.Module | None:
        """The transformers model of the first Transformer module (the sequence-classification model of a loaded
        cross-encoder), or None when the pipeline has no Transformer."""
        transformer = self._first_transformer()
        return transformer.auto_model if transformer is not None else None

    @property
    def tokenizer(self) -> Any:
        """The first module's tokenizer, or None when it has none."""
        return getattr(self[0], "tokenizer", None)

    @property
    def processor(self) -> Any:
        """What turns inputs into tokens (sentence-transformers 6's name): the first module's tokenizer, whose
        `chat_template` may be replaced to change how pairs are rendered."""
        return self.tokenizer

    @property
    def config(self) -> Any:
        """The transformers config of `model`, or None when the pipeline has no Transformer."""
        network = self.model
        return network.config if network is not None else None

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
        """Whether the model reads `modality`.

        Args:
            modality: "text", "image", ..., or a tuple of modalities combined in one input.

        Returns:
            True when the model takes such inputs.
        """
        return supports_modality(self.modalities, modality)

    @property
    def num_labels(self) -> int:
        """The number of scores per pair: from the last module that writes "scores" (a SequenceClassifier's
        labels, a scoring Dense's `out_features`), else 1."""
        for module in reversed(list(self)):
            if isinstance(module, SequenceClassifier):
                return module.num_labels
            if getattr(module, "module_output_name", None) == SCORES and hasattr(module, "out_features"):
                return module.out_features
        return 1

    @property
    def max_length(self) -> int | None:
        """Pairs longer than this many tokens are cut, the longer text first (None when the first module has
        no limit)."""
        return getattr(self[0], "max_seq_length", None)

    @max_length.setter
    def max_length(self, value: int) -> None:
        self[0].max_seq_length = value

    max_seq_length = max_length

    @property
    def device(self) -> torch.device:
        for parameter in self.parameters():
            return parameter.device
        return torch.device("cpu")

    # ----- scoring -------------------------------------------------------------------------------

    def is_singular_input(self, inputs: Any) -> bool:
        """Whether `inputs` is one pair rather than a batch of pairs.

        Args:
            inputs: What a caller passed to `predict`.

        Returns:
            True for a list or tuple whose first item is not itself a list or tuple, or a 1-D string array.
        """
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
        processing_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> np.ndarray | torch.Tensor | list[torch.Tensor] | np.floating:
        """Score how well the two texts of each pair go together (e.g. how relevant a passage is to a query).

        Each pair is read as one sequence, cut at `max_length` tokens (the longer text first); pairs are batched
        by length, and the scores come back in the order given.

        Args:
            inputs: One (text, text) pair, or a list of them (tuples or lists of two strings; a numpy array or
                a datasets column works too). Called `sentences` before sentence-transformers 6; that name
                still works, with a warning.
            prompt_name: The name of one of the model's `prompts` to put before each first text. Ignored when
                `prompt` is given. Default None: the model's `default_prompt_name`, if any.
            prompt: A prompt to put before each first text. Beats `prompt_name`. Default None.
            batch_size: How many pairs go through the model at once (a positive int). Default 32.
            show_progress_bar: Show a progress bar over the batches. Default None: shown when logging is at
                INFO or more detailed.
            activation_fn: What turns the logits into scores: a callable on a tensor, or the dotted name of a
                torch activation (e.g. "torch.nn.modules.activation.Sigmoid"). Default None: the model's own
                (from its folder, else Sigmoid for one label and Identity for several).
            apply_softmax: With several labels, turn each pair's scores into probabilities summing to 1, after
                the activation. Default False.
            convert_to_numpy: Return a numpy array (default True); False gives a list of tensors.
            convert_to_tensor: Return one torch tensor on the model's device (default False); beats
                `convert_to_numpy`.
            device: Where to score, e.g. "cpu" or "cuda:0" (the model moves there). Default None: the model's
                current device. A list of devices is refused: scoring runs in this process only.
            pool: Accepted for the reference's signature; any pool is refused (see `device`). Default None.
            chunk_size: Accepted for the reference's signature; any value is refused. Default None.
            processing_kwargs: Tokenizer options for this call only, by section: {"text": {"max_length": 64,
                "truncation": True}} cuts these pairs at 64 tokens. Default None: the model's `max_length`.
            **kwargs: Only `sentences`, the older name of `inputs` (`activation_fct` and `num_workers` are
                taken too, with a warning); anything else is refused.

        Returns:
            For a list of pairs, an array (or tensor, or list) of shape (n,) for a model with one label, or
            (n, num_labels) for several. For a single pair, its score (a numpy scalar), or one row of
            `num_labels` scores.

        Raises:
            TypeError: An input that is not a pair of strings (naming its index), an `activation_fn` that is
                neither callable nor a name, or an unknown keyword argument.
            ValueError: A `batch_size` that is not a positive int, an unknown prompt name, a `pool`, a
                `chunk_size` or a list of devices, or a `processing_kwargs` key other than "text", "common",
                "chat_template" (and "image", "audio", "video").
        """
        inputs = renamed_argument(inputs, kwargs, "sentences", "inputs", "CrossEncoder.predict()")
        if kwargs:
            raise TypeError(f"CrossEncoder.predict() got unexpected keyword arguments {sorted(kwargs)}")
        self.use_device(device, pool, chunk_size)
        pairs, single = check_pairs(inputs)
        pairs = self.prompted_pairs(pairs, prompt_name, prompt)
        batch_size = check_positive_int(batch_size, "batch_size")
        activation = self.activation_fn if activation_fn is None else as_activation(activation_fn)
        processing_kwargs = check_processing_kwargs(processing_kwargs)
        rows = self.tokenize_pairs(pairs, processing_kwargs) if pairs else []
        logits = self.score_rows(rows, batch_size, show_progress_bar)
        scores = self.scores_from_logits(logits, activation, apply_softmax)
        result = shape_scores(scores, convert_to_numpy, convert_to_tensor)
        return result[0] if single else result

    def prompted_pairs(self, pairs: list[Pair], prompt_name: str | None, prompt: str | None) -> list[Pair]:
        """The pairs with the chosen prompt before each first text (unchanged when there is none).

        Args:
            pairs: The (first, second) pairs.
            prompt_name: The name of one of the model's prompts, or None.
            prompt: A prompt text, or None (beats `prompt_name`).

        Returns:
            The prompted pairs.

        Raises:
            ValueError: An unknown prompt name.
        """
        text = resolve_prompt(self.prompts, prompt, prompt_name, self.default_prompt_name)
        if not text:
            return pairs
        return [(text + first, second) for first, second in pairs]

    def use_device(self, device: str | None, pool: Any, chunk_size: int | None) -> None:
        """Move to `device` for this call; a multi-process pool is refused with a clear error.

        Args:
            device: A device name, or None to stay.
            pool: Must be None.
            chunk_size: Must be None.

        Raises:
            ValueError: A pool, a chunk_size or a list of devices.
        """
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
        across several labels.

        Args:
            logits: The (pairs, num_labels) logits.
            activation: The activation. Default None: the model's.
            apply_softmax: With several labels, normalise each pair's scores. Default False.

        Returns:
            (pairs,) scores for one label, else (pairs, num_labels).
        """
        activation = self.activation_fn if activation is None else activation
        with torch.inference_mode():
            scores = activation(logits.float())
            if self.num_labels == 1 and scores.dim() > 1:
                scores = scores.squeeze(-1)
            if apply_softmax and scores.dim() > 1:
                scores = torch.softmax(scores, dim=1)
        return scores

    @torch.inference_mode()
    def score_rows(
        self,
        rows: list[Row],
        batch_size: int = 32,
        show_progress_bar: bool | None = False,
        executor: Executor | None = None,
    ) -> torch.Tensor:
        """Logits for token rows made by `tokenize_pairs`, in their order, from length-sorted batches.

        `predict` is `tokenize_pairs`, this and `scores_from_logits`; the server calls them apart, so
        that many requests' pairs share one run of the model.

        Args:
            rows: Token rows from `tokenize_pairs`.
            batch_size: The requested batch size. Default 32.
            show_progress_bar: Show progress over the batches; None decides from logging. Default False.
            executor: Threads that run the batches at once (the server's lanes). Default None: one by one.

        Returns:
            The (len(rows), num_labels) logits.
        """
        if not rows:
            return torch.empty((0, self.num_labels), device=self.device)
        self.eval()
        pad = self.input_module.pad
        return run_in_sorted_batches(
            rows, batch_size, pad, self.device, self.logits, show_progress_bar, desc="Scoring pairs", executor=executor
        )

    def forward(self, features: dict[str, Any]) -> dict[str, Any]:
        """Run the modules on a padded batch: a SequenceClassifier writes its logits as "scores", any other
        module adds its own features.

        Args:
            features: a padded batch from `preprocess`.

        Returns:
            The features with the logits, shape (pairs, num_labels), as "scores".

        Raises:
            ValueError: no module wrote "scores".
        """
        features = dict(features)
        for module in self:
            if isinstance(module, SequenceClassifier):
                features[SCORES] = module.logits(features)
            else:
                features = module(features)
        if SCORES not in features:
            raise ValueError(
                f"the modules {[type(module).__name__ for module in self]} wrote no {SCORES!r} feature; the last "
                f"module of a cross-encoder scores the pairs (a Dense with module_output_name={SCORES!r})"
            )
        return features

    def logits(self, features: dict[str, Any]) -> torch.Tensor:
        """The logits of a padded batch, through the model's `__call__` (so forward hooks and `torch.compile`
        apply, as `predict` uses it).

        Args:
            features: The padded batch (from `preprocess`).

        Returns:
            The (batch, num_labels) logits.
        """
        return self(features)["scores"]

    def tokenize_pairs(self, pairs: list[Pair], processing_kwargs: ProcessingKwargs | None = None) -> list[Row]:
        """Token rows for (first, second) pairs, warning when pairs were cut at `max_length`.

        Args:
            pairs: the (first, second) pairs.
            processing_kwargs: per-call tokenizer options by section (checked), passed to the first module only
                when given, so that a module without them still tokenizes plain calls.

        Returns:
            One token row per pair, in order.
        """
        module = self.input_module
        options = {"processing_kwargs": processing_kwargs} if processing_kwargs else {}
        rows, truncated = module.tokenize_pairs_unpadded(pairs, **options)
        if truncated:
            limit = ((processing_kwargs or {}).get("text") or {}).get("max_length") or self.max_length
            logger.warning(
                "%d of %d pairs were longer than max_length=%d tokens and were cut, the longer text first.",
                truncated,
                len(pairs),
                limit,
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
        """Score `query` against every document and return the documents best first.

        `convert_to_numpy`, `convert_to_tensor` and `apply_softmax`, which older versions accepted here, are
        ignored with a warning.

        Args:
            query: The text to rank the documents for.
            documents: The texts to rank (a list of strings).
            top_k: Return only the best `top_k` documents (a positive int). Default None: all of them.
            return_documents: Add each document's text to its result, under "text". Default False.
            prompt_name: The name of one of the model's `prompts` to put before the query. Ignored when
                `prompt` is given. Default None: the model's `default_prompt_name`, if any.
            prompt: A prompt to put before the query. Beats `prompt_name`. Default None.
            batch_size: How many (query, document) pairs go through the model at once. Default 32.
            show_progress_bar: Show a progress bar over the batches. Default None: shown when logging is at
                INFO or more detailed.
            activation_fn: What turns the logits into scores, as in `predict`. Default None: the model's own.
            device: Where to score, as in `predict`. Default None: the model's current device.
            pool: Accepted for the reference's signature; any pool is refused. Default None.
            chunk_size: Accepted for the reference's signature; any value is refused. Default None.

        Returns:
            One dict per document, best score first: {"corpus_id": its index in `documents`, "score": a float},
            with "text" added when `return_documents` is True.

        Raises:
            TypeError: A `query` that is not a string or `documents` that are not a list of strings.
            ValueError: A `top_k` that is not a positive int, a model with more than one label (use `predict`),
                or arguments `predict` refuses.
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
        """Python lines that load the cross-encoder from `repo_id` and score and rank with it.

        Args:
            repo_id: The hub repository, "user-or-organization/name".

        Returns:
            The lines, joined by newlines.
        """
        return "\n".join(
            [
                "from sentembed import CrossEncoder  # or: from sentence_transformers import CrossEncoder",
                "",
                f'model = CrossEncoder("{repo_id}")',
                'scores = model.predict([("How many people live in Berlin?", "Berlin has 3.5 million people.")])',
                'ranks = model.rank("How many people live in Berlin?", ["Berlin has 3.5 million people.", "Paris."])',
            ]
        )

    def preprocess(
        self,
        inputs: Pair | list[Pair],
        prompt: str | None = None,
        processing_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The padded features (`input_ids`, `attention_mask`, ...) of (first, second) pairs, each read as one
        sequence cut at `max_length`.

        Args:
            inputs: one pair of texts or a list of them.
            prompt: put before each first text (default: `prompt_name`'s prompt, else the default prompt).
            processing_kwargs: tokenizer options for this call, as for `predict`.
            **kwargs: only `prompt_name`.

        Returns:
            The features of the pairs; {} for no pairs.
        """
        pairs, _ = check_pairs(inputs)
        if not pairs:
            return {}
        pairs = self.prompted_pairs(pairs, kwargs.pop("prompt_name", None), prompt)
        if kwargs:
            raise TypeError(f"CrossEncoder.preprocess() got unexpected keyword arguments {sorted(kwargs)}")
        return dict(self.input_module.pad(self.tokenize_pairs(pairs, check_processing_kwargs(processing_kwargs))))

    def tokenize(self, texts: Pair | list[Pair], **kwargs: Any) -> dict[str, Any]:
        """The older name of `preprocess` (deprecated in the reference, with a warning).

        Args:
            texts: One (first, second) pair or a list of them.
            **kwargs: `preprocess`'s other arguments.

        Returns:
            The padded features.
        """
        logger.warning("CrossEncoder.tokenize is deprecated; use preprocess instead.")
        return self.preprocess(texts, **kwargs)

    def smart_batching_collate(self, batch: list[Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The legacy `fit` collate function: InputExamples holding (text, text) pairs as features on the
        model's device and their labels (float for one label, class numbers otherwise).

        Args:
            batch: InputExamples with two texts each.

        Returns:
            (the padded features, the labels).
        """
        features = self.preprocess([tuple(example.texts) for example in batch])
        features = {name: value.to(self.device) for name, value in features.items()}
        dtype = torch.float if self.num_labels == 1 else torch.long
        labels = torch.tensor([example.label for example in batch], dtype=dtype, device=self.device)
        return features, labels

    # ----- training ------------------------------------------------------------------------------

    def fit(self, train_dataloader: Any, **kwargs: Any) -> None:
        """The legacy training API of sentence-transformers < 4; see
        `sentembed.training.cross_encoder.fit_cross_encoder` for the arguments.

        Args:
            train_dataloader: A DataLoader of InputExample pairs with labels.
            **kwargs: The legacy `fit`'s other arguments (`epochs`, `warmup_steps`, `evaluator`, ...).
        """
        from sentembed.training.cross_encoder import fit_cross_encoder

        fit_cross_encoder(self, train_dataloader, **kwargs)

    def evaluate(self, evaluator: Any, output_path: str | None = None) -> dict[str, float]:
        """Run a cross-encoder evaluator (see `sentembed.cross_encoder.evaluation`).

        Args:
            evaluator: The evaluator, called with this model.
            output_path: A folder where it writes its results. Default None.

        Returns:
            The evaluator's metrics.
        """
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
        """Write the model's folder.

        A loaded cross-encoder is written as a transformers checkpoint at the root whose config.json names the
        activation (the classic layout), plus the modular files sentence-transformers 6 reads (`modules.json`
        naming the root checkpoint, and `config_sentence_transformers.json` with the activation and prompts).
        A cross-encoder built from modules is written module by module, as a bi-encoder is.

        Args:
            path: the folder (created if missing).
            model_name: the name the model card uses.
            create_model_card: write README.md.
            train_datasets: dataset names for the model card.
            safe_serialization: write safetensors (False: pickled `.bin` weights where the module allows it).
        """
        folder = Path(path)
        saveable = layout.is_saveable_activation(self.activation_fn)
        if not saveable:
            logger.warning(
                "activation_fn %r is not in the allowlist and is not saved; loading %s gives the default activation.",
                self.activation_fn,
                folder,
            )
        activation = self.activation_fn if saveable else None
        if self.is_single_classifier():
            self.classifier.save_checkpoint(folder, safe_serialization=safe_serialization)
            layout.write_activation(folder, activation)
            layout.write_modular_files(folder, activation, self.prompts, self.default_prompt_name)
        else:
            save_modules(list(self), folder, safe_serialization=safe_serialization)
            layout.write_model_config(folder, activation, self.prompts, self.default_prompt_name)
        if create_model_card:
            write_model_card(self, folder, model_name, train_datasets)

    save_pretrained = save


def check_modules(modules: Any) -> list[nn.Module]:
    """The modules of a cross-encoder built without a folder: a non-empty list of torch modules."""
    if modules is None:
        raise ValueError("CrossEncoder needs model_name_or_path, or modules=[...] to build the model from")
    if not isinstance(modules, (list, tuple)) or not modules:
        raise ValueError(f"modules must be a non-empty list of torch modules, got {modules!r}")
    for index, module in enumerate(modules):
        if not isinstance(module, nn.Module):
            raise TypeError(f"modules[{index}] must be a torch.nn.Module, got {type(module).__name__}")
    return list(modules)


def load_folder_modules(
    folder: layout.CrossEncoderFolder, num_labels: int | None, loading_options: dict[str, Any]
) -> list[nn.Module]:
    """The modules of a cross-encoder folder: a pipeline folder's modules one by one, else its checkpoint as a
    SequenceClassifier, with a new head of `num_labels` (default 1) where the checkpoint has none."""
    if folder.layout == "pipeline":
        return load_modules(folder.checkpoint, **loading_options)
    if not folder.has_head:
        num_labels = 1 if num_labels is None else num_labels
        logger.warning(
            "%s has no sequence-classification head (a %s checkpoint): a new head with %d label(s) is initialized "
            "at random; train the model before using its scores.",
            folder.checkpoint,
            "bi-encoder's" if folder.layout == "bi-encoder" else "plain transformers",
            num_labels,
        )
    config_kwargs = loading_options["config_kwargs"] or {}
    if num_labels is not None:
        config_kwargs = {**config_kwargs, "num_labels": num_labels}
    return [SequenceClassifier.load(str(folder.checkpoint), **{**loading_options, "config_kwargs": config_kwargs})]


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
