"""`SentenceTransformer`: a bi-encoder that maps texts to fixed-size embeddings."""

from __future__ import annotations

import logging
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn
from transformers import PreTrainedModel

from sentembed import backend as backends
from sentembed.cache import EmbeddingCache
from sentembed.chunking import Chunking
from sentembed.common.batching import run_in_sorted_batches, sorted_batches
from sentembed.common.checks import (
    check_default_prompt_name,
    check_positive_int,
    check_text,
    check_text_list,
    processor_or_tokenizer_kwargs,
    renamed_argument,
    resolve_prompt,
)
from sentembed.common.runtime import check_device, default_device
from sentembed.common.types import ArrayLike, Backend, Row, supports_modality
from sentembed.loading import (
    ModelConfig,
    PushToHubMixin,
    SentenceTransformerModelCardData,
    card_data_for,
    load_modules,
    save_modules,
    write_model_card,
)
from sentembed.loading.resolve import log_loading, resolve_model_path
from sentembed.models import InputModule, Pooling, Router, Transformer
from sentembed.models.adapters import AdapterMethods
from sentembed.models.base import run_modules
from sentembed.models.input_module import ProcessingKwargs, check_processing_kwargs, with_processing_kwargs
from sentembed.sentence_transformer import _encoding as encoding
from sentembed.sentence_transformer import _multiprocess as multiprocess
from sentembed.sentence_transformer import _reuse as reuse
from sentembed.sentence_transformer._encoding import EncodeRequest
from sentembed.similarity import SimilarityFunction, SimilarityName

logger = logging.getLogger(__name__)

OutputValue = Literal["sentence_embedding", "token_embeddings"] | None
Precision = Literal["float32", "int8", "uint8", "binary", "ubinary"] | None
BACKENDS = backends.BACKENDS
# encode_document uses the first of these prompts the model has, as the reference does.
DOCUMENT_PROMPT_NAMES = ("document", "passage", "corpus")


