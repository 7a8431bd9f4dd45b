"""StaticEmbedding: one trained vector per token, averaged; a lookup table instead of a transformer."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import PreTrainedTokenizerFast

from sentembed.common.types import Features, Row
from sentembed.models.base import load_state_dict, save_state_dict
from sentembed.models.distillation import DEFAULT_REMOVE_PATTERN, check_distill_options, distill
from sentembed.models.input_module import InputModule

TOKENIZER_FILE = "tokenizer.json"


class StaticEmbedding(InputModule):
    """Mean of per-token vectors (an `EmbeddingBag`), with no length limit; outputs `sentence_embedding`.

    `tokenizer` is a fast tokenizer (`tokenizers.Tokenizer` or a transformers fast tokenizer); give
    `embedding_weights` (vocabulary size x dimension) or `embedding_dim` for randomly initialised vectors.

    Args:
        tokenizer: A `tokenizers.Tokenizer` or a transformers fast tokenizer.
        embedding_weights: The (vocabulary size, dim) table. Default None.
        embedding_dim: The dimension of a random table, when no weights are given. Default None.
        **kwargs: `base_model`, the name recorded for the model card; other keys are ignored.

    Raises:
        TypeError: A tokenizer that is not a fast one.
        ValueError: Neither weights nor a dimension, or a table that is not 2-D, holds NaN or inf, or lacks rows
            for some token ids.
    """

    def __init__(
        self,
        tokenizer: Tokenizer | PreTrainedTokenizerFast,
        embedding_weights: np.ndarray | torch.Tensor | None = None,
        embedding_dim: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if isinstance(tokenizer, PreTrainedTokenizerFast):
            tokenizer = tokenizer.backend_tokenizer
        if not isinstance(tokenizer, Tokenizer):
            raise TypeError(
                f"StaticEmbedding needs a fast tokenizer (tokenizers.Tokenizer), got {type(tokenizer).__name__}"
            )
        if embedding_weights is not None:
            weights = torch.as_tensor(np.asarray(embedding_weights, dtype=np.float32))
            if weights.dim() != 2:
                raise ValueError(f"embedding_weights must be 2-D (vocabulary x dimension), got {tuple(weights.shape)}")
            check_table(weights, tokenizer)
            self.embedding = nn.EmbeddingBag.from_pretrained(weights.float(), freeze=False)
        elif embedding_dim is not None:
            self.embedding = nn.EmbeddingBag(tokenizer.get_vocab_size(), embedding_dim)
        else:
            raise ValueError("StaticEmbedding needs embedding_weights or embedding_dim")
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.tokenizer = tokenizer
        self.base_model = kwargs.get("base_model")

    @property
    def max_seq_length(self) -> float:
        """No limit: every token of a text counts."""
        return math.inf

    @property
    def embedding_dim(self) -> int:
        return self.embedding.embedding_dim

    def get_sentence_embedding_dimension(self) -> int:
        """The embeddings' size.

        Returns:
            The dimension.
        """
        return self.embedding_dim

    get_embedding_dimension = get_sentence_embedding_dimension

    def tokenize_unpadded(self, texts: list[str]) -> tuple[list[Row], int]:
        encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
        return [{"input_ids": encoding.ids} for encoding in encodings], 0

    def pad(self, rows: list[Row]) -> dict[str, torch.Tensor]:
        """The bag input: every row's ids end to end, and the offset where each row starts.

        Args:
            rows: Token rows from `tokenize_unpadded`.

        Returns:
            {"input_ids": flat ids, "offsets": where each row starts}.
        """
        lengths = [len(row["input_ids"]) for row in rows]
        offsets = torch.tensor([0, *np.cumsum(lengths[:-1]).tolist()] if rows else [], dtype=torch.long)
        input_ids = torch.tensor([token for row in rows for token in row["input_ids"]], dtype=torch.long)
        return {"input_ids": input_ids, "offsets": offsets}

    def prompt_length(self, prompt: str) -> int:
        """No special tokens are added, so every token of the prompt is the prompt's.

        Args:
            prompt: The prompt text.

        Returns:
            Its token count.
        """
        return len(self.tokenize_unpadded([prompt])[0][0]["input_ids"])

    def forward(self, features: Features) -> Features:
        """Average each text's token vectors.

        Args:
            features: The batch from `pad`.

        Returns:
            The features, with "sentence_embedding" set.
        """
        features["sentence_embedding"] = self.embedding(features["input_ids"], features["offsets"])
        return features

    def save(self, output_path: str, safe_serialization: bool = True) -> None:
        """Write `model.safetensors` (the `embedding.weight` table) and `tokenizer.json`, as the reference does.

        Args:
            output_path: The module's folder (created when missing).
            safe_serialization: Write the table as safetensors. Default True.
        """
        os.makedirs(output_path, exist_ok=True)
        save_state_dict(self, output_path, safe_serialization=safe_serialization)
        self.tokenizer.save(str(Path(output_path) / TOKENIZER_FILE))

    @classmethod
    def from_model2vec(cls, path: str | os.PathLike, **kwargs: Any) -> StaticEmbedding:
        """Read a model2vec folder: `tokenizer.json`, and `model.safetensors` with `embeddings` and, for
        vocabulary-quantized models, `mapping` (token id -> row) and `weights` (one per token), which are folded
        in so that token t's vector is `embeddings[mapping[t]] * weights[t]`. Normalise with a Normalize module
        after it when the folder's config.json says `"normalize": true`.

        Args:
            path: The model2vec folder.
            **kwargs: Ignored (the reference's loading options).

        Returns:
            The module.

        Raises:
            OSError: A missing file, or arrays that do not fit the tokenizer.
        """
        folder = Path(path)
        tokenizer_path = folder / TOKENIZER_FILE
        weights_path = folder / "model.safetensors"
        for required in (tokenizer_path, weights_path):
            if not required.is_file():
                raise OSError(f"{required} is missing: a model2vec folder holds tokenizer.json and model.safetensors")
        tokenizer = read_tokenizer(tokenizer_path)
        arrays = load_state_dict(folder)
        table = fold_model2vec_arrays(arrays, tokenizer.get_vocab_size(), weights_path)
        return _named(weights_path, lambda: cls(tokenizer, embedding_weights=table, base_model=str(folder)))

    # Loads a teacher given by name for `from_distillation`: set to SentenceTransformer by the model class's package
    # (models/ sits below it and does not import it).
    teacher_loader: Any = None

    @classmethod
    def load_teacher(cls, name_or_path: str, device: str | None) -> Any:
        """The SentenceTransformer `name_or_path` names, loaded through `teacher_loader`.

        Args:
            name_or_path: A model name or folder.
            device: Where it runs; None for the best available.

        Returns:
            The loaded model.

        Raises:
            RuntimeError: `teacher_loader` was never set (sentembed was not imported).
        """
        if cls.teacher_loader is None:
            raise RuntimeError("import sentembed (it sets StaticEmbedding.teacher_loader) to distil a model by name")
        return cls.teacher_loader(name_or_path, device=device)

    @classmethod
    def from_distillation(
        cls,
        model: Any,
        pca_dims: int | None = 256,
        apply_zipf: bool = True,
        sif_coefficient: float | None = 1e-4,
        token_remove_pattern: str | None = DEFAULT_REMOVE_PATTERN,
        batch_size: int = 1024,
        show_progress_bar: bool | None = None,
        device: str | None = None,
        **kwargs: Any,
    ) -> StaticEmbedding:
        """Distil a static model from a sentence transformer: every vocabulary token through the model, PCA to
        `pca_dims`, SIF weights by token rank. Needs a fast tokenizer.

        Args:
            model: a loaded SentenceTransformer, or its name or folder (such as "all-MiniLM-L6-v2" or
                "BAAI/bge-base-en-v1.5"), loaded as `SentenceTransformer(model, device=device)` would load it.
            pca_dims: the dimension of the token vectors (None keeps the model's).
            apply_zipf: weigh each token vector by its rank (SIF weights).
            sif_coefficient: the SIF weights' coefficient (None: no weights).
            token_remove_pattern: tokens matching this regular expression get zero vectors.
            batch_size: tokens per forward pass.
            show_progress_bar: show a progress bar (None: when logging is at INFO or below).
            device: where a model given by name runs (a loaded model stays where it is).
            kwargs: the reference's other options (vocabulary, quantize_to), which are ignored.

        Returns:
            The distilled module.

        Raises:
            TypeError: A model without a fast tokenizer.
            ValueError: Options out of range.
        """
        if isinstance(model, (str, os.PathLike)):
            check_distill_options(pca_dims, sif_coefficient, token_remove_pattern, batch_size)
            model = cls.load_teacher(os.fspath(model), device)
        tokenizer = getattr(model.tokenizer, "backend_tokenizer", None)
        if tokenizer is None:
            raise TypeError("from_distillation needs a model with a fast (tokenizers-backed) tokenizer")
        table = distill(
            model, pca_dims, apply_zipf, sif_coefficient, token_remove_pattern, batch_size, show_progress_bar
        )
        return cls(
            Tokenizer.from_str(tokenizer.to_str()),
            embedding_weights=table,
            base_model=str(getattr(model, "model_path", None)),
        )

    @classmethod
    def load(cls, input_path: str, **kwargs: Any) -> StaticEmbedding:
        """Read `tokenizer.json` and the `embedding.weight` table from a module folder (or model2vec's arrays).

        Args:
            input_path: The module's folder.
            **kwargs: Ignored (loading options other modules take).

        Returns:
            The module.

        Raises:
            OSError: A missing or damaged tokenizer or weights file.
        """
        tokenizer_path = Path(input_path) / TOKENIZER_FILE
        if not tokenizer_path.is_file():
            raise OSError(f"{tokenizer_path} is missing: a StaticEmbedding folder holds its tokenizer.json")
        weights = load_state_dict(input_path)
        tokenizer = read_tokenizer(tokenizer_path)
        source = Path(input_path) / "model.safetensors"
        if "embedding.weight" in weights:
            return _named(source, lambda: cls(tokenizer, embedding_weights=weights["embedding.weight"]))
        table = fold_model2vec_arrays(weights, tokenizer.get_vocab_size(), source)
        return _named(source, lambda: cls(tokenizer, embedding_weights=table))


def read_tokenizer(path: Path) -> Tokenizer:
    """A `tokenizer.json`; one the tokenizers library cannot read is an OSError naming it."""
    try:
        return Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises a bare Exception for a file it cannot parse
        raise OSError(f"{path} is not a tokenizer the tokenizers library can read: {error}") from error


def _named(source: Path, build: Callable[[], StaticEmbedding]) -> StaticEmbedding:
    """Build the module, turning a table the tokenizer does not fit into an OSError naming the weights file."""
    try:
        return build()
    except ValueError as error:
        raise OSError(f"{source}: {error}") from error


def check_table(table: torch.Tensor, tokenizer: Tokenizer) -> None:
    """Refuse a table that holds NaN or inf, or has no row for some of the tokenizer's token ids (found at load,
    not when a text first uses such a token)."""
    if not bool(torch.isfinite(table).all()):
        raise ValueError("the token vectors hold NaN or inf")
    largest_id = max(tokenizer.get_vocab(with_added_tokens=True).values(), default=-1)
    if largest_id >= len(table):
        raise ValueError(
            f"the table has {len(table)} rows but the tokenizer gives token ids up to {largest_id}; "
            "every token id needs a row"
        )


def fold_model2vec_arrays(arrays: dict[str, torch.Tensor], vocabulary: int, source: Path) -> torch.Tensor:
    """One float32 row per token id from model2vec's `embeddings`, optional `mapping` and `weights`, refusing
    missing or mis-shaped arrays with an error that names the array and the file."""
    if "embeddings" not in arrays:
        raise OSError(f"{source} holds no 'embeddings' array (it has {sorted(arrays)})")
    embeddings = arrays["embeddings"]
    if embeddings.dim() != 2 or not embeddings.is_floating_point():
        raise OSError(
            f"{source}: 'embeddings' must be a 2-D float array, got {embeddings.dtype} {tuple(embeddings.shape)}"
        )
    if not bool(torch.isfinite(embeddings).all()):
        raise OSError(f"{source}: 'embeddings' holds NaN or inf")
    mapping = arrays.get("mapping")
    if mapping is not None:
        if mapping.dim() != 1 or len(mapping) != vocabulary:
            raise OSError(
                f"{source}: 'mapping' must hold one row index per token ({vocabulary}), got {tuple(mapping.shape)}"
            )
        if len(mapping) and (int(mapping.min()) < 0 or int(mapping.max()) >= len(embeddings)):
            raise OSError(f"{source}: 'mapping' points outside the {len(embeddings)} rows of 'embeddings'")
        embeddings = embeddings[mapping.long()]
    elif len(embeddings) != vocabulary:
        raise OSError(f"{source}: 'embeddings' has {len(embeddings)} rows for a tokenizer of {vocabulary} tokens")
    table = embeddings.float()
    token_weights = arrays.get("weights")
    if token_weights is not None:
        if token_weights.dim() != 1 or len(token_weights) != vocabulary:
            raise OSError(
                f"{source}: 'weights' must hold one weight per token ({vocabulary}), got {tuple(token_weights.shape)}"
            )
        if not bool(torch.isfinite(token_weights).all()):
            raise OSError(f"{source}: 'weights' holds NaN or inf")
        table = table * token_weights.float()[:, None]
    return table.contiguous()
