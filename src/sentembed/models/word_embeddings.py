"""WordEmbeddings: a table of word vectors (GloVe, word2vec text files) looked up word by word."""

from __future__ import annotations

import gzip
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sentembed.common.checks import check_positive_int
from sentembed.common.files import read_json_object, write_json
from sentembed.common.types import KNOWN_MODULE_PREFIXES, Features, Row
from sentembed.models.base import load_state_dict, save_state_dict
from sentembed.models.input_module import InputModule
from sentembed.models.word_tokenizer import WhitespaceTokenizer

logger = logging.getLogger(__name__)

PADDING_TOKEN = "PADDING_TOKEN"
# The tokenizer class path we write: the one every reference version reads (v6 itself writes
# sentence_transformers.sentence_transformer.modules.tokenizer.whitespace.WhitespaceTokenizer, and reads both).
WHITESPACE_TOKENIZER_CLASS = "sentence_transformers.models.tokenizer.WhitespaceTokenizer.WhitespaceTokenizer"


def _tokenizer_class(name: str) -> type[WhitespaceTokenizer]:
    """The tokenizer a saved `tokenizer_class` names: only the whitespace tokenizer is supported."""
    if name.startswith(KNOWN_MODULE_PREFIXES) and name.rsplit(".", 1)[-1] == "WhitespaceTokenizer":
        return WhitespaceTokenizer
    raise ValueError(f"unsupported WordEmbeddings tokenizer_class {name!r}; sentembed reads WhitespaceTokenizer")


def _open_text(path: Path) -> Any:
    return gzip.open(path, "rt", encoding="utf8") if path.suffix == ".gz" else open(path, encoding="utf8")


def _is_word2vec_header(parts: list[str]) -> bool:
    return len(parts) == 2 and all(part.isdigit() for part in parts)


def _read_vectors(path: Path, separator: str, max_vocab_size: int | None) -> Iterator[tuple[str, list[str]]]:
    """(word, values) per line, skipping blank lines and a word2vec header line."""
    with _open_text(path) as lines:
        read = 0
        for number, line in enumerate(lines):
            parts = line.rstrip("\n").rstrip().split(separator)
            if not line.strip() or (number == 0 and _is_word2vec_header(parts)):
                continue
            if max_vocab_size is not None and read >= max_vocab_size:
                return
            read += 1
            yield parts[0], parts[1:]


def _vector(values: list[str], word: str, path: Path) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float32)
    except ValueError:
        raise ValueError(f"{path}: the vector of {word!r} holds a value that is not a number") from None


