"""Transformer: a Hugging Face encoder and its tokenizer, producing token embeddings."""

from __future__ import annotations

import logging
import os
import pickle
import reprlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModel, AutoTokenizer, PretrainedConfig

from sentembed.common.checks import check_positive_int, is_integer
from sentembed.common.files import read_json_object, write_json
from sentembed.common.types import Features, Pair, Row
from sentembed.models.adapters import adapter_base_model, adapter_names, load_adapter, save_adapter
from sentembed.models.base import Module
from sentembed.models.input_module import InputModule, ProcessingKwargs

logger = logging.getLogger(__name__)

# The file the reference keeps the Transformer settings in, newest name first.
SENTENCE_CONFIG_NAMES = (
    "sentence_bert_config.json",
    "sentence_roberta_config.json",
    "sentence_distilbert_config.json",
    "sentence_camembert_config.json",
    "sentence_albert_config.json",
    "sentence_xlm-roberta_config.json",
    "sentence_xlnet_config.json",
)
# Architectures whose position ids start after the padding index, so two positions are unusable.
_PADDING_OFFSET_TYPES = {"roberta", "xlm-roberta", "camembert", "mpnet", "longformer", "data2vec-text", "xmod"}
_UNBOUNDED_TOKENIZER_LENGTH = 1_000_000


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_dtype_name(value: Any) -> bool:
    return value == "auto" or (
        isinstance(value, str) and isinstance(getattr(torch, value.removeprefix("torch."), None), torch.dtype)
    )


