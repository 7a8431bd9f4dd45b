"""Model cards as data: what a model's README says about it, filled in by loading (base model), training
(datasets with their statistics and examples, losses, hyperparameters, logs) and evaluation (metrics), written
as YAML front matter through huggingface_hub and read back from a saved README.

`BaseModelCardData.to_dict()` gathers everything `loading._model_card` renders; the subclasses hold what
differs between bi-encoders and cross-encoders (pipeline tag, widget, usage snippet, model facts).
"""

from __future__ import annotations

import json
import logging
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any, ClassVar

from huggingface_hub import EvalResult, ModelCardData, metadata_load

from sentembed.loading import _card_media as card_media
from sentembed.loading._card_stats import (
    STATS_ROWS,
    column_stats,
    dataset_size,
    first_split,
    markdown_table,
    sample_rows,
    stats_table,
)

logger = logging.getLogger(__name__)

LIBRARY_NAME = "sentence-transformers"
HUB = "https://huggingface.co"
WIDGET_ROWS = 5
EXAMPLE_ROWS = 3
USAGE_EXAMPLES = 3
DEFAULT_TEXTS = [
    "The weather is lovely today.",
    "Sunshine all day, not a cloud in sight.",
    "The train to Lyon leaves at noon.",
]
DERIVED_TAG_PREFIXES = ("dataset_size:", "loss:")
RETRIEVAL_EVALUATORS = ("InformationRetrievalEvaluator", "NanoBEIREvaluator")
VERSIONED_PACKAGES = {
    "sentembed": "sentembed",
    "transformers": "Transformers",
    "torch": "PyTorch",
    "accelerate": "Accelerate",
    "datasets": "Datasets",
    "tokenizers": "Tokenizers",
    "huggingface_hub": "huggingface_hub",
}
IMAGE_LOADER = [
    "from io import BytesIO",
    "from urllib.request import urlopen",
    "",
    "from PIL import Image",
    "",
    "",
    "def load_image(source):",
    '    """An image from a web address or a file."""',
    '    if source.startswith(("http://", "https://")):',
    "        return Image.open(BytesIO(urlopen(source).read()))",
    "    return Image.open(source)",
    "",
    "",
]
SBERT_CITATION = """@inproceedings{reimers-2019-sentence-bert,
    title = "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
    author = "Reimers, Nils and Gurevych, Iryna",
    booktitle = "Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing",
    month = "11",
    year = "2019",
    publisher = "Association for Computational Linguistics",
    url = "https://arxiv.org/abs/1908.10084",
}"""


def as_list(value: str | list[str] | None, name: str) -> list[str]:
    """A string or a list of strings as a list; TypeError naming the argument otherwise."""
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if values is None or not all(isinstance(item, str) for item in values):
        raise TypeError(f"{name} must be a string or a list of strings, got {value!r}")
    return values


def dataset_entry(dataset: str | dict[str, Any], name: str) -> dict[str, Any]:
    """A dataset as a {"name": ..., "id": ...} dict ("id" being its Hub id)."""
    if isinstance(dataset, str):
        return {"name": dataset}
    if isinstance(dataset, dict) and ("name" in dataset or "id" in dataset):
        return dict(dataset)
    raise TypeError(f"each of {name} must be a dataset name or a dict with 'name' and/or 'id', got {dataset!r}")


def evaluator_words(evaluator: Any) -> list[str]:
    """An evaluator's description as words ("CrossEncoderReranking" -> Cross, Encoder, Reranking)."""
    description = getattr(evaluator, "description", None) or type(evaluator).__name__.removesuffix("Evaluator")
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", description).split()


def task_type(evaluator: Any) -> str:
    """The model-index task of an evaluator: its description in kebab case ("semantic-similarity", ...)."""
    return "-".join(evaluator_words(evaluator)).lower() or "evaluation"


def package_versions() -> dict[str, str]:
    versions = {"Python": platform.python_version()}
    for package, label in VERSIONED_PACKAGES.items():
        try:
            versions[label] = package_metadata.version(package)
        except package_metadata.PackageNotFoundError:
            continue
    return versions


def qualified_class_name(value: Any) -> str:
    """The class's dotted name; for one of ours, by its public path (private `_module` parts dropped: the
    package exports the class)."""
    module = type(value).__module__
    if module.startswith("sentembed."):
        module = ".".join(part for part in module.split(".") if not part.startswith("_"))
    return f"{module}.{type(value).__qualname__}"


def json_block(config: dict[str, Any]) -> str:
    return "```json\n" + json.dumps(config, indent=4, default=str, ensure_ascii=False) + "\n```"


def is_retrieval_evaluator(evaluator: Any) -> bool:
    """A retrieval evaluator (or a subclass of one), or a sequence of evaluators holding one."""
    if any(cls.__name__ in RETRIEVAL_EVALUATORS for cls in type(evaluator).__mro__):
        return True
    return any(is_retrieval_evaluator(inner) for inner in getattr(evaluator, "evaluators", None) or [])


def text_columns(row: dict[str, Any]) -> list[str]:
    return [column for column, value in row.items() if isinstance(value, str)]


def texts_of(row: dict[str, Any]) -> list[str]:
    return [row[column] for column in text_columns(row)]