class SentenceTransformer(AdapterMethods, PushToHubMixin, nn.Sequential):
    """Load or build a bi-encoder and `encode()` texts into embeddings.

    The model is a pipeline of modules (`model[0]` is the first, usually a `Transformer`, then `Pooling`, ...),
    saved by `save()` as a folder that sentence-transformers loads too.

    Args:
        model_name_or_path: A folder, a hub repository id, or a bare name such as "all-MiniLM-L6-v2" (meaning
            sentence-transformers/all-MiniLM-L6-v2). A plain transformers checkpoint gets mean pooling (last-token
            pooling for a causal LM). Default None: build the model from `modules`.
        modules: The pipeline of a new model, used only without `model_name_or_path`.
        device: Where the model runs, e.g. "cpu", "cuda", "cuda:1", "mps". Default None: the best available.
        prompts: Named prompts that `encode(prompt_name=...)` puts before the inputs, e.g.
            {"query": "query: "}; they join (and beat) the ones the folder saved. Default None.
        default_prompt_name: The prompt `encode` uses when a call names none; must be one of `prompts`.
            Default None: the folder's, else no prompt.
        similarity_fn_name: The function `similarity()` uses: "cosine", "dot", "euclidean" or "manhattan" (or
            a `SimilarityFunction`). Default None: the folder's, else "cosine".
        cache_folder: Where hub downloads are kept. Default None: the Hugging Face cache (or
            SENTENCE_TRANSFORMERS_HOME).
        trust_remote_code: Allow a folder to run its own model code (custom modules or transformers classes).
            Default False.
        revision: The hub branch, tag or commit to load. Default None: the default branch.
        local_files_only: Never download; use only what is already cached or on disk. Default False.
        token: A Hugging Face token for private repositories; True uses the saved login. Default None.
        truncate_dim: Keep only the first `truncate_dim` dimensions of every embedding `encode` returns (for
            Matryoshka models). Default None: the folder's, else all.
        model_kwargs: Keyword arguments for the transformers model's `from_pretrained` (e.g. {"torch_dtype":
            "bfloat16"}), and a backend's options: "file_name", "provider", "num_threads", "ov_config",
            "inference_precision" (and "auto_*" ones with backend="auto"). Default None.
        tokenizer_kwargs: Keyword arguments for the tokenizer's `from_pretrained`. Default None.
        config_kwargs: Keyword arguments for `AutoConfig.from_pretrained`. Default None.
        backend: What runs the network: "torch" (default), "onnx", "openvino", or "auto" (the fastest of them
            that keeps the embeddings close to torch's, measured on this CPU).
        model_card_data: What the model card written by `save()` says about the model. Default None: filled in
            from the folder and from training.
        processor_kwargs: The sentence-transformers 6 name of `tokenizer_kwargs`. Default None.
        use_auth_token: The old name of `token` (deprecated). Default None.

    Raises:
        ValueError: No `model_name_or_path` and no modules, a `truncate_dim` that is not a positive int, a
            `default_prompt_name` missing from the prompts, an unknown `similarity_fn_name` or `backend`, or
            both `token` and `use_auth_token`.
        OSError: A folder or hub repository that cannot be found or read.
    """

    # The single-vector similarity functions (a multi-vector "maxsim" would give wrong shapes on 2-D embeddings).
    SUPPORTED_SIMILARITY_FN_NAMES: ClassVar[tuple[str, ...]] = tuple(
        kind.value
        for kind in (
            SimilarityFunction.COSINE,
            SimilarityFunction.DOT_PRODUCT,
            SimilarityFunction.EUCLIDEAN,
            SimilarityFunction.MANHATTAN,
        )
    )

    def __init__(
        self,
        model_name_or_path: str | None = None,
        modules: list[nn.Module] | None = None,
        device: str | None = None,
        prompts: dict[str, str] | None = None,
        default_prompt_name: str | None = None,
        similarity_fn_name: SimilarityName | SimilarityFunction | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        truncate_dim: int | None = None,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        backend: Backend = "torch",
        model_card_data: SentenceTransformerModelCardData | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        use_auth_token: bool | str | None = None,
    ) -> None:
        model_kwargs, backend_options = backends.split_model_kwargs(model_kwargs, backend)
        check_positive_int(truncate_dim, "truncate_dim", optional=True)
        tokenizer_kwargs = processor_or_tokenizer_kwargs(processor_kwargs, tokenizer_kwargs)
        token = old_token_name(token, use_auth_token)
        config = ModelConfig()
        model_path: Path | None = None
        if model_name_or_path is not None:
            if modules is not None:
                logger.warning(
                    "The `modules` argument is ignored because model_name_or_path=%r is given: the model's own modules "
                    "are loaded (build a model from modules without model_name_or_path).",
                    str(model_name_or_path),
                )
            model_path = resolve_model_path(model_name_or_path, cache_folder, revision, token, local_files_only)
            log_loading("SentenceTransformer", model_name_or_path)
            config = ModelConfig.read(model_path).for_model_type("SentenceTransformer")
            modules = load_modules(
                model_path,
                trust_remote_code=trust_remote_code,
                cache_folder=cache_folder,
                revision=revision,
                local_files_only=local_files_only,
                token=token,
                model_kwargs=model_kwargs,
                tokenizer_kwargs=tokenizer_kwargs,
                config_kwargs=config_kwargs,
                backend=backend,
            )
        if not modules:
            raise ValueError(
                "An empty modules list was passed: SentenceTransformer needs model_name_or_path or at least one module"
            )
        modules, backend, backend_choice = backends.apply_backend(
            list(modules), backend, backend_options, cache_folder, device
        )
        super().__init__(OrderedDict((str(index), module) for index, module in enumerate(modules)))
        self.model_path = model_path
        self.trust_remote_code = trust_remote_code  # the caller's choice, reused when a checkpoint is reloaded
        self.backend = backend
        self.backend_choice = backend_choice  # what backend="auto" chose (a BackendChoice), else None
        self.truncate_dim = check_positive_int(
            truncate_dim if truncate_dim is not None else config.truncate_dim, "truncate_dim", optional=True
        )
        self.prompts: dict[str, str] = merge_prompts(prompts, config.prompts)
        self.default_prompt_name = check_default_prompt_name(
            default_prompt_name or config.default_prompt_name, self.prompts
        )
        self._similarity_fn_name: SimilarityFunction | None = None
        saved_similarity = config.similarity_fn_name
        if saved_similarity not in self.SUPPORTED_SIMILARITY_FN_NAMES:  # e.g. a multi-vector model's "maxsim"
            saved_similarity = None
        self.similarity_fn_name = similarity_fn_name or saved_similarity
        self.model_card_data = card_data_for(
            SentenceTransformerModelCardData, model_card_data, model_name_or_path, model_path, revision
        )
        self.model_card_data.register_model(self)
        self.to(check_device(device) if device is not None else default_device())

    # ----- members -------------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        for parameter in self.parameters():
            return parameter.device
        return torch.device("cpu")

    @property
    def input_module(self) -> InputModule:
        """The first module, which turns texts into the features the rest of the pipeline reads."""
        first = self[0]
        if not isinstance(first, InputModule):
            raise TypeError(
                f"the first module must be an InputModule (such as Transformer), got {type(first).__name__}"
            )
        return first

    @property
    def transformer(self) -> Transformer:
        """The first module, when it is a Transformer (the backends and some losses need one)."""
        first = self.input_module
        if not isinstance(first, Transformer):
            raise TypeError(f"the first module is a {type(first).__name__}, not a Transformer")
        return first

    @property
    def transformers_model(self) -> nn.Module | None:
        """The first underlying transformers model (a Transformer's `auto_model`), or None when there is none."""
        for module in self.modules():
            if isinstance(module, Transformer):
                return module.auto_model
            if isinstance(module, PreTrainedModel):
                return module
        return None

    @property
    def config(self) -> Any:
        """The transformers config of the underlying network (what integrations such as DeepSpeed read as
        `model.config.hidden_size`), or None for a model without one (a static model)."""
        return getattr(self.transformers_model, "config", None)

    @config.setter
    def config(self, value: Any) -> None:
        network = self.transformers_model
        if network is not None:
            network.config = value

    @property
    def dtype(self) -> torch.dtype | None:
        """The dtype of the model's parameters (of the first one); None for a model without parameters."""
        for parameter in self.parameters():
            return parameter.dtype
        return None

    @property
    def modalities(self) -> list[str]:
        """The kinds of input the model reads: the first module's `modalities`, ["text"] by default."""
        return list(getattr(self[0], "modalities", ["text"]))

    def supports(self, modality: str | tuple[str, ...]) -> bool:
        """Whether the model reads `modality`.

        Args:
            modality: "text", "image", ..., or a tuple such as ("image", "text") for inputs that combine them.

        Returns:
            True when the model takes such inputs.
        """
        return supports_modality(self.modalities, modality)

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict[str, Any] | None = None) -> None:
        """Recompute activations in the backward pass instead of keeping them (less memory, more time), for
        every transformers network in the pipeline; the trainer calls this for `gradient_checkpointing=True`.

        Args:
            gradient_checkpointing_kwargs: passed to each network's `gradient_checkpointing_enable`
                (e.g. {"use_reentrant": False}).

        Raises:
            ValueError: when no module of the pipeline runs a transformers network that supports it.
        """
        networks = [
            network
            for module in self.modules()
            if callable(getattr(network := getattr(module, "auto_model", None), "gradient_checkpointing_enable", None))
        ]
        if not networks:
            raise ValueError("gradient checkpointing needs a transformers network in the pipeline; this model has none")
        for network in networks:
            if callable(getattr(network, "activation_checkpointing_enable", None)):  # its name from transformers 5.x
                network.activation_checkpointing_enable(activation_checkpointing_kwargs=gradient_checkpointing_kwargs)
            else:
                network.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gradient_checkpointing_kwargs)

    def get_model_kwargs(self) -> list[str]:
        """The extra keyword arguments the model's modules (a Router's routes included) read in `encode`.

        Returns:
            Their names, sorted (empty for plain text models).
        """
        return sorted({name for module in self.modules() for name in getattr(module, "forward_kwargs", ())})

    def forward(self, input: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Run a batch's features through every module, as training does (`encode` calls it too).

        Args:
            input: The padded features of a batch (from `preprocess`): tensor name -> tensor, and more.
            **kwargs: Extra arguments, each given to the modules that name it in their `forward_kwargs`.

        Returns:
            The features with what each module added, e.g. "token_embeddings" and "sentence_embedding".
        """
        return run_modules(list(self), input, kwargs)

    def is_singular_input(self, inputs: Any) -> bool:
        """Whether `inputs` is one input rather than a batch (a list, tuple or array of inputs).

        Args:
            inputs: What a caller passed to `encode`.

        Returns:
            True for a string, or one conversation: a list of {"role", "content"} messages.
        """
        if isinstance(inputs, (list, tuple)):
            return bool(inputs) and all(isinstance(item, dict) and "role" in item for item in inputs)
        return not (isinstance(inputs, np.ndarray) and inputs.ndim >= 1 and inputs.dtype.kind in "UO")

    @property
    def tokenizer(self) -> Any:
        return self.input_module.tokenizer

    @tokenizer.setter
    def tokenizer(self, value: Any) -> None:
        self.input_module.tokenizer = value

    @property
    def max_seq_length(self) -> int | None:
        return self.input_module.max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.input_module.max_seq_length = value

    def get_max_seq_length(self) -> int | None:
        """The most tokens the model reads per input; longer inputs are truncated.

        Returns:
            The input module's `max_seq_length`, or None when it has none.
        """
        return self.max_seq_length

    def get_embedding_dimension(self) -> int | None:
        """The dimension of the embeddings `encode` returns.

        Returns:
            The last module's output dimension, cut to `truncate_dim` when one is set; None when unknown.
        """
        dimension = None
        for module in reversed(self):
            dimension = _module_dimension(module)
            if dimension is not None:
                break
        if self.truncate_dim is None:
            return dimension
        return self.truncate_dim if dimension is None else min(dimension, self.truncate_dim)

    def get_sentence_embedding_dimension(self) -> int | None:
        """Deprecated name of `get_embedding_dimension` (with a FutureWarning).

        Returns:
            The dimension of the embeddings `encode` returns, or None when unknown.
        """
        warnings.warn(
            "get_sentence_embedding_dimension() was renamed to get_embedding_dimension()", FutureWarning, stacklevel=2
        )
        return self.get_embedding_dimension()

    def set_pooling_include_prompt(self, include_prompt: bool) -> None:
        """Choose whether the prompt's tokens count in the pooled embedding (a warning without a Pooling module).

        Args:
            include_prompt: True to pool over the prompt's tokens too, False to leave them out.
        """
        for module in self:
            if isinstance(module, Pooling):
                module.include_prompt = include_prompt
                return
        logger.warning("This model has no Pooling module; include_prompt has no effect.")

    def tokenize(self, texts: list[str] | list[tuple[str, str]], task: str | None = None) -> dict[str, Any]:
        """Deprecated (as in sentence-transformers 6): use `preprocess`, which tokenizes the same way.

        Logs a warning, then tokenizes texts into padded tensors, as the model sees them; with a Router, for the
        `task`'s route (the task is then kept in the features, for the Router's forward). A list of
        (text, text) pairs is tokenized pair by pair into one sequence each.

        Args:
            texts: the texts, or (text, text) pairs.
            task: the Router route to tokenize for; models without a Router ignore it.

        Returns:
            The padded features: tensor name -> tensor (and "task" with a Router).
        """
        logger.warning("SentenceTransformer.tokenize() is deprecated; use preprocess() instead.")
        return self._tokenize(texts, task)

    def _tokenize(
        self, texts: list[str] | list[tuple[str, str]], task: str | None = None, processing_kwargs: Any = None
    ) -> dict[str, Any]:
        route = self.route_for(task)
        input_module = self.input_module_for(route)
        if texts and all(isinstance(text, (list, tuple)) for text in texts):
            rows = self.tokenize_pair_rows(input_module, texts, processing_kwargs)[0]
            features = dict(input_module.pad(rows))
        else:
            features = dict(with_processing_kwargs(input_module.tokenize, processing_kwargs)(texts))
        if route is not None:
            features["task"] = route
        return features

    @staticmethod
    def tokenize_pair_rows(
        input_module: InputModule, pairs: list, processing_kwargs: ProcessingKwargs | None = None
    ) -> tuple[list[Row], int]:
        """Token rows of (text, text) pairs, one sequence each, and how many were cut at `max_seq_length`;
        TypeError for an item that is not a pair of str, or an input module that cannot read pairs.

        Args:
            input_module: the module that tokenizes.
            pairs: the (text, text) pairs.
            processing_kwargs: per-call tokenizer options by modality, e.g. {"text": {"max_length": 64}}.

        Returns:
            (the token rows, how many pairs were cut).
        """
        checked = [check_pair(pair, f"texts[{index}]") for index, pair in enumerate(pairs)]
        if not hasattr(input_module, "tokenize_pairs_unpadded"):
            raise TypeError(f"{type(input_module).__name__} tokenizes single texts only, not (text, text) pairs")
        return with_processing_kwargs(input_module.tokenize_pairs_unpadded, processing_kwargs)(checked)

    def smart_batching_collate(self, batch: list[Any]) -> tuple[list[dict[str, Any]], torch.Tensor]:
        """The legacy `fit` collate function.

        Args:
            batch: InputExamples, each with the same number of texts.

        Returns:
            (one tokenized batch per text position, a tensor of the examples' labels).
        """
        texts = [example.texts for example in batch]
        features = [self._tokenize(list(column)) for column in zip(*texts, strict=True)]
        labels = [example.label for example in batch]
        if labels and isinstance(labels[0], np.ndarray):
            return features, torch.from_numpy(np.stack(labels))
        return features, torch.tensor(labels)

    @property
    def router(self) -> Router | None:
        """The model's Router, which picks modules by task, or None for a model without one."""
        return next((module for module in self if isinstance(module, Router)), None)

    def route_for(self, task: str | None) -> str | None:
        """The Router route a task picks.

        Args:
            task: A task such as "query" or "document", or None for the Router's default.

        Returns:
            The route's name; None for a model without a Router, which ignores `task`, as the reference does.

        Raises:
            ValueError: A task the Router does not know, naming its routes.
        """
        router = self.router
        return None if router is None else router.resolve_route(task)

    def input_module_for(self, route: str | None) -> InputModule:
        """The input module that tokenizes for a route.

        Args:
            route: A route name from `route_for`, or None.

        Returns:
            The route's first module when module 0 is a Router, else module 0.
        """
        first = self.input_module
        return first.route_input(route) if isinstance(first, Router) else first

    def preprocess(
        self,
        inputs: list[str],
        prompt: str | None = None,
        task: str | None = None,
        processing_kwargs: ProcessingKwargs | None = None,
    ) -> dict[str, Any]:
        """The padded features of a batch of texts, with `prompt` prepended: tensors, `modality` ("text", or "image"
        for a batch of images) and, with a prompt, `prompt_length` (its token count); with a Router, the `task` it
        routes; {} for no inputs.
        A batch of inputs the model cannot take together (chat messages, a modality it does not read, several
        modalities) is a ValueError saying which modalities it found and what to do instead.

        Args:
            inputs: the texts (or, for a model that reads images, PIL images).
            prompt: a prompt to put before every text.
            task: the Router route to tokenize for; models without a Router ignore it.
            processing_kwargs: tokenizer options for this call, by modality, e.g. {"text": {"max_length": 64}}.

        Returns:
            The features, ready for `forward`.
        """
        if isinstance(inputs, list):
            encoding.check_batch_modalities(inputs, self.modalities)
        if "image" in self.modalities:  # texts or images, one modality per batch
            items = encoding.check_inputs(inputs, self.modalities)[0]
        else:
            items = check_text_list(inputs, "inputs")
        processing_kwargs = check_processing_kwargs(processing_kwargs)
        if not items:
            return {}
        features: dict[str, Any] = self._tokenize(encoding.with_prompt(prompt, items), task, processing_kwargs)
        features["modality"] = encoding.input_modality(items[0]) or "text"
        if prompt:
            features["prompt_length"] = self.prompt_length(prompt, task)
        return features

    @contextmanager
    def truncate_embeddings(self, truncate_dim: int | None) -> Iterator[None]:
        """Within the `with` block, `encode()` returns embeddings truncated to `truncate_dim`.

        Args:
            truncate_dim: The dimensions to keep (a positive int), or None for all.

        Yields:
            Nothing; the model's own `truncate_dim` comes back when the block ends.

        Raises:
            ValueError: A `truncate_dim` that is not a positive int.
        """
        check_positive_int(truncate_dim, "truncate_dim", optional=True)
        previous, self.truncate_dim = self.truncate_dim, truncate_dim
        try:
            yield
        finally:
            self.truncate_dim = previous

    @contextmanager
    def truncate_sentence_embeddings(self, truncate_dim: int | None) -> Iterator[None]:
        """Deprecated name of `truncate_embeddings` (with a FutureWarning).

        Args:
            truncate_dim: The dimensions to keep (a positive int), or None for all.

        Yields:
            Nothing; the model's own `truncate_dim` comes back when the block ends.
        """
        warnings.warn(
            "truncate_sentence_embeddings() was renamed to truncate_embeddings()", FutureWarning, stacklevel=3
        )
        with self.truncate_embeddings(truncate_dim):
            yield

    # ----- similarity ----------------------------------------------------------------------------

    @property
    def similarity_fn_name(self) -> str:
        """The model's similarity function; reading it sets "cosine" when none was chosen, as the reference does."""
        return self._similarity_kind().value

    @similarity_fn_name.setter
    def similarity_fn_name(self, value: SimilarityName | SimilarityFunction | None) -> None:
        kind = None if value is None else SimilarityFunction.parse(value)
        if kind is not None and kind.value not in self.SUPPORTED_SIMILARITY_FN_NAMES:
            raise ValueError(
                f"similarity_fn_name {kind.value!r} scores token embeddings (multi-vector models, the reference's "
                f"MultiVectorEncoder); a SentenceTransformer uses one of {list(self.SUPPORTED_SIMILARITY_FN_NAMES)}. "
                "For late interaction, encode with output_value='token_embeddings' and score with util.maxsim"
            )
        self._similarity_fn_name = kind

    def _similarity_kind(self) -> SimilarityFunction:
        if self._similarity_fn_name is None:
            self._similarity_fn_name = SimilarityFunction.COSINE
        return self._similarity_fn_name

    def similarity(self, embeddings1: ArrayLike, embeddings2: ArrayLike) -> torch.Tensor:
        """Score every embedding of `embeddings1` against every one of `embeddings2` with `similarity_fn_name`.

        Args:
            embeddings1: Embeddings of shape (n, dim) or (dim,): a tensor, a numpy array or a list of lists.
            embeddings2: Embeddings of shape (m, dim) or (dim,), in the same forms.

        Returns:
            A float tensor of shape (n, m): entry (i, j) scores row i of `embeddings1` with row j of
            `embeddings2` by the model's similarity function ("cosine" unless the model or the caller set
            another; for "euclidean" and "manhattan" the negated distance, so higher means closer).
        """
        return SimilarityFunction.to_similarity_fn(self._similarity_kind())(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: ArrayLike, embeddings2: ArrayLike) -> torch.Tensor:
        """Score row i of `embeddings1` with row i of `embeddings2` only, with `similarity_fn_name`.

        Args:
            embeddings1: Embeddings of shape (n, dim): a tensor, a numpy array or a list of lists.
            embeddings2: Embeddings of the same shape.

        Returns:
            A float tensor of shape (n,), higher meaning more similar (as in `similarity`).
        """
        return SimilarityFunction.to_similarity_pairwise_fn(self._similarity_kind())(embeddings1, embeddings2)

    # ----- encoding ------------------------------------------------------------------------------

    def resolve_prompt(self, prompt: str | None = None, prompt_name: str | None = None) -> str | None:
        """The prompt `encode` applies: `prompt` beats `prompt_name`, which beats `default_prompt_name`.

        Args:
            prompt: A prompt text, or None.
            prompt_name: The name of one of the model's `prompts`, or None.

        Returns:
            The prompt text, or None for no prompt.

        Raises:
            ValueError: A `prompt_name` the model does not have.
        """
        return resolve_prompt(self.prompts, prompt, prompt_name, self.default_prompt_name)

    def prompt_length(self, prompt: str, task: str | None = None) -> int:
        """How many leading tokens of a prompted text are the prompt's (pooling can leave them out).

        Args:
            prompt: The prompt text.
            task: The Router route to count for; models without a Router ignore it. Default None.

        Returns:
            The prompt's token count, special tokens included.
        """
        return self.input_module_for(self.route_for(task)).prompt_length(prompt)

    def encode(
        self,
        inputs: str | list[str] | None = None,
        prompt_name: str | None = None,
        prompt: str | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        output_value: OutputValue = "sentence_embedding",
        precision: Precision = "float32",
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        device: str | list[str] | None = None,
        normalize_embeddings: bool = False,
        truncate_dim: int | None = None,
        pool: Any = None,
        chunk_size: int | None = None,
        cache: EmbeddingCache | None = None,
        chunking: Chunking | bool | int | dict | None = None,
        task: str | None = None,
        processing_kwargs: dict[str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> np.ndarray | torch.Tensor | list:
        """Embed one text (giving a 1-D result) or a list of texts (giving shape (n, dim)).

        Equal inputs are encoded once, and batches are sorted by length, so the order of `inputs` costs nothing;
        results come back in the order given. Post-processing runs in the order: truncate to `truncate_dim`,
        normalise, quantise to `precision`.

        Args:
            inputs: A text, a list of texts, a list of (text, text) pairs, or, for a model that reads images, PIL
                images (alone or in a list). Called `sentences` before sentence-transformers 6; that name still
                works, with a warning.
            prompt_name: The name of one of the model's `prompts` (e.g. "query") to put before every input.
                Ignored when `prompt` is given. Default None: the model's `default_prompt_name`, if any.
            prompt: A prompt to put before every input, e.g. "query: ". Beats `prompt_name`. Default None.
            batch_size: How many inputs go through the model at once (a positive int). Default 32.
            show_progress_bar: Show a progress bar over the batches. Default None: shown when logging is at
                INFO or more detailed.
            output_value: "sentence_embedding" (default) for one vector per input; "token_embeddings" for one
                tensor of shape (tokens, dim) per input, padding removed; None for one dict per input holding
                every per-input output of the model. The latter two always come as lists of tensors, whatever
                `convert_to_numpy` / `convert_to_tensor` say.
            precision: "float32" (default; None means the same), "int8", "uint8", "binary" or "ubinary": the
                embeddings quantised as by `sentembed.quantize_embeddings` (the binary ones pack 8 dimensions
                into a byte).
            convert_to_numpy: Return a numpy array (default True); False gives a list of 1-D tensors.
            convert_to_tensor: Return one torch tensor on the model's device (default False); beats
                `convert_to_numpy`.
            device: Where to encode: a device name such as "cpu" or "cuda:0" (the model moves there), or a list
                of them to encode in a pool of worker processes started for this call. Default None: the
                model's current device.
            normalize_embeddings: Scale each embedding to length 1, so that a dot product is the cosine
                similarity. Default False.
            truncate_dim: Keep only the first `truncate_dim` dimensions (for Matryoshka models), a positive
                int. Default None: the model's own `truncate_dim`, else every dimension.
            pool: A pool from `start_multi_process_pool()` to encode in. Default None: this process (or a pool
                on `device` when it is a list).
            chunk_size: With a pool, how many inputs each worker takes at a time (a positive int). Default None:
                a few chunks per worker.
            cache: An `EmbeddingCache`: inputs encoded before with the same model, prompt and settings are read
                from it instead of encoded, and new ones are written to it. Texts only, with output_value
                "sentence_embedding" or "token_embeddings". Default None.
            chunking: Split texts longer than the model reads into token windows and pool each text's window
                vectors into one: True (windows as long as the model reads, mean pooling), an int (tokens per
                window), a dict of `Chunking` fields, or a `Chunking`. Needs output_value "sentence_embedding".
                Default None (and False): the model truncates long texts.
            task: The route of a `Router` model to encode with ("query", "document", ...). Default None: the
                Router's default route; models without a Router ignore it.
            processing_kwargs: Options for this call's tokenizer call, by modality: {"text": {...}} (and
                {"common": {...}} for every modality), e.g. {"text": {"max_length": 64, "truncation": True}}.
                They override the model's own settings (such as `max_seq_length`); only a Transformer input
                module takes them. Default None.
            **kwargs: Extra keyword arguments the model's modules read in their forward pass (the names
                `get_model_kwargs()` lists); any other name is refused.

        Returns:
            For a single input, its embedding (1-D). For a list, a numpy array of shape (n, dim) (default), a
            tensor with `convert_to_tensor=True`, or a list of 1-D tensors with `convert_to_numpy=False`; the
            dtype follows `precision`. With output_value "token_embeddings" or None, a list with one tensor or
            dict per input.

        Raises:
            TypeError: An input that is not a text (or image, for a model that reads images), or a `cache` that
                is not an `EmbeddingCache`.
            ValueError: An unknown `output_value`, `precision` or `prompt_name`; a `batch_size`, `truncate_dim`
                or `chunk_size` that is not a positive int; a keyword argument the model does not read; `cache`
                or `chunking` with inputs or an output_value they cannot handle.
        """
        inputs = renamed_argument(inputs, kwargs, "sentences", "inputs", "encode()")
        precision = "float32" if precision is None else precision
        model_kwargs = encoding.check_model_kwargs(kwargs, self.get_model_kwargs())
        processing_kwargs = check_processing_kwargs(processing_kwargs)
        batch_size = encoding.check_encode_options(output_value, precision, truncate_dim, batch_size)
        cache = reuse.check_cache(cache, output_value)
        chunking = None if chunking is False else chunking
        if chunking is not None and output_value != "sentence_embedding":
            raise ValueError(
                "chunking pools chunk vectors into sentence embeddings; use output_value='sentence_embedding'"
            )
        texts, was_string = encoding.check_inputs(inputs, self.modalities)
        if (cache is not None or chunking is not None) and not all(isinstance(text, str) for text in texts):
            raise ValueError("cache and chunking work on texts only; encode images without them")
        in_pool = pool is not None or isinstance(device, (list, tuple))
        if device is not None and not in_pool:
            self.to(check_device(device))
        truncate_dim = truncate_dim if truncate_dim is not None else self.truncate_dim
        prompt = self.resolve_prompt(prompt, prompt_name)
        if output_value != "sentence_embedding":
            convert_to_numpy = convert_to_tensor = False

        if not texts:
            return self._empty_result(output_value, truncate_dim, convert_to_numpy, convert_to_tensor)
        chunked = None
        if chunking is not None:
            chunked = reuse.ChunkedTexts.split(self, texts, chunking, prompt)
            texts = chunked.texts
        texts = encoding.with_prompt(prompt, texts)
        route = self.route_for(task)
        extra_features: dict[str, Any] = {"prompt_length": self.prompt_length(prompt, route)} if prompt else {}
        if route is not None:
            extra_features["task"] = route

        unique_texts, inverse = encoding.deduplicate_inputs(texts)
        request = EncodeRequest(unique_texts, batch_size, output_value, extra_features, model_kwargs, processing_kwargs)

        def run(request: EncodeRequest) -> Any:
            if in_pool:
                return multiprocess.encode_in_pool(self, request, pool, device, chunk_size)
            return self.encode_unique(request, show_progress_bar)

        if cache is not None:
            parts = reuse.cache_key_parts(self, prompt, output_value, route, processing_kwargs)
            outputs = reuse.encode_through_cache(cache, parts, request, run)
        else:
            outputs = run(request)

        if output_value == "sentence_embedding":
            embeddings = outputs[inverse]
            if chunked is not None:
                embeddings = chunked.pool(embeddings)
            embeddings = encoding.postprocess(embeddings, truncate_dim, normalize_embeddings)
            result = encoding.shape_sentence_embeddings(embeddings, precision, convert_to_numpy, convert_to_tensor)
        else:
            result = [outputs[index] for index in inverse]
            if output_value is None:
                result = encoding.truncate_output_dicts(result, truncate_dim)
        return result[0] if was_string else result

    def _empty_result(
        self, output_value: OutputValue, truncate_dim: int | None, convert_to_numpy: bool, convert_to_tensor: bool
    ) -> np.ndarray | torch.Tensor | list:
        if output_value != "sentence_embedding":
            return []
        dimension = self.get_embedding_dimension() or 0
        if truncate_dim is not None:
            dimension = min(dimension, truncate_dim)
        if convert_to_tensor:
            return torch.empty((0, dimension), device=self.device)
        return np.empty((0, dimension), dtype=np.float32) if convert_to_numpy else []

    @torch.inference_mode()
    def encode_unique(self, request: EncodeRequest, show_progress_bar: bool | None = False) -> torch.Tensor | list:
        """The raw model outputs for distinct texts, in their order; `encode` does the rest.

        Batches are length-sorted under the device's token budget.

        Args:
            request: The distinct texts and how to encode them (batch size, output value, extra features,
                model and processing keyword arguments).
            show_progress_bar: Show progress over the batches; None decides from logging. Default False.

        Returns:
            A tensor of sentence embeddings, or one item per text for the other output values.
        """
        self.eval()
        input_module = self.input_module_for(request.extra_features.get("task"))
        if request.texts and all(isinstance(item, tuple) for item in request.texts):
            rows, truncated = self.tokenize_pair_rows(input_module, request.texts, request.processing_kwargs)
        else:
            tokenize = with_processing_kwargs(input_module.tokenize_unpadded, request.processing_kwargs)
            rows, truncated = tokenize(request.texts)
        if truncated:
            logger.warning(
                "%d of %d texts were longer than max_seq_length=%s tokens and were truncated.",
                truncated,
                len(request.texts),
                input_module.max_seq_length,
            )
        if request.output_value == "sentence_embedding":
            return self.embed_rows(
                rows, request.batch_size, request.extra_features, show_progress_bar, request.model_kwargs
            )
        batching = (rows, request.batch_size, input_module.pad, self.device)
        collected: list = [None] * len(rows)
        for batch, features in sorted_batches(*batching, show_progress_bar):
            out = self({**features, **request.extra_features}, **request.model_kwargs)
            if request.output_value == "token_embeddings":
                if "token_embeddings" not in out or "attention_mask" not in out:
                    raise ValueError(
                        f"output_value='token_embeddings' needs token vectors, which {type(input_module).__name__} "
                        "does not produce; use output_value='sentence_embedding'"
                    )
                per_text = encoding.strip_padding(out["token_embeddings"], out["attention_mask"])
            else:
                per_text = [
                    {
                        **{
                            name: value[position]
                            for name, value in out.items()
                            if isinstance(value, torch.Tensor) and value.dim() > 0
                        },
                        **encoding.row_facts(request.texts[index], request.extra_features),
                    }
                    for position, index in enumerate(batch)
                ]
            for index, item in zip(batch, per_text, strict=True):
                collected[index] = item
        return collected

    @torch.inference_mode()
    def embed_rows(
        self,
        rows: list[Row],
        batch_size: int = 32,
        extra_features: dict[str, Any] | None = None,
        show_progress_bar: bool | None = False,
        model_kwargs: dict[str, Any] | None = None,
        executor: Executor | None = None,
    ) -> torch.Tensor:
        """Raw sentence embeddings of token rows from `input_module.tokenize_unpadded`, in their order.

        The server tokenizes each request as it arrives and runs the rows of many requests through one call.

        Args:
            rows: Unpadded token rows (column name -> token ids).
            batch_size: The requested batch size. Default 32.
            extra_features: Features added to each batch's (e.g. "prompt_length", "task"). Default None.
            show_progress_bar: Show progress over the batches; None decides from logging. Default False.
            model_kwargs: Keyword arguments for the modules that read them. Default None.
            executor: Threads that run the batches at once (the server's lanes). Default None: one by one.

        Returns:
            A (len(rows), dim) tensor of sentence embeddings, before truncation and normalisation.
        """
        self.eval()
        extra_features = extra_features or {}
        model_kwargs = model_kwargs or {}

        def sentence_embeddings(features: dict[str, torch.Tensor]) -> torch.Tensor:
            return self({**features, **extra_features}, **model_kwargs)["sentence_embedding"]

        pad = self.input_module_for(extra_features.get("task")).pad
        return run_in_sorted_batches(
            rows, batch_size, pad, self.device, sentence_embeddings, show_progress_bar, executor=executor
        )

    def start_multi_process_pool(
        self, target_devices: list[str] | None = None, chunk_timeout: float = multiprocess.DEFAULT_CHUNK_TIMEOUT_S
    ) -> multiprocess.MultiProcessPool:
        """Start worker processes with a copy of this model each, for `encode(..., pool=pool)`.

        Close the pool with `stop_multi_process_pool(pool)` (or use it as a context manager).

        Args:
            target_devices: One device per worker, e.g. ["cuda:0", "cuda:1"]. Default None: every CUDA GPU, else
                a few CPU workers.
            chunk_timeout: Seconds a worker may hold a chunk before it is killed and the chunk encoded by another.

        Returns:
            The pool.

        Raises:
            TypeError: `target_devices` that is not a list of names.
            ValueError: An empty list, a device that does not exist here, or a `chunk_timeout` that is not positive.
        """
        return multiprocess.MultiProcessPool(self, target_devices, chunk_timeout)

    @staticmethod
    def stop_multi_process_pool(pool: multiprocess.MultiProcessPool) -> None:
        """Stop the pool's workers and release what they hold.

        Args:
            pool: A pool from `start_multi_process_pool`.
        """
        pool.close()

    def encode_multi_process(
        self, sentences: list[str], pool: multiprocess.MultiProcessPool, **kwargs: Any
    ) -> np.ndarray | torch.Tensor | list:
        """`encode` in a pool started by `start_multi_process_pool` (the older way to say `encode(pool=pool)`).

        Args:
            sentences: The texts.
            pool: The pool.
            **kwargs: Any other argument of `encode`.

        Returns:
            The embeddings, shaped as `encode` returns them.
        """
        return self.encode(sentences, pool=pool, **kwargs)

    def encode_query(self, inputs: str | list[str] | None = None, **kwargs: Any) -> np.ndarray | torch.Tensor | list:
        """Embed search queries: `encode` with the model's "query" prompt and task.

        Use it for what you search with and `encode_document` for what you search in: a model trained with
        query and document prompts (or a Router with "query" and "document" routes) embeds each side its own way.
        Without a "query" prompt no prompt is used (not even `default_prompt_name`).

        Args:
            inputs: A text or a list of texts (as in `encode`; `sentences` still works, with a warning).
            **kwargs: Any other argument of `encode` (`batch_size`, `convert_to_tensor`, `normalize_embeddings`,
                ...). A `prompt` or `prompt_name` given here beats the "query" prompt; a `task` beats "query".

        Returns:
            The embeddings, shaped as `encode` returns them.

        Raises:
            TypeError: As `encode` does, for inputs that are not texts.
            ValueError: As `encode` does, for arguments it refuses.
        """
        inputs = renamed_argument(inputs, kwargs, "sentences", "inputs", "encode_query()")
        return self._encode_with_role(("query",), inputs, kwargs)

    def encode_document(self, inputs: str | list[str] | None = None, **kwargs: Any) -> np.ndarray | torch.Tensor | list:
        """Embed the documents searched in: `encode` with the model's document prompt and the "document" task.

        The prompt is the model's "document" one, else its "passage" or "corpus" one; without any of them no
        prompt is used (not even `default_prompt_name`). See `encode_query` for the other side.

        Args:
            inputs: A text or a list of texts (as in `encode`; `sentences` still works, with a warning).
            **kwargs: Any other argument of `encode`. A `prompt` or `prompt_name` given here beats the document
                prompt; a `task` beats "document".

        Returns:
            The embeddings, shaped as `encode` returns them.

        Raises:
            TypeError: As `encode` does, for inputs that are not texts.
            ValueError: As `encode` does, for arguments it refuses.
        """
        inputs = renamed_argument(inputs, kwargs, "sentences", "inputs", "encode_document()")
        return self._encode_with_role(DOCUMENT_PROMPT_NAMES, inputs, kwargs)

    def _encode_with_role(self, prompt_names: tuple[str, ...], inputs: Any, kwargs: dict[str, Any]) -> Any:
        """`encode` with the role's prompt and its task (the first prompt name: "query" or "document").

        `encode` is called with keywords only (`inputs=`, `prompt=`, `prompt_name=`, `task=`, then the caller's
        other options), so a subclass overriding `encode` receives the v6 argument names.
        """
        kwargs.setdefault("task", prompt_names[0])
        prompt = kwargs.pop("prompt", None)
        prompt_name = kwargs.pop("prompt_name", None)
        if prompt is None and prompt_name is None:
            prompt_name = next((name for name in prompt_names if name in self.prompts), None)
        return self.encode(inputs=inputs, prompt=prompt, prompt_name=prompt_name, **kwargs)

    # ----- training ------------------------------------------------------------------------------

    def evaluate(self, evaluator: Any, output_path: str | None = None) -> dict[str, float]:
        """Run an evaluator (see `sentembed.evaluation`) on this model.

        Args:
            evaluator: The evaluator, called with this model.
            output_path: A folder where the evaluator writes its results (created when missing). Default None.

        Returns:
            The evaluator's metrics, name -> value.
        """
        if output_path is not None:
            os.makedirs(output_path, exist_ok=True)
        return evaluator(self, output_path=output_path)

    def fit(self, train_objectives: list, **kwargs: Any) -> None:
        """Train with the legacy API (it runs the trainer underneath).

        Args:
            train_objectives: (DataLoader, loss) pairs, trained in turn.
            **kwargs: The other arguments of the legacy `fit` (`epochs`, `warmup_steps`, `evaluator`,
                `output_path`, ...); see `sentembed.training.fit.fit`.
        """
        from sentembed.training.fit import fit

        fit(self, train_objectives, **kwargs)

    # ----- saving --------------------------------------------------------------------------------

    def save(
        self,
        path: str | os.PathLike,
        model_name: str | None = None,
        create_model_card: bool = True,
        train_datasets: list[str] | None = None,
        safe_serialization: bool = True,
    ) -> None:
        """Write the model as a standard folder that both sentembed and sentence-transformers load.

        Args:
            path: The folder (created when missing); None writes nothing, as the reference does.
            model_name: The name the model card uses. Default None: from the folder's name.
            create_model_card: Write README.md, the model card. Default True.
            train_datasets: Names of the datasets trained on, for the model card. Default None.
            safe_serialization: Write weights as safetensors (True, default) rather than pickled torch files.
        """
        if path is None:
            return
        folder = Path(path)
        save_modules(list(self), folder, safe_serialization=safe_serialization)
        ModelConfig(self.prompts, self.default_prompt_name, self.similarity_fn_name, self.truncate_dim).write(folder)
        if create_model_card:
            write_model_card(self, folder, model_name, train_datasets)

    save_pretrained = save


def check_pair(pair: Any, name: str) -> tuple[str, str]:
    """A (text, text) pair as a tuple; TypeError naming `name` for anything else."""
    if not isinstance(pair, (list, tuple)) or len(pair) != 2:
        raise TypeError(f"{name} must be a (text, text) pair, got {pair!r}")
    return check_text(pair[0], f"{name}[0]"), check_text(pair[1], f"{name}[1]")


def old_token_name(token: bool | str | None, use_auth_token: bool | str | None) -> bool | str | None:
    """`use_auth_token` is the pre-v3 name of `token`."""
    if use_auth_token is None:
        return token
    if token is not None:
        raise ValueError(
            "Both `token` and `use_auth_token` were given; pass only `token` (use_auth_token is deprecated)"
        )
    warnings.warn("use_auth_token is deprecated; use token instead", FutureWarning, stacklevel=3)
    return use_auth_token


def merge_prompts(given: dict[str, str] | None, saved: dict[str, str]) -> dict[str, str]:
    """The prompts a model starts with: "query" and "document" first, the caller's over the saved ones, and ""
    for any prompt that neither sets (the reference's defaults and order)."""
    merged: dict[str, str | None] = {"query": None, "document": None, **(given or {})}
    for name, text in saved.items():
        if merged.get(name) is None:
            merged[name] = text
    return {name: "" if text is None else text for name, text in merged.items()}


def _module_dimension(module: nn.Module) -> int | None:
    """A module's output dimension, under any of the names the reference's modules have used for it."""
    for name in ("get_embedding_dimension", "get_sentence_embedding_dimension", "get_word_embedding_dimension"):
        method = getattr(module, name, None)
        if callable(method):
            return method()
    return None