def _is_fraction(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def _is_positive_int(value: Any) -> bool:
    return is_integer(value) and value > 0


def _one_of(*choices: str) -> Callable[[Any], bool]:
    return lambda value: value in choices


# Attention kernels built into transformers; a hub kernel name ("org/repo") would download and run code.
_ATTENTION_KERNELS = _one_of("eager", "sdpa", "flash_attention_2", "flash_attention_3", "flex_attention")
# The loading options a model folder's sentence_bert_config.json may set, and the values each accepts. They shape
# how the checkpoint is read (dtype, attention kernel, casing, lengths), never which files are read, whether code
# or pickles run, or what is downloaded: `weights_only`, `use_safetensors`, `subfolder`, `gguf_file`, `revision`,
# `trust_remote_code`, `use_kernels`, `device_map`, `quantization_config`, file names and the rest are dropped.
FOLDER_OPTIONS: dict[str, dict[str, Callable[[Any], bool]]] = {
    "model": {
        "dtype": _is_dtype_name,
        "torch_dtype": _is_dtype_name,
        "attn_implementation": _ATTENTION_KERNELS,
        "add_pooling_layer": _is_bool,
        "output_hidden_states": _is_bool,
        "output_attentions": _is_bool,
    },
    "tokenizer": {
        "do_lower_case": _is_bool,
        "model_max_length": _is_positive_int,
        "add_prefix_space": _is_bool,
        "padding_side": _one_of("left", "right"),
        "truncation_side": _one_of("left", "right"),
        "clean_up_tokenization_spaces": _is_bool,
        "strip_accents": lambda value: value is None or isinstance(value, bool),
        "tokenize_chinese_chars": _is_bool,
        "add_bos_token": _is_bool,
        "add_eos_token": _is_bool,
        "legacy": _is_bool,
    },
    "config": {
        "dtype": _is_dtype_name,
        "torch_dtype": _is_dtype_name,
        "attn_implementation": _ATTENTION_KERNELS,
        "output_hidden_states": _is_bool,
        "output_attentions": _is_bool,
        "use_cache": _is_bool,
        "hidden_dropout_prob": _is_fraction,
        "attention_probs_dropout_prob": _is_fraction,
        "classifier_dropout": lambda value: value is None or _is_fraction(value),
    },
}
# Where a folder keeps each kind of option: the names sentence-transformers wrote before v6, then its v6 names.
FOLDER_OPTION_SECTIONS = {
    "model": ("model_args", "model_kwargs"),
    "tokenizer": ("tokenizer_args", "processor_kwargs", "tokenizer_kwargs"),
    "config": ("config_args", "config_kwargs"),
}


def sentence_config_path(folder: str | os.PathLike) -> Path | None:
    """The file holding the Transformer settings beside a checkpoint, or None when there is none."""
    for name in SENTENCE_CONFIG_NAMES:
        path = Path(folder) / name
        if path.exists():
            return path
    return None


def find_sentence_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The Transformer settings stored beside a checkpoint, or {} when there are none."""
    path = sentence_config_path(folder)
    return {} if path is None else read_json_object(path)


# No tokenizer we know spans more characters per token than this on real text; a text is cut to
# `max_seq_length` times this many characters (at a whitespace) before it is tokenized.
CHARACTERS_PER_TOKEN = 32


def bounded_prefix(text: str, limit: int) -> tuple[str, bool]:
    """The text, or for one longer than `limit` characters its prefix up to the last whitespace within the
    limit (a hard cut inside a word that long), and whether it was cut at a whitespace."""
    if len(text) <= limit:
        return text, False
    window = text[:limit]
    space = max(window.rfind(" "), window.rfind("\n"), window.rfind("\t"))
    return (window[:space], True) if space > 0 else (window, False)


def folder_loading_options(settings: dict[str, Any], source: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """The loading options a folder's settings (`source`) may give transformers, per kind ("model", "tokenizer",
    "config"): only the allowlisted keys with acceptable values (`FOLDER_OPTIONS`); every other key is dropped
    with a warning naming it. Both the old names (`model_args`, ...) and the v6 ones (`model_kwargs`, ...) are read.
    """
    allowed: dict[str, dict[str, Any]] = {}
    for kind, names in FOLDER_OPTION_SECTIONS.items():
        allowed[kind] = {}
        for name in names:
            options = settings.get(name, {})
            if not isinstance(options, dict):
                raise OSError(f"{source}: {name} must be an object of loading options, got {type(options).__name__}")
            for key, value in options.items():
                if _allowed_folder_option(kind, key, value):
                    allowed[kind][key] = value
                else:
                    logger.warning(
                        "%s: ignoring %s[%s] = %s: a model folder may set only %s; pass it yourself as %s_kwargs "
                        "if you trust this folder",
                        source,
                        name,
                        reprlib.repr(key),
                        reprlib.repr(value),
                        sorted(FOLDER_OPTIONS[kind]),
                        kind,
                    )
    return allowed


def _folder_flag(settings: dict[str, Any], key: str, source: Path | None) -> bool:
    value = settings.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{source}: {key} must be true or false, got {value!r}")
    return value


def _allowed_folder_option(kind: str, key: str, value: Any) -> bool:
    accepts = FOLDER_OPTIONS[kind].get(key)
    return accepts is not None and accepts(value)


def _tokenizer_folder(adapter_folder: str, base: str) -> str:
    """An adapter folder's own tokenizer when it has one (the reference saves it there), else the base model's."""
    own = any((Path(adapter_folder) / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json"))
    return adapter_folder if own else base


def _weights_file(folder: str) -> str:
    for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"):
        if (Path(folder) / name).exists():
            return str(Path(folder) / name)
    return str(Path(folder) / "model.safetensors")


def _load_tokenizer(path: str, cache_dir: str | None, tokenizer_args: dict[str, Any]) -> Any:
    """`AutoTokenizer` for a folder or hub id; tokenizer files in a folder that it cannot read are an OSError naming
    them (transformers and tokenizers raise KeyError, JSON and bare errors)."""
    try:
        return AutoTokenizer.from_pretrained(path, cache_dir=cache_dir, **tokenizer_args)
    except OSError:
        raise
    except Exception as error:
        if not os.path.isdir(path):
            raise
        files = sorted(entry.name for entry in Path(path).iterdir() if entry.name.startswith("tokenizer"))
        raise OSError(
            f"could not read the tokenizer in {path} ({', '.join(files) or 'no tokenizer files'}): "
            f"{type(error).__name__}: {error}"
        ) from error


@dataclass
class TransformerParts:
    """Everything a loaded Transformer is made of, so that a backend can build its own module from one."""

    config: PretrainedConfig
    auto_model: torch.nn.Module
    tokenizer: Any
    model_limit: int
    max_seq_length: int
    do_lower_case: bool


# Encoder-decoder model types whose sentence models use the encoder only, and the transformers class for it.
ENCODER_ONLY_CLASSES = {"t5": "T5EncoderModel", "mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel"}


class Transformer(InputModule):
    """Wraps `AutoModel` and `AutoTokenizer`; adds `token_embeddings` to the features.

    Args:
        model_name_or_path: a hub id or a checkpoint folder.
        max_seq_length: the most tokens a text keeps (default: the tokenizer's and model's limit).
        model_args: options for the model's `from_pretrained` (v6 name: `model_kwargs`).
        tokenizer_args: options for the tokenizer's `from_pretrained` (v6 name: `processor_kwargs`).
        config_args: options for `AutoConfig.from_pretrained` (v6 name: `config_kwargs`).
        cache_dir: where hub downloads go.
        do_lower_case: lower-case texts before tokenizing.
        tokenizer_name_or_path: a tokenizer from elsewhere than `model_name_or_path`.
        backend: "torch", "onnx" or "openvino".
        model_kwargs: `model_args` under sentence-transformers 6's name (wins on a key given in both).
        processor_kwargs: `tokenizer_args` under sentence-transformers 6's name.
        config_kwargs: `config_args` under sentence-transformers 6's name.
    """

    config_file_name = "sentence_bert_config.json"
    save_in_root = True
    # The encoder's pooler feeds only its second output, which `forward` never reads.
    unused_weights = ("auto_model.pooler.",)
    # The transformers class that loads the checkpoint; subclasses swap in a task head.
    auto_model_class: type = AutoModel

    def __init__(
        self,
        model_name_or_path: str,
        max_seq_length: int | None = None,
        model_args: dict[str, Any] | None = None,
        tokenizer_args: dict[str, Any] | None = None,
        config_args: dict[str, Any] | None = None,
        cache_dir: str | None = None,
        do_lower_case: bool = False,
        tokenizer_name_or_path: str | None = None,
        backend: str = "torch",
        *,
        model_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.do_lower_case = do_lower_case
        self.backend = backend
        # sentence-transformers 6 names the three option dicts model_kwargs / processor_kwargs / config_kwargs;
        # either spelling works, and the new one wins on a key given in both.
        model_args = {**(model_args or {}), **(model_kwargs or {})}
        tokenizer_args = {**(tokenizer_args or {}), **(processor_kwargs or {})}
        config_args = {**(config_args or {}), **(config_kwargs or {})}
        adapter_folder, base = model_name_or_path, adapter_base_model(model_name_or_path)
        if base is not None:  # an adapter folder: the base model's network, then the adapter on it
            if backend != "torch":
                raise ValueError(
                    f"{adapter_folder} is a PEFT adapter folder, which loads with backend='torch' only; merge it "
                    "(model.transformers_model.merge_and_unload()), save that model and load it with the backend"
                )
            model_name_or_path = base
            tokenizer_name_or_path = tokenizer_name_or_path or _tokenizer_folder(adapter_folder, base)
        self.config: PretrainedConfig = AutoConfig.from_pretrained(
            model_name_or_path, cache_dir=cache_dir, **config_args
        )
        self.auto_model = self._load_model(model_name_or_path, cache_dir, model_args)
        if base is not None:
            load_adapter(self.auto_model, adapter_folder)
        self.tokenizer = _load_tokenizer(tokenizer_name_or_path or model_name_or_path, cache_dir, tokenizer_args)
        self.model_limit = self._model_length_limit()
        self._max_seq_length = min(max_seq_length or self.model_limit, self.model_limit)

    def parts(self) -> TransformerParts:
        """What a backend counterpart shares with this module.

        Returns:
            The config, the network, the tokenizer and the length settings.
        """
        return TransformerParts(
            self.config, self.auto_model, self.tokenizer, self.model_limit, self._max_seq_length, self.do_lower_case
        )

    @classmethod
    def from_parts(cls, parts: TransformerParts, backend: str = "torch") -> Transformer:
        """A module of this class sharing the loaded model and tokenizer of another (a backend's counterpart).

        Args:
            parts: What the other module shares (`parts()`).
            backend: The new module's backend. Default "torch".

        Returns:
            The module.
        """
        module = cls.__new__(cls)
        Module.__init__(module)
        module.config, module.auto_model, module.tokenizer = parts.config, parts.auto_model, parts.tokenizer
        module.model_limit, module._max_seq_length = parts.model_limit, parts.max_seq_length
        module.do_lower_case, module.backend = parts.do_lower_case, backend
        return module

    def model_class_for(self, config: PretrainedConfig) -> type:
        """The transformers class that loads the checkpoint: the encoder alone for encoder-decoder families whose
        sentence models read only the encoder (sentence-t5, gtr-t5, INSTRUCTOR), else `auto_model_class`.

        Args:
            config: The checkpoint's config.

        Returns:
            The transformers class.
        """
        if self.auto_model_class is AutoModel and config.model_type in ENCODER_ONLY_CLASSES:
            return getattr(transformers, ENCODER_ONLY_CLASSES[config.model_type])
        return self.auto_model_class

    def _load_model(self, path: str, cache_dir: str | None, model_args: dict[str, Any]) -> torch.nn.Module:
        model_class = self.model_class_for(self.config)
        try:
            return model_class.from_pretrained(path, config=self.config, cache_dir=cache_dir, **model_args)
        except pickle.UnpicklingError as error:
            raise OSError(
                f"{_weights_file(path)} holds pickled objects other than tensors; sentembed refuses to unpickle "
                "them (a pickle can run code). Convert the weights to model.safetensors from a trusted copy"
            ) from error
        except (OSError, ValueError, RuntimeError, SafetensorError) as error:
            if not os.path.isdir(path):
                raise
            raise OSError(f"could not load the weights file {_weights_file(path)}: {error}") from error

    def _model_length_limit(self) -> int:
        """The longest input the model supports: its position table, capped by the tokenizer's limit."""
        positions = getattr(self.config, "max_position_embeddings", None)
        if positions is not None and self.config.model_type in _PADDING_OFFSET_TYPES:
            positions -= 2
        tokenizer_limit = self.tokenizer.model_max_length
        if tokenizer_limit is None or tokenizer_limit > _UNBOUNDED_TOKENIZER_LENGTH:
            tokenizer_limit = None
        limits = [limit for limit in (positions, tokenizer_limit) if limit]
        return min(limits) if limits else 512

    @property
    def max_seq_length(self) -> int:
        return self._max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        value = check_positive_int(value, "max_seq_length")
        if value > self.model_limit:
            logger.warning("max_seq_length %d exceeds what the model supports; using %d.", value, self.model_limit)
            value = self.model_limit
        self._max_seq_length = value

    def get_word_embedding_dimension(self) -> int:
        """The token embeddings' size.

        Returns:
            The network's hidden size.
        """
        return self.auto_model.config.hidden_size

    get_embedding_dimension = get_word_embedding_dimension

    def _prepare(self, texts: list[str]) -> list[str]:
        texts = [text.strip() for text in texts]
        return [text.lower() for text in texts] if self.do_lower_case else texts

    def tokenizer_options(self, processing_kwargs: ProcessingKwargs | None = None) -> dict[str, Any]:
        """The keyword arguments the tokenizer is called with: truncation at `max_seq_length`, overridden by the
        "common" and then the "text" entries of per-call `processing_kwargs`.

        Args:
            processing_kwargs: per-call options by modality, e.g. {"text": {"max_length": 64}}; None for none.

        Returns:
            The tokenizer's keyword arguments.
        """
        options: dict[str, Any] = {"truncation": "longest_first", "max_length": self.max_seq_length}
        for key in ("common", "text"):
            options.update((processing_kwargs or {}).get(key) or {})
        return options

    def tokenize(
        self, texts: list[str], padding: str | bool = True, processing_kwargs: ProcessingKwargs | None = None
    ) -> dict[str, torch.Tensor]:
        """Tokenize texts into padded tensors, truncating each to `max_seq_length` tokens.

        Args:
            texts: the texts.
            padding: the tokenizer's padding option (True: to the longest text).
            processing_kwargs: per-call tokenizer options by modality, e.g. {"text": {"max_length": 64}}.

        Returns:
            The tokenizer's tensors (input_ids, attention_mask, ...).
        """
        options = {"padding": padding, **self.tokenizer_options(processing_kwargs)}
        return self.tokenizer(self._prepare(texts), return_tensors="pt", **options)

    def tokenize_unpadded(
        self, texts: list[str], processing_kwargs: ProcessingKwargs | None = None
    ) -> tuple[list[Row], int]:
        """Tokenize texts without padding; also return how many were cut at `max_seq_length`.

        Args:
            texts: the texts.
            processing_kwargs: per-call tokenizer options by modality, e.g. {"text": {"max_length": 64}}.

        Returns:
            (one token row per text, how many texts were cut).
        """
        return self.encode_rows([self._prepare(texts)], processing_kwargs)

    def tokenize_pairs_unpadded(
        self, pairs: list[Pair], processing_kwargs: ProcessingKwargs | None = None
    ) -> tuple[list[Row], int]:
        """Tokenize each (first, second) pair as one sequence, cutting the longer side first at `max_seq_length`.

        Also returns how many pairs were cut.

        Args:
            pairs: the (first, second) text pairs.
            processing_kwargs: per-call tokenizer options by modality, e.g. {"text": {"max_length": 64}}.

        Returns:
            (one token row per pair, how many pairs were cut).
        """
        return self.encode_rows([[first for first, _ in pairs], [second for _, second in pairs]], processing_kwargs)

    def encode_rows(
        self, columns: list[list[str]], processing_kwargs: ProcessingKwargs | None = None
    ) -> tuple[list[Row], int]:
        """Token rows for one column of texts, or two read as pairs (cut longest first), and how many rows
        were cut at `max_seq_length` (or the per-call `max_length` of `processing_kwargs`).

        A text far longer than any `max_seq_length` tokens could span is cut to a bounded prefix first, so that
        a 20 MB string costs what its first tokens cost. Where the prefix turns out to hold no more than
        `max_seq_length` tokens (a text that is mostly whitespace), the whole text is tokenized instead, so the
        rows never differ from tokenizing the texts as they are.

        Args:
            columns: One list of texts, or two read as pairs.
            processing_kwargs: per-call tokenizer options by modality, e.g. {"text": {"max_length": 64}}.

        Returns:
            (one token row per text or pair, how many were cut).
        """
        options = self.tokenizer_options(processing_kwargs)
        limit = (options.get("max_length") or self.max_seq_length) * CHARACTERS_PER_TOKEN
        bounded = [[bounded_prefix(text, limit) for text in column] for column in columns]
        rows, cut = self._rows([[text for text, _ in column] for column in bounded], options)
        redo = [index for index in range(len(rows)) if not cut[index] and any(c[index][1] for c in bounded)]
        if redo:
            full_rows, full_cut = self._rows([[column[index] for index in redo] for column in columns], options)
            for position, index in enumerate(redo):
                rows[index], cut[index] = full_rows[position], full_cut[position]
        return rows, sum(cut)

    def _rows(self, columns: list[list[str]], options: dict[str, Any]) -> tuple[list[Row], list[bool]]:
        """Token rows, and for each whether it was cut at the options' `max_length`."""
        encoded = self.tokenizer(*columns, **{"padding": False, **options})
        names = [name for name in encoded if name in ("input_ids", "attention_mask", "token_type_ids")]
        count = len(columns[0])
        rows = [{name: encoded[name][index] for name in names} for index in range(count)]
        encodings = getattr(encoded, "encodings", None)
        if encodings:
            return rows, [bool(encoding.overflowing) for encoding in encodings]
        if options.get("truncation") in (None, False, "do_not_truncate"):
            return rows, [False] * count
        limit = options.get("max_length") or self.max_seq_length
        full = self.tokenizer(*columns, truncation=False)["input_ids"]
        return rows, [len(ids) > limit for ids in full]

    def pad(self, rows: list[Row]) -> dict[str, torch.Tensor]:
        """Pad a batch of token id rows to its longest row, on the tokenizer's padding side.

        Args:
            rows: Token rows from `tokenize_unpadded`.

        Returns:
            Feature name -> (batch, longest) tensor.
        """
        width = max(len(row["input_ids"]) for row in rows)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        left = self.tokenizer.padding_side == "left"
        batch: dict[str, torch.Tensor] = {}
        for name in rows[0]:
            fill = pad_id if name == "input_ids" else 0
            padded = [
                ([fill] * (width - len(row[name])) + row[name])
                if left
                else (row[name] + [fill] * (width - len(row[name])))
                for row in rows
            ]
            batch[name] = torch.tensor(padded, dtype=torch.long)
        return batch

    def forward(self, features: Features, **kwargs: Any) -> Features:
        """Token embeddings of the batch.

        Args:
            features: The padded batch (input_ids, attention_mask, ...).
            **kwargs: Arguments a model declares in `forward_kwargs` and `encode` passes on; not used here.

        Returns:
            The features, with "token_embeddings" set (and "all_layer_embeddings" when the config asks for the
            hidden states).
        """
        inputs = {
            name: features[name]
            for name in ("input_ids", "attention_mask", "token_type_ids", "inputs_embeds")
            if name in features
        }
        outputs = self.auto_model(**inputs, return_dict=True)
        features["token_embeddings"] = outputs[0]
        if getattr(outputs, "hidden_states", None) is not None:  # with output_hidden_states, for WeightedLayerPooling
            features["all_layer_embeddings"] = outputs.hidden_states
        return features

    def get_config_dict(self) -> dict[str, Any]:
        return {"max_seq_length": self.max_seq_length, "do_lower_case": self.do_lower_case}

    def save(self, output_path: str, safe_serialization: bool = True) -> None:
        """The checkpoint and tokenizer; with adapters, only the active adapter (it loads on its base model).

        Args:
            output_path: The folder (created when missing).
            safe_serialization: Write weights as safetensors. Default True.
        """
        os.makedirs(output_path, exist_ok=True)
        if adapter_names(self.auto_model):
            save_adapter(self.auto_model, output_path, safe_serialization=safe_serialization)
        else:
            self.auto_model.save_pretrained(output_path, safe_serialization=safe_serialization)
        self.tokenizer.save_pretrained(output_path)
        write_json(Path(output_path) / self.config_file_name, self.get_config_dict())

    @classmethod
    def load(
        cls,
        input_path: str,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
        revision: str | None = None,
        local_files_only: bool = False,
        token: bool | str | None = None,
        model_kwargs: dict[str, Any] | None = None,
        tokenizer_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        backend: str = "torch",
        **kwargs: Any,
    ) -> Transformer:
        """Load from a checkpoint folder, merging stored settings with the caller's keyword arguments.

        Args:
            input_path: The checkpoint folder (or hub id).
            cache_folder: Where hub downloads go. Default None.
            trust_remote_code: Allow the checkpoint's own model code. Default False.
            revision: The hub revision. Default None.
            local_files_only: Never download. Default False.
            token: A hub token. Default None.
            model_kwargs: Options for the model's `from_pretrained`. Default None.
            tokenizer_kwargs: Options for the tokenizer's `from_pretrained`. Default None.
            config_kwargs: Options for `AutoConfig.from_pretrained`. Default None.
            backend: "torch" (default), "onnx" or "openvino".
            **kwargs: Other loading options, ignored.

        Returns:
            The module.

        Raises:
            OSError: A checkpoint that cannot be found or read, or bad folder settings.
        """
        source = sentence_config_path(input_path)
        settings = find_sentence_config(input_path)
        folder_options = folder_loading_options(settings, source) if source else {kind: {} for kind in FOLDER_OPTIONS}
        hub = {"trust_remote_code": trust_remote_code, "local_files_only": local_files_only}
        if token is not None:
            hub["token"] = token
        return cls(
            input_path,
            max_seq_length=check_positive_int(
                settings.get("max_seq_length"), f"{source}: max_seq_length", optional=True
            ),
            do_lower_case=_folder_flag(settings, "do_lower_case", source),
            model_kwargs={**folder_options["model"], **hub, **(model_kwargs or {})},
            processor_kwargs={**folder_options["tokenizer"], **hub, **(tokenizer_kwargs or {})},
            config_kwargs={**folder_options["config"], **hub, **(config_kwargs or {})},
            cache_dir=cache_folder,
            backend=backend,
        )