def shortest_rows(rows: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The `count` rows with the least text, in their original order."""
    with_text = [row for row in rows if len(texts_of(row)) >= 1]
    ranked = sorted(range(len(with_text)), key=lambda index: sum(len(text) for text in texts_of(with_text[index])))
    return [with_text[index] for index in sorted(ranked[:count])]


def commented(text: str) -> str:
    return "\n".join(f"# {line}" for line in text.splitlines())


@dataclass
class BaseModelCardData:
    """What a model card says, shared by both model kinds.

    Args:
        language: The model's language code(s), e.g. "en" or ["en", "de"].
        license: Its licence, e.g. "apache-2.0".
        model_name: The card's title (and model-index name); a default naming the base model otherwise.
        model_id: Its Hub id, used in the usage snippet and for links to saved example files.
        train_datasets: The training datasets as names or {"name", "id"} dicts (filled in by training).
        eval_datasets: The evaluation datasets, likewise.
        task_name: What the model is for, in a few words (shown in the card's introduction).
        tags: Extra tags for the front matter.
        local_files_only: Accepted as in sentence-transformers; sentembed never looks anything up while writing a
            card.
        generate_widget_examples: Take widget and usage examples from the training data.
    """

    language: str | list[str] | None = field(default_factory=list)
    license: str | None = None
    model_name: str | None = None
    model_id: str | None = None
    train_datasets: list[dict[str, Any]] = field(default_factory=list)
    eval_datasets: list[dict[str, Any]] = field(default_factory=list)
    task_name: str | None = None
    tags: list[str] | None = field(default_factory=list)
    local_files_only: bool = False
    generate_widget_examples: bool = True

    base_model: str | None = field(default=None, init=False)
    base_model_revision: str | None = field(default=None, init=False)
    losses: list[str] = field(default_factory=list, init=False)
    non_default_hyperparameters: dict[str, Any] = field(default_factory=dict, init=False)
    all_hyperparameters: dict[str, Any] = field(default_factory=dict, init=False)
    eval_results_dict: dict[Any, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)
    eval_results: list[dict[str, Any]] = field(default_factory=list, init=False)
    training_logs: list[dict[str, Any]] = field(default_factory=list, init=False)
    best_model_step: int | None = field(default=None, init=False)
    training_seconds: float | None = field(default=None, init=False)
    widget: list[dict[str, Any]] = field(default_factory=list, init=False)
    usage_examples: list | None = field(default=None, init=False)
    usage_examples_display: list | None = field(default=None, init=False, repr=False, compare=False)
    similarities: str | None = field(default=None, init=False, repr=False, compare=False)
    citations: dict[str, str] = field(default_factory=dict, init=False)
    ir_model: bool | None = field(default=None, init=False, repr=False)
    save_dir: str | None = field(default=None, init=False, repr=False, compare=False)
    model: Any = field(default=None, init=False, repr=False, compare=False)
    asset_paths: dict[Any, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    example_assets: int = field(default=0, init=False, repr=False, compare=False)
    loaded_card_text: str | None = field(default=None, init=False, repr=False, compare=False)
    loaded_fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    pipeline_tag: ClassVar[str] = "sentence-similarity"
    default_tags: ClassVar[tuple[str, ...]] = ("sentence-transformers", "sentembed")
    model_class: ClassVar[str] = "SentenceTransformer"

    def __post_init__(self) -> None:
        self.language = as_list(self.language, "language")
        self.tags = as_list(self.tags, "tags")
        self.train_datasets = [dataset_entry(item, "train_datasets") for item in self.train_datasets]
        self.eval_datasets = [dataset_entry(item, "eval_datasets") for item in self.eval_datasets]

    # ----- what loading, training and evaluation fill in -----------------------------------------------

    def register_model(self, model: Any) -> None:
        """The model this card describes (read for its dimension, modalities, tokenizer and architecture).

        Args:
            model: A SentenceTransformer or CrossEncoder.
        """
        self.model = model

    def set_base_model(self, model_id: str, revision: str | None = None) -> None:
        """Record the model the card's model was loaded from (what training fine-tunes).

        Args:
            model_id: Its Hub id.
            revision: The revision it was loaded at. Default None.
        """
        self.base_model, self.base_model_revision = model_id, revision

    def set_language(self, language: str | list[str]) -> None:
        """Set the model's languages.

        Args:
            language: A language code or a list of them, e.g. "en".

        Raises:
            TypeError: Anything but a string or a list of strings.
        """
        self.language = as_list(language, "language")

    def set_license(self, license: str) -> None:
        """Set the model's licence.

        Args:
            license: E.g. "apache-2.0".
        """
        self.license = license

    def set_model_id(self, model_id: str) -> None:
        """Set the model's Hub id (push_to_hub sets it).

        Args:
            model_id: E.g. "user/my-model".
        """
        self.model_id = model_id

    def add_tags(self, tags: str | list[str]) -> None:
        """Add tags to the card's front matter (each once).

        Args:
            tags: A tag or a list of them.

        Raises:
            TypeError: Anything but a string or a list of strings.
        """
        self.tags = list(dict.fromkeys([*self.tags, *as_list(tags, "tags")]))

    def set_losses(self, losses: list[Any]) -> None:
        """The losses of a training run: their class names, and the papers they cite (a `citation` attribute).

        Args:
            losses: The loss modules.
        """
        self.losses = list(dict.fromkeys(type(loss).__name__ for loss in losses))
        for loss in losses:
            citation = getattr(loss, "citation", None)
            if isinstance(citation, str) and citation.strip():
                self.citations[type(loss).__name__] = citation.strip()

    def set_hyperparameters(self, non_default: dict[str, Any], all_hyperparameters: dict[str, Any]) -> None:
        """Record the training arguments.

        Args:
            non_default: The training arguments changed from their defaults.
            all_hyperparameters: Every training argument.
        """
        self.non_default_hyperparameters = dict(non_default)
        self.all_hyperparameters = dict(all_hyperparameters)

    def set_training_time(self, seconds: float) -> None:
        """Record how long the training run took.

        Args:
            seconds: The duration.
        """
        self.training_seconds = float(seconds)

    def set_best_model_step(self, step: int) -> None:
        """Record the step of the best checkpoint (marked in the training logs).

        Args:
            step: The training step.
        """
        self.best_model_step = step

    def set_training_logs(self, logs: list[dict[str, Any]]) -> None:
        """Record the training logs, shown as a table.

        Args:
            logs: One dict per logged step: "epoch", "step", and the training loss and evaluation metrics then.
        """
        self.training_logs = [dict(row) for row in logs]

    def set_evaluation_metrics(self, evaluator: Any, metrics: dict[str, Any], epoch: float = 0, step: int = 0) -> None:
        """Record an evaluator's numbers (names without the evaluator's prefix); a later run replaces them.

        Args:
            evaluator: The evaluator (its name, class, description and settings are shown).
            metrics: What it returned; only numbers are kept.
            epoch: The training epoch it ran at (unused: the training logs carry epochs).
            step: The training step it ran at (likewise).
        """
        prefix = f"{getattr(evaluator, 'name', '') or ''}_"
        self.eval_results_dict[evaluator] = {
            key.removeprefix(prefix) if prefix != "_" else key: float(value)
            for key, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }

    def try_to_set_ir_model_from_prompts(self) -> None:
        """Call the model a retrieval model when it has a non-empty query or document prompt."""
        prompts = getattr(self.model, "prompts", None) or {}
        if prompts.get("query") or prompts.get("document"):
            self.ir_model = True

    def try_to_set_ir_model_from_evaluators(self) -> None:
        """Call the model a retrieval model (queries and documents in the snippet) when it was evaluated as one."""
        if any(is_retrieval_evaluator(evaluator) for evaluator in self.eval_results_dict):
            self.ir_model = True

    # ----- examples from data ----------------------------------------------------------------------------

    def set_widget_examples(self, dataset: Any) -> None:
        """Widget and usage examples from a dataset's shortest text rows (rows read through its transform); for a
        model that reads images, audio or video, usage examples in those modalities instead.

        Args:
            dataset: A `datasets.Dataset`, DatasetDict (its first split), IterableDataset or list of row dicts.
        """
        if not self.generate_widget_examples:
            return
        rows = shortest_rows(sample_rows(dataset, STATS_ROWS), WIDGET_ROWS)
        if rows:
            self.widget = self.widget_from_rows(rows)
            texts = [text for row in rows for text in texts_of(row)]
            self.use_examples(self.usage_from_texts(rows, texts))
        self._set_multimodal_usage_examples(dataset)

    def use_examples(self, examples: list | None) -> None:
        """New usage examples; what was derived from the old ones (saved files, similarities) is dropped.

        Args:
            examples: The examples (texts, pairs or media), or None.
        """
        self.usage_examples = examples
        self.usage_examples_display, self.similarities = None, None

    def widget_from_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Sentence-similarity widgets: each row's first text against its other texts (or the next rows').

        Args:
            rows: Dataset rows.

        Returns:
            The widget entries.
        """
        widget = []
        for index, row in enumerate(rows):
            texts = texts_of(row)
            others = texts[1:] or [texts_of(other)[0] for other in rows[index + 1 : index + 4]]
            if others:
                widget.append({"source_sentence": texts[0], "sentences": others})
        return widget

    def usage_from_texts(self, rows: list[dict[str, Any]], texts: list[str]) -> list:
        """The usage examples taken from the widget rows.

        Args:
            rows: The rows.
            texts: Their texts.

        Returns:
            The first few distinct texts.
        """
        return list(dict.fromkeys(texts))[:USAGE_EXAMPLES]

    def _set_multimodal_usage_examples(self, dataset: Any) -> None:
        """Usage examples in the model's non-text modalities: dicts of one value per modality when the model
        reads them together (a tuple modality such as ("image", "text")), else values of its first non-text
        modality that the data has. Distinct values only; text-only models are left alone.

        Args:
            dataset: A DatasetDict (its first split), Dataset or list of row dicts.
        """
        modalities = list(getattr(self.model, "modalities", None) or ["text"])
        if modalities == ["text"]:
            return
        rows = sample_rows(dataset, STATS_ROWS)
        if not rows:
            return
        columns: dict[str, str] = {}
        for column, value in rows[0].items():
            columns.setdefault(card_media.value_modality(value), column)
        for combined in (modality for modality in modalities if isinstance(modality, tuple)):
            if all(part in columns for part in combined):
                picked = self.distinct([{part: row[columns[part]] for part in combined} for row in rows])
                self.use_examples(picked)
                return
        for modality in modalities:
            if isinstance(modality, str) and modality != "text" and modality in columns:
                self.use_examples(self.distinct([row[columns[modality]] for row in rows]))
                return

    @staticmethod
    def distinct(values: list[Any]) -> list[Any]:
        """The first few values with different media.

        Args:
            values: Candidate examples.

        Returns:
            Up to a few of them, each with different media.
        """
        seen, picked = set(), []
        for value in values:
            parts = list(value.values()) if isinstance(value, dict) else [value]
            key = tuple(card_media.hash_asset(part) or repr(part) for part in parts)
            if key not in seen:
                seen.add(key)
                picked.append(value)
            if len(picked) == EXAMPLE_ROWS:
                break
        return picked

    # ----- datasets -----------------------------------------------------------------------------------------

    def compute_dataset_metrics(self, dataset: Any, dataset_info: dict[str, Any], loss: Any) -> dict[str, Any]:
        """`dataset_info` completed with the dataset's size, columns, column statistics (from its first rows),
        an examples table and the loss trained with it.

        Args:
            dataset: A `datasets.Dataset` (or DatasetDict, IterableDataset, list of row dicts).
            dataset_info: The card's entry for it so far ({"name": ..., "id": ...}).
            loss: The loss trained on it (its class and `get_config_dict()` are shown).

        Returns:
            The completed entry.
        """
        dataset = first_split(dataset)
        rows = sample_rows(dataset, STATS_ROWS)
        columns = list(rows[0]) if rows else list(getattr(dataset, "column_names", None) or [])
        info = dict(dataset_info)
        info["size"] = dataset_size(dataset)
        info["columns"] = [f"<code>{column}</code>" for column in columns]
        stats = {}
        for column in columns:
            values = [row[column] for row in rows if row[column] is not None]
            if values:
                stats[column] = self.column_stats_or_type(column, values)
        info["stats"] = stats
        info["stats_table"] = stats_table(stats) if stats else ""
        info["examples"] = {column: [row[column] for row in rows[:EXAMPLE_ROWS]] for column in columns}
        info["_example_columns"] = columns
        info["examples_table"] = self.render_examples_table(info)
        info["loss"] = self.describe_loss(loss)
        return info

    def column_stats_or_type(self, column: str, values: list[Any]) -> dict[str, Any]:
        """A column's statistics; only its type when they cannot be computed (mixed values, say).

        Args:
            column: The column's name, for the warning.
            values: Its values.

        Returns:
            The statistics.
        """
        try:
            return column_stats(values, self.token_counter(), self.model_modalities())
        except Exception as error:
            logger.warning("No statistics for column %r in the model card: %s", column, error)
            return {"dtype": qualified_class_name(values[0]), "modality": "", "data": {}}

    def model_modalities(self) -> list[str]:
        """The single modalities the model reads.

        Returns:
            E.g. ["text"] or ["text", "image"].
        """
        modalities = getattr(self.model, "modalities", None) or ["text"]
        return [modality for modality in modalities if isinstance(modality, str)]

    def token_counter(self) -> Callable[[list[str]], list[int]] | None:
        """A function from texts to their token counts with the model's tokenizer, cut at the model's maximum
        length: a transformers tokenizer or a `tokenizers.Tokenizer` (StaticEmbedding's); None without one.

        Returns:
            The function, or None.
        """
        tokenizer = getattr(self.model, "tokenizer", None) if self.model is not None else None
        limit = getattr(self.model, "max_seq_length", None) or getattr(self.model, "max_length", None)
        limit = limit if isinstance(limit, int) else None
        if callable(getattr(tokenizer, "encode_batch", None)):

            def count(texts: list[str]) -> list[int]:
                lengths = [len(encoding.ids) for encoding in tokenizer.encode_batch(texts, add_special_tokens=False)]
                return [min(length, limit) for length in lengths] if limit else lengths

            return count
        if not callable(tokenizer):
            return None
        return lambda texts: [
            len(ids) for ids in tokenizer(texts, truncation=limit is not None, max_length=limit)["input_ids"]
        ]

    @staticmethod
    def describe_loss(loss: Any) -> dict[str, Any]:
        """What the card says about a loss.

        Args:
            loss: The loss module.

        Returns:
            Its class path, and its settings as a JSON block.
        """
        described = {"fullname": qualified_class_name(loss)}
        config = loss.get_config_dict() if callable(getattr(loss, "get_config_dict", None)) else None
        if config:
            described["config_code"] = json_block(config)
        return described

    def render_examples_table(self, info: dict[str, Any]) -> str:
        """A dataset's examples as a Markdown table (media saved when the card has a folder).

        Args:
            info: The dataset's card entry, with its examples.

        Returns:
            The table, or "" without examples.
        """
        columns = info.get("_example_columns") or list(info.get("examples", {}))
        examples = info.get("examples") or {}
        count = max((len(examples.get(column, [])) for column in columns), default=0)
        rows = []
        for index in range(count):
            cells = []
            for column in columns:
                cell, self.example_assets = self._format_and_save_example(examples[column][index], self.example_assets)
                cells.append(cell)
            rows.append(cells)
        return markdown_table(columns, rows) if rows else ""

    def _format_and_save_example(self, value: Any, counter: int) -> tuple[str, int]:
        """A table cell for an example value: media saved as `assets/example_<kind>_<counter>` (once per
        distinct value) and shown inline when the card has a folder; a short description otherwise."""
        described = card_media.describe_media(value)
        if described is None:
            return card_media.format_example_value(value), counter
        if not self.save_dir:
            return f"<code>{described}</code>", counter
        key = ("example", card_media.hash_asset(value))
        if key[1] is not None and key in self.asset_paths:
            return self.media_html(self.asset_paths[key], described), counter
        name = card_media.save_media(value, Path(self.save_dir) / "assets", counter, prefix="example_")
        path = f"assets/{name}"
        if key[1] is not None:
            self.asset_paths[key] = path
        return self.media_html(path, described), counter + 1

    @staticmethod
    def media_html(path: str, description: str) -> str:
        """HTML that shows a saved media file in a table cell.

        Args:
            path: The file's path in the model folder.
            description: Its description (an image's alt text).

        Returns:
            An img, audio or video element.
        """
        if path.endswith(card_media.MEDIA_EXTENSIONS["video"]):
            return f'<video src="{path}" controls width="200"></video> {description}'
        if path.endswith(card_media.MEDIA_EXTENSIONS["audio"]):
            return f'<audio src="{path}" controls></audio> {description}'
        return f'<img src="{path}" alt="{description}" width="200">'

    # ----- usage examples and snippet -------------------------------------------------------------------

    def save_usage_example_assets(self) -> None:
        """Write the non-text usage examples under `save_dir/assets` (each distinct one once) and keep their
        paths in `usage_examples_display`; nothing to do for text-only examples or without a folder."""
        if not self.save_dir or not self.usage_examples:
            return
        if not any(self.has_media(example) for example in self.usage_examples):
            return
        counts: dict[str, int] = {}
        self.usage_examples_display = [self.saved_example(example, counts) for example in self.usage_examples]

    @staticmethod
    def has_media(example: Any) -> bool:
        """Whether a usage example holds media (an image, audio, video).

        Args:
            example: The example, or a dict of them.

        Returns:
            True when it does.
        """
        if isinstance(example, dict) and not card_media.is_typed_media_dict(example):
            return any(card_media.is_media(value) for value in example.values())
        return card_media.is_media(example)

    def saved_example(self, value: Any, counts: dict[str, int]) -> Any:
        """A usage example with its media saved under `save_dir/assets` (each distinct file once).

        Args:
            value: The example, or a dict of them.
            counts: Files saved so far per modality (updated).

        Returns:
            The example with media replaced by their paths (or descriptions when saving fails).
        """
        if isinstance(value, dict) and not card_media.is_typed_media_dict(value):
            return {key: self.saved_example(item, counts) for key, item in value.items()}
        if not card_media.is_media(value):
            return value
        key = ("usage", card_media.hash_asset(value))
        if key[1] is not None and key in self.asset_paths:
            return self.asset_paths[key]
        kind = card_media.value_modality(value)
        try:
            name = card_media.save_media(value, Path(self.save_dir) / "assets", counts.get(kind, 0))
        except OSError as error:
            logger.warning("A usage example is described instead of saved: %s", error)
            return card_media.describe_media(value)
        counts[kind] = counts.get(kind, 0) + 1
        path = f"assets/{name}"
        if key[1] is not None:
            self.asset_paths[key] = path
        return path

    def hub_model_id(self) -> str | None:
        """The model id when it names a Hub repository (not a local folder).

        Returns:
            The id, or None.
        """
        return self.model_id if self.model_id and not Path(self.model_id).is_dir() else None

    def _asset_path_to_url(self, relative_path: str) -> str:
        """A saved example's address: on the Hub for a Hub model id, in the folder for a local one, else the
        path relative to the model folder."""
        if self.hub_model_id():
            return f"{HUB}/{self.model_id}/resolve/main/{relative_path}"
        return str(Path(self.model_id) / relative_path) if self.model_id else relative_path

    def _format_snippet_value(self, value: Any) -> str:
        """A value as Python source in the snippet; saved examples as their address."""
        if isinstance(value, str) and value.startswith("assets/"):
            return repr(self._asset_path_to_url(value))
        if isinstance(value, dict):
            return "{" + ", ".join(f"{key!r}: {self._format_snippet_value(item)}" for key, item in value.items()) + "}"
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(self._format_snippet_value(item) for item in value) + "]"
        return repr(value)

    def snippet_input(self, value: Any) -> str:
        """An input of the non-text snippet as Python source: saved images opened with its `load_image`.

        Args:
            value: The input.

        Returns:
            Python source.
        """
        if (
            isinstance(value, str)
            and value.startswith("assets/")
            and value.endswith(card_media.MEDIA_EXTENSIONS["image"])
        ):
            return f"load_image({self._format_snippet_value(value)})"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{key!r}: {self.snippet_input(item)}" for key, item in value.items()) + "}"
        return self._format_snippet_value(value)

    def snippet_model_id(self) -> str:
        """The model id the snippet loads.

        Returns:
            The model id, else a placeholder.
        """
        return self.model_id or "sentence_transformers_model_id"

    def snippet_dimension(self) -> Any:
        """The embedding dimension the snippet prints.

        Returns:
            The model's dimension, else a placeholder.
        """
        dimension = getattr(self.model, "get_embedding_dimension", None)
        return (dimension() if callable(dimension) else None) or "embedding_dimension"

    def snippet_header(self) -> list[str]:
        """The snippet's import and loading lines.

        Returns:
            The lines.
        """
        return [
            f"from sentembed import {self.model_class}  # or: from sentence_transformers import {self.model_class}",
            "",
            "# Download from the Hub (or give a local folder)",
            f'model = {self.model_class}("{self.snippet_model_id()}")',
        ]

    def python_list(self, name: str, values: list[Any]) -> list[str]:
        """Lines assigning a list to a name.

        Args:
            name: The variable's name.
            values: The values.

        Returns:
            The lines.
        """
        return [f"{name} = [", *(f"    {self._format_snippet_value(value)}," for value in values), "]"]

    def generate_usage_snippet(self) -> str:
        """The card's Python example, for the usage examples (or their saved-file stand-ins).

        Returns:
            The snippet, as a fenced Markdown code block.
        """
        display = self.usage_examples_display or self.usage_examples or self.default_examples()
        if any(self.has_media(example) for example in self.usage_examples or []) or any(
            isinstance(example, dict) for example in display
        ):
            return self._generate_non_text_snippet(display)
        return self._generate_text_snippet(display)

    def default_examples(self) -> list:
        """The usage examples when the data gave none.

        Returns:
            A few example inputs.
        """
        return list(DEFAULT_TEXTS)

    def _generate_text_snippet(self, texts: list[str]) -> str:
        if self.ir_model and len(texts) > 1:
            return self.retrieval_snippet(texts[:1], texts[1:])
        lines = [*self.snippet_header(), *self.python_list("sentences", texts)]
        lines += ["embeddings = model.encode(sentences)", "print(embeddings.shape)"]
        lines += [f"# [{len(texts)}, {self.snippet_dimension()}]", ""]
        lines += self.similarity_lines("embeddings, embeddings", len(texts), len(texts))
        return self.fenced(lines)

    def retrieval_snippet(self, queries: list[str], documents: list[str]) -> str:
        """The snippet of a retrieval model: encode_query, encode_document, similarity.

        Args:
            queries: The example queries.
            documents: The example documents.

        Returns:
            The snippet, as a fenced Markdown code block.
        """
        dimension = self.snippet_dimension()
        lines = [
            *self.snippet_header(),
            *self.python_list("queries", queries),
            *self.python_list("documents", documents),
        ]
        lines += [
            "query_embeddings = model.encode_query(queries)",
            "document_embeddings = model.encode_document(documents)",
            "print(query_embeddings.shape, document_embeddings.shape)",
            f"# [{len(queries)}, {dimension}] [{len(documents)}, {dimension}]",
            "",
        ]
        lines += self.similarity_lines("query_embeddings, document_embeddings", len(queries), len(documents))
        return self.fenced(lines)

    def _generate_non_text_snippet(self, display: list) -> str:
        lines = self.snippet_header()
        inputs = ["inputs = [", *(f"    {self.snippet_input(value)}," for value in display), "]"]
        if any("load_image(" in line for line in inputs):
            lines = [*IMAGE_LOADER, *lines]
        lines += inputs
        lines += ["embeddings = model.encode(inputs)", "print(embeddings.shape)"]
        lines += [f"# [{len(display)}, {self.snippet_dimension()}]", ""]
        lines += self.similarity_lines("embeddings, embeddings", len(display), len(display))
        return self.fenced(lines)

    def similarity_lines(self, arguments: str, rows: int, columns: int) -> list[str]:
        """The snippet's similarity lines, with the computed scores when there are any.

        Args:
            arguments: The call's arguments, as source.
            rows: The scores' rows.
            columns: The scores' columns.

        Returns:
            The lines.
        """
        lines = ["# Similarity of every pair of embeddings", f"similarities = model.similarity({arguments})"]
        if self.similarities:
            return [*lines, "print(similarities)", self.similarities]
        return [*lines, "print(similarities.shape)", f"# [{rows}, {columns}]"]

    @staticmethod
    def fenced(lines: list[str]) -> str:
        """Lines as a fenced Python code block.

        Args:
            lines: The lines.

        Returns:
            The Markdown block.
        """
        return "```python\n" + "\n".join(lines) + "\n```"

    def run_usage_snippet(self) -> None:
        """Fill `similarities` by running the model on the text usage examples (left empty when it cannot)."""
        examples = self.usage_examples or self.default_examples()
        if self.model is None or len(examples) < 2 or not all(isinstance(text, str) for text in examples):
            return
        try:
            if self.ir_model:
                first = self.model.encode_query(examples[:1], convert_to_tensor=True)
                second = self.model.encode_document(examples[1:], convert_to_tensor=True)
            else:
                first = second = self.model.encode(examples, convert_to_tensor=True)
            scores = self.model.similarity(first, second).cpu()
        except Exception as error:
            logger.warning("The usage snippet's similarities were not computed: %s", error)
            return
        self.similarities = commented(repr(scores.round(decimals=4)))

    # ----- static helpers kept on the class (the reference's names) ------------------------------------------

    _is_typed_media_dict = staticmethod(card_media.is_typed_media_dict)
    _hash_asset = staticmethod(card_media.hash_asset)
    _video_decoder_to_dict = staticmethod(card_media.video_decoder_to_dict)
    _prepare_for_inference = staticmethod(card_media.prepare_for_inference)
    _format_example_value = staticmethod(card_media.format_example_value)

    # ----- everything the card shows ---------------------------------------------------------------------------

    def get_default_model_name(self) -> str:
        """The card's title when no model_name is set.

        Returns:
            E.g. "SentenceTransformer based on bert-base-uncased".
        """
        base = f" based on {self.base_model}" if self.base_model else ""
        return f"{self.model_class}{base}"

    def model_facts(self) -> dict[str, Any]:
        """The model's own facts for the card's details list (dimension, lengths, similarity, ...).

        Returns:
            Fact name -> value.
        """
        return {}

    def evaluation_sections(self) -> list[dict[str, Any]]:
        """One entry per evaluator: its description, dataset, class, settings and metrics table.

        Returns:
            The entries.
        """
        sections = []
        for evaluator, metrics in self.eval_results_dict.items():
            primary = (getattr(evaluator, "primary_metric", None) or "").removeprefix(
                f"{getattr(evaluator, 'name', '')}_"
            )
            rows = [
                [f"**{name}**" if name == primary else name, f"**{value:.4f}**" if name == primary else f"{value:.4f}"]
                for name, value in metrics.items()
            ]
            config = evaluator.get_config_dict() if callable(getattr(evaluator, "get_config_dict", None)) else {}
            sections.append(
                {
                    "description": " ".join(evaluator_words(evaluator)) or type(evaluator).__name__,
                    "dataset_name": getattr(evaluator, "name", "") or "",
                    "class_name": qualified_class_name(evaluator),
                    "config_code": json_block(config) if config else "",
                    "table": markdown_table(["Metric", "Value"], rows),
                }
            )
        return sections

    def refresh_example_tables(self) -> None:
        """Re-render the datasets' example tables, so that their media are saved in this card's folder."""
        for entry in [*self.train_datasets, *self.eval_datasets]:
            if entry.get("examples"):
                entry["examples_table"] = self.render_examples_table(entry)

    def to_dict(self) -> dict[str, Any]:
        """Everything the card shows, usage snippet included (saving example media when the card has a folder).

        Returns:
            The template's values.
        """
        if self.ir_model is None:
            self.try_to_set_ir_model_from_evaluators()
        if self.ir_model is None:
            self.try_to_set_ir_model_from_prompts()
        self.save_usage_example_assets()
        if self.similarities is None:
            self.run_usage_snippet()
        self.refresh_example_tables()
        return {
            "model_name": self.model_name or self.get_default_model_name(),
            "model_id": self.model_id,
            "base_model": self.base_model,
            "base_model_revision": self.base_model_revision,
            "language": self.language,
            "license": self.license,
            "task_name": self.task_name,
            "train_datasets": self.train_datasets,
            "eval_datasets": self.eval_datasets,
            "model_facts": self.model_facts(),
            "model_string": repr(self.model) if self.model is not None else "",
            "usage_snippet": self.generate_usage_snippet(),
            "evaluations": self.evaluation_sections(),
            "non_default_hyperparameters": self.non_default_hyperparameters,
            "all_hyperparameters": self.all_hyperparameters,
            "training_logs": self.training_logs,
            "best_model_step": self.best_model_step,
            "training_seconds": self.training_seconds,
            "versions": package_versions(),
            "citations": {"Sentence Transformers": SBERT_CITATION, **self.citations},
        }

    # ----- front matter ---------------------------------------------------------------------------------------

    def eval_result_entries(self) -> list[EvalResult]:
        """The model-index results of the front matter.

        Returns:
            One huggingface_hub EvalResult per metric.
        """
        results = [
            EvalResult(
                task_type=task_type(evaluator),
                dataset_type=getattr(evaluator, "name", "") or "unnamed",
                dataset_name=getattr(evaluator, "name", "") or "unnamed",
                metric_type=metric,
                metric_value=value,
                metric_name=metric,
            )
            for evaluator, metrics in self.eval_results_dict.items()
            for metric, value in metrics.items()
        ]
        fresh = {(result.dataset_name, result.metric_type) for result in results}
        for row in self.eval_results:
            if (row["dataset"], row["metric"]) not in fresh:
                results.append(
                    EvalResult(
                        task_type=row["task"] or "evaluation",
                        dataset_type=row["dataset"] or "unnamed",
                        dataset_name=row["dataset"] or "unnamed",
                        metric_type=row["metric"],
                        metric_value=row["value"],
                    )
                )
        return results

    def widget_entries(self) -> list[dict[str, Any]]:
        """The front matter's widget.

        Returns:
            The widget entries.
        """
        return self.widget

    def card_data(self) -> ModelCardData:
        """The front matter as huggingface_hub's ModelCardData.

        Returns:
            The ModelCardData.
        """
        datasets = [entry["id"] for entry in [*self.train_datasets, *self.eval_datasets] if entry.get("id")]
        results = self.eval_result_entries()
        return ModelCardData(
            language=self.language or None,
            license=self.license,
            library_name=LIBRARY_NAME,
            tags=list(dict.fromkeys([*self.default_tags, *self.tags, *self.training_tags()])),
            base_model=self.base_model,
            datasets=datasets or None,
            pipeline_tag=self.current_pipeline_tag(),
            widget=self.widget_entries() or None,
            model_name=self.model_name or self.get_default_model_name(),
            eval_results=results or None,
        )

    def training_tags(self) -> list[str]:
        """Tags a training run implies: the number of training samples and each loss.

        Returns:
            The tags.
        """
        sizes = [entry["size"] for entry in self.train_datasets if isinstance(entry.get("size"), int)]
        return ([f"dataset_size:{sum(sizes)}"] if sizes else []) + [f"loss:{name}" for name in self.losses]

    def current_pipeline_tag(self) -> str:
        """The Hub pipeline tag for this model.

        Returns:
            The tag.
        """
        return self.pipeline_tag

    def to_yaml(self) -> str:
        """The front matter.

        Returns:
            The YAML text.
        """
        return self.card_data().to_yaml()

    # ----- keeping the card a model was loaded with -----------------------------------------------------------

    def fingerprint(self) -> str:
        """A digest of everything the card would say (fields that are working state are left out).

        Returns:
            The digest.
        """
        return repr([(item.name, getattr(self, item.name)) for item in fields(self) if item.compare])

    def remember_loaded_state(self) -> None:
        """Note the state read from a loaded README, so that saving an unchanged model keeps that README."""
        if self.loaded_card_text is not None:
            self.loaded_fingerprint = self.fingerprint()

    def unchanged_card_text(self, model_id: str | None = None) -> str | None:
        """The README the model was loaded with, when nothing the card says has changed since (no training,
        evaluation or edits); `model_id` replaces the snippet's placeholder id. None otherwise.

        Args:
            model_id: The Hub id to show in the usage snippet instead of the placeholder.

        Returns:
            The README text, or None.
        """
        if self.loaded_card_text is None or self.loaded_fingerprint != self.fingerprint():
            return None
        if model_id is None:
            return self.loaded_card_text
        return self.loaded_card_text.replace(f'"{self.snippet_model_id()}"', f'"{model_id}"')

    # ----- reading a saved card back ---------------------------------------------------------------------------

    @classmethod
    def from_readme(cls, path: str | Path) -> BaseModelCardData:
        """The card data a saved README.md declares in its front matter (an empty one when it has none).

        Args:
            path: The README.md.

        Returns:
            The card data.
        """
        data = cls()
        path = Path(path)
        if not path.is_file():
            return data
        try:
            meta = metadata_load(path) or {}
        except Exception as error:
            logger.warning("%s: the front matter is not valid YAML (%s); the card data starts empty", path, error)
            return data
        data.read_meta(meta if isinstance(meta, dict) else {})
        data.loaded_card_text = path.read_text(encoding="utf-8")
        return data

    def read_meta(self, meta: dict[str, Any]) -> None:
        """Fill the fields from parsed front matter, leaving out the tags every card of this kind has.

        Args:
            meta: The parsed front matter.
        """
        self.language = as_list(meta.get("language"), "language")
        self.license = meta.get("license")
        self.model_name = meta.get("model_name")
        self.base_model = meta.get("base_model") if isinstance(meta.get("base_model"), str) else None
        self.tags = [
            tag
            for tag in as_list(meta.get("tags"), "tags")
            if tag not in self.default_tags and not tag.startswith(DERIVED_TAG_PREFIXES)
        ]
        self.train_datasets = [{"name": name, "id": name} for name in as_list(meta.get("datasets"), "datasets")]
        self.widget = list(meta.get("widget") or [])
        for entry in meta.get("model-index") or []:
            self.model_name = self.model_name or entry.get("name")
            for result in entry.get("results") or []:
                for metric in result.get("metrics") or []:
                    self.eval_results.append(
                        {
                            "task": (result.get("task") or {}).get("type"),
                            "dataset": (result.get("dataset") or {}).get("name"),
                            "metric": metric.get("type"),
                            "value": metric.get("value"),
                        }
                    )