class WordEmbeddings(InputModule):
    """Token embeddings from a word-vector table, with a `WhitespaceTokenizer`; row 0 is the padding vector.

    Args:
        tokenizer: The tokenizer, whose vocabulary matches the table's rows.
        embedding_weights: The (vocabulary size, dim) table.
        update_embeddings: Train the table too. Default False.
        max_seq_length: The most tokens a text keeps. Default 1000000.

    Raises:
        ValueError: A table that is not 2-D or does not match the vocabulary, or a max_seq_length that is not a
            positive int.
    """

    config_file_name = "wordembedding_config.json"
    save_in_root = True

    def __init__(
        self,
        tokenizer: WhitespaceTokenizer,
        embedding_weights: Any,
        update_embeddings: bool = False,
        max_seq_length: int = 1000000,
    ) -> None:
        super().__init__()
        weights = torch.as_tensor(np.asarray(embedding_weights, dtype=np.float32))
        if weights.dim() != 2:
            raise ValueError(f"embedding_weights must be 2-D (vocabulary x dimension), got {tuple(weights.shape)}")
        if len(tokenizer.get_vocab()) != len(weights):
            raise ValueError(
                f"the tokenizer has {len(tokenizer.get_vocab())} words but embedding_weights has {len(weights)} rows"
            )
        self.emb_layer = nn.Embedding.from_pretrained(weights, freeze=not update_embeddings)
        self.tokenizer = tokenizer
        self.update_embeddings = update_embeddings
        self._max_seq_length = check_positive_int(max_seq_length, "max_seq_length")

    @property
    def max_seq_length(self) -> int:
        return self._max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self._max_seq_length = check_positive_int(value, "max_seq_length")

    def get_word_embedding_dimension(self) -> int:
        """The word vectors' size.

        Returns:
            The dimension.
        """
        return self.emb_layer.embedding_dim

    get_embedding_dimension = get_word_embedding_dimension

    def tokenize_unpadded(self, texts: list[str]) -> tuple[list[Row], int]:
        ids = [self.tokenizer.tokenize(text) for text in texts]
        cut = sum(len(row) > self.max_seq_length for row in ids)
        return [{"input_ids": row[: self.max_seq_length]} for row in ids], cut

    def pad(self, rows: list[Row]) -> dict[str, torch.Tensor]:
        """Pad with id 0 to the longest row (at least one position), with each row's length.

        Args:
            rows: Token rows from `tokenize_unpadded`.

        Returns:
            "input_ids", "attention_mask" and "sentence_lengths" tensors.
        """
        lengths = [len(row["input_ids"]) for row in rows]
        width = max([1, *lengths])
        input_ids = [row["input_ids"] + [0] * (width - len(row["input_ids"])) for row in rows]
        mask = [[1] * length + [0] * (width - length) for length in lengths]
        return {
            "input_ids": torch.tensor(input_ids, dtype=torch.long),
            "attention_mask": torch.tensor(mask, dtype=torch.long),
            "sentence_lengths": torch.tensor(lengths, dtype=torch.long),
        }

    def prompt_length(self, prompt: str) -> int:
        """No special tokens are added, so every word of the prompt is the prompt's.

        Args:
            prompt: The prompt text.

        Returns:
            Its token count.
        """
        return len(self.tokenize_unpadded([prompt])[0][0]["input_ids"])

    def forward(self, features: Features) -> Features:
        """Look up each token's vector.

        Args:
            features: The batch's features, from the modules before.

        Returns:
            The features, with "token_embeddings" set.
        """
        features["token_embeddings"] = self.emb_layer(features["input_ids"])
        return features

    def get_config_dict(self) -> dict[str, Any]:
        return {
            "tokenizer_class": WHITESPACE_TOKENIZER_CLASS,
            "update_embeddings": self.update_embeddings,
            "max_seq_length": self.max_seq_length,
        }

    def save(self, output_path: str, safe_serialization: bool = True) -> None:
        """Write `wordembedding_config.json`, `whitespacetokenizer_config.json` and the `emb_layer.weight` table.

        Args:
            output_path: The module's folder (created when missing).
            safe_serialization: Write the table as safetensors. Default True.
        """
        os.makedirs(output_path, exist_ok=True)
        write_json(Path(output_path) / self.config_file_name, self.get_config_dict())
        save_state_dict(self, output_path, safe_serialization)
        self.tokenizer.save(output_path)

    @classmethod
    def load(cls, input_path: str, **kwargs: Any) -> WordEmbeddings:
        config_path = Path(input_path) / cls.config_file_name
        if not config_path.is_file():
            raise OSError(f"{config_path} is missing: a WordEmbeddings folder holds its settings there")
        config = read_json_object(config_path)
        tokenizer = _tokenizer_class(config.get("tokenizer_class", WHITESPACE_TOKENIZER_CLASS)).load(input_path)
        weights = load_state_dict(input_path)
        if "emb_layer.weight" not in weights:
            raise OSError(f"the weights in {input_path} hold no 'emb_layer.weight' table (they have {sorted(weights)})")
        return cls(
            tokenizer,
            weights["emb_layer.weight"],
            update_embeddings=config.get("update_embeddings", False),
            max_seq_length=config.get("max_seq_length", 1000000),
        )

    @classmethod
    def from_text_file(
        cls,
        embeddings_file_path: str,
        update_embeddings: bool = False,
        item_separator: str = " ",
        tokenizer: WhitespaceTokenizer | None = None,
        max_vocab_size: int | None = None,
    ) -> WordEmbeddings:
        """Read a GloVe-style text file (`word v1 v2 ...` per line, optionally gzipped); a line whose vector has
        another dimension than the first one's is skipped with an error logged.

        Args:
            embeddings_file_path: The file.
            update_embeddings: Train the table too. Default False.
            item_separator: What separates a line's items. Default " ".
            tokenizer: The tokenizer to give the file's vocabulary to. Default None: a new WhitespaceTokenizer.
            max_vocab_size: Read at most this many words. Default None: all.

        Returns:
            The module.

        Raises:
            OSError: A missing file.
            ValueError: A file without word vectors, or a max_vocab_size that is not a positive int.
        """
        path = Path(embeddings_file_path)
        if not path.is_file():
            raise OSError(f"embeddings file {path} does not exist")
        check_positive_int(max_vocab_size, "max_vocab_size", optional=True)
        vocab, vectors = [PADDING_TOKEN], []
        for word, values in _read_vectors(path, item_separator, max_vocab_size):
            if vectors and len(values) != len(vectors[0]):
                logger.error("%s: %r has %d values, expected %d; skipped", path, word, len(values), len(vectors[0]))
                continue
            vocab.append(word)
            vectors.append(_vector(values, word, path))
        if not vectors:
            raise ValueError(f"{path} holds no word vectors")
        table = np.vstack([np.zeros_like(vectors[0]), *vectors])
        tokenizer = tokenizer if tokenizer is not None else WhitespaceTokenizer()
        tokenizer.set_vocab(vocab)
        return cls(tokenizer, table, update_embeddings=update_embeddings)