@dataclass
class SentenceTransformerModelCardData(BaseModelCardData):
    """Card data for a bi-encoder (`SentenceTransformer(model_card_data=...)`); the arguments are
    `BaseModelCardData`'s."""

    task_name: str | None = (
        "semantic textual similarity, semantic search, paraphrase mining, classification, clustering, and more"
    )

    pipeline_tag = "sentence-similarity"
    default_tags = ("sentence-transformers", "sentence-similarity", "feature-extraction", "sentembed")
    model_class = "SentenceTransformer"

    def model_facts(self) -> dict[str, Any]:
        model = self.model
        if model is None:
            return {}
        modalities = [modality for modality in self.model_modalities()]
        return {
            "Maximum Sequence Length": f"{getattr(model, 'max_seq_length', None)} tokens",
            "Output Dimensionality": f"{model.get_embedding_dimension()} dimensions",
            "Similarity Function": getattr(model, "similarity_fn_name", None) or "cosine",
            "Supported Modalit" + ("ies" if len(modalities) > 1 else "y"): ", ".join(
                modality.title() for modality in modalities
            ),
        }


@dataclass
class CrossEncoderModelCardData(BaseModelCardData):
    """Card data for a cross-encoder (`CrossEncoder(model_card_data=...)`); the arguments are
    `BaseModelCardData`'s. Cross-encoders get no widget, only usage examples: a query and its candidates."""

    task_name: str | None = "text reranking and semantic search"

    pipeline_tag = "text-ranking"
    default_tags = ("sentence-transformers", "cross-encoder", "sentembed")
    model_class = "CrossEncoder"

    def current_pipeline_tag(self) -> str:
        """text-ranking for one score per pair, text-classification for several labels.

        Returns:
            The tag.
        """
        labels = getattr(self.model, "num_labels", 1)
        return "text-ranking" if labels == 1 else "text-classification"

    def widget_from_rows(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return []

    def usage_from_texts(self, rows: list[dict[str, Any]], texts: list[str]) -> list:
        """Pairs of the first row's first text with the texts of the first rows' second columns.

        Args:
            rows: The rows.
            texts: Their texts.

        Returns:
            The pairs, or None.
        """
        query = texts_of(rows[0])[0]
        candidates = [texts_of(row)[1] for row in rows if len(texts_of(row)) > 1][:USAGE_EXAMPLES]
        return [[query, candidate] for candidate in candidates] or None

    def default_examples(self) -> list:
        query = "How many people live in Berlin?"
        return [
            [query, "Berlin has about 3.7 million inhabitants."],
            [query, "Berlin is known for its museums."],
            [query, "Munich is the capital of Bavaria."],
        ]

    def snippet_model_id(self) -> str:
        return self.model_id or "cross_encoder_model_id"

    def _generate_text_snippet(self, pairs: list) -> str:
        labels = getattr(self.model, "num_labels", 1)
        shape = f"[{len(pairs)}]" if labels == 1 else f"[{len(pairs)}, {labels}]"
        query = pairs[0][0] if pairs and isinstance(pairs[0], (list, tuple)) else ""
        documents = [pair[1] for pair in pairs if isinstance(pair, (list, tuple)) and len(pair) > 1]
        lines = [*self.snippet_header(), *self.python_list("pairs", pairs)]
        lines += ["scores = model.predict(pairs)", "print(scores.shape)", f"# {shape}", ""]
        if labels == 1 and documents:
            lines += ["# Or rank the documents for the query, best first", "ranks = model.rank("]
            lines += [f"    {query!r},", "    [", *(f"        {document!r}," for document in documents), "    ],", ")"]
            lines += ["# [{'corpus_id': ..., 'score': ...}, ...]"]
        return self.fenced(lines)

    def run_usage_snippet(self) -> None:
        """Cross-encoder snippets show shapes only."""

    def model_facts(self) -> dict[str, Any]:
        model = self.model
        if model is None:
            return {}
        activation = getattr(model, "activation_fn", None)
        return {
            "Maximum Sequence Length": f"{getattr(model, 'max_length', None)} tokens",
            "Number of Output Labels": f"{getattr(model, 'num_labels', 1)} label"
            + ("s" if getattr(model, "num_labels", 1) != 1 else ""),
            "Activation Function": type(activation).__name__ if activation is not None else "none",
        }


def card_data_for(
    kind: type[BaseModelCardData], given: BaseModelCardData | None, name: Any, folder: Path | None, revision: str | None
) -> BaseModelCardData:
    """The caller's card data, else what the folder's README declares; a model loaded by hub id is the base model
    of whatever is trained from it."""
    if given is not None and not isinstance(given, kind):
        raise TypeError(f"model_card_data must be a {kind.__name__}, got {type(given).__name__}")
    data = given or (kind.from_readme(Path(folder) / "README.md") if folder is not None else kind())
    if name is not None and not Path(str(name)).exists():
        data.set_base_model(str(name), revision)
    data.remember_loaded_state()
    return data
