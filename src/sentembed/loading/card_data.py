"""Model cards as data: what the README's front matter says about a model (language, licence, datasets, base
model, widget examples, evaluation results, training details), filled in by loading, training and evaluation,
written as YAML through huggingface_hub and read back from a saved README."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from huggingface_hub import EvalResult, ModelCardData, metadata_load

logger = logging.getLogger(__name__)

WIDGET_ROWS = 5
LIBRARY_NAME = "sentence-transformers"


def as_list(value: str | list[str] | None, name: str) -> list[str]:
    """A string or a list of strings as a list; TypeError naming the argument otherwise."""
    if value is None:
        return []
    values = [value] if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if values is None or not all(isinstance(item, str) for item in values):
        raise TypeError(f"{name} must be a string or a list of strings, got {value!r}")
    return values


def dataset_entry(dataset: str | dict[str, Any], name: str) -> dict[str, Any]:
    """A dataset as the reference's {"name": ..., "id": ...} dict."""
    if isinstance(dataset, str):
        return {"name": dataset}
    if isinstance(dataset, dict) and ("name" in dataset or "id" in dataset):
        return dict(dataset)
    raise TypeError(f"each of {name} must be a dataset name or a dict with 'name' and/or 'id', got {dataset!r}")


@dataclass
class ModelCardDataBase:
    """The card fields both model kinds share; the subclasses set the pipeline tag and default tags."""

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
    widget: list[dict[str, Any]] = field(default_factory=list, init=False)
    eval_results: list[dict[str, Any]] = field(default_factory=list, init=False)
    losses: list[str] = field(default_factory=list, init=False)
    hyperparameters: dict[str, Any] = field(default_factory=dict, init=False)

    pipeline_tag: ClassVar[str] = "sentence-similarity"
    default_tags: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        self.language = as_list(self.language, "language")
        self.tags = as_list(self.tags, "tags")
        self.train_datasets = [dataset_entry(item, "train_datasets") for item in self.train_datasets]
        self.eval_datasets = [dataset_entry(item, "eval_datasets") for item in self.eval_datasets]

    # ----- what loading, training and evaluation fill in -----------------------------------------------

    def set_base_model(self, model_id: str, revision: str | None = None) -> None:
        self.base_model, self.base_model_revision = model_id, revision

    def set_language(self, language: str | list[str]) -> None:
        self.language = as_list(language, "language")

    def set_license(self, license: str) -> None:
        self.license = license

    def set_model_id(self, model_id: str) -> None:
        self.model_id = model_id

    def add_tags(self, tags: str | list[str]) -> None:
        self.tags = list(dict.fromkeys([*self.tags, *as_list(tags, "tags")]))

    def set_losses(self, losses: list[Any]) -> None:
        """The loss class names of a training run."""
        self.losses = list(dict.fromkeys(type(loss).__name__ for loss in losses))

    def set_hyperparameters(self, hyperparameters: dict[str, Any]) -> None:
        self.hyperparameters = dict(hyperparameters)

    def set_train_datasets(self, names: list[str]) -> None:
        """The training datasets by name, unless the caller already named them."""
        if not self.train_datasets:
            self.train_datasets = [{"name": name} for name in names]

    def set_widget_examples(self, rows: list[list[str]]) -> None:
        """Widget examples from rows of texts: the first text against the others."""
        if not self.generate_widget_examples:
            return
        examples = [row for row in rows if len(row) >= 2 and all(isinstance(text, str) for text in row)]
        self.widget = [{"source_sentence": row[0], "sentences": list(row[1:])} for row in examples[:WIDGET_ROWS]]

    def set_evaluation_metrics(self, evaluator: Any, metrics: dict[str, Any], epoch: float = 0, step: int = 0) -> None:
        """Record an evaluator's numbers; a later evaluation of the same metric replaces the earlier one."""
        dataset = getattr(evaluator, "name", "") or type(evaluator).__name__
        task = type(evaluator).__name__.removesuffix("Evaluator")
        fresh = {
            key.removeprefix(f"{dataset}_"): float(value)
            for key, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        kept = [row for row in self.eval_results if row["dataset"] != dataset or row["metric"] not in fresh]
        self.eval_results = kept + [
            {"task": task, "dataset": dataset, "metric": metric, "value": value, "epoch": epoch, "step": step}
            for metric, value in fresh.items()
        ]

    # ----- writing and reading --------------------------------------------------------------------------

    def card_data(self) -> ModelCardData:
        """The front matter as huggingface_hub's ModelCardData."""
        results = [
            EvalResult(
                task_type=row["task"],
                dataset_type=row["dataset"],
                dataset_name=row["dataset"],
                metric_type=row["metric"],
                metric_value=row["value"],
            )
            for row in self.eval_results
        ]
        datasets = [entry.get("id") or entry.get("name") for entry in self.train_datasets]
        return ModelCardData(
            language=self.language or None,
            license=self.license,
            library_name=LIBRARY_NAME,
            tags=list(dict.fromkeys([*self.default_tags, *self.tags])),
            base_model=self.base_model,
            datasets=datasets or None,
            pipeline_tag=self.pipeline_tag,
            widget=self.widget or None,
            model_name=self.model_name or self.model_id or "model",
            eval_results=results or None,
        )

    def to_yaml(self) -> str:
        return self.card_data().to_yaml()

    def to_dict(self) -> dict[str, Any]:
        return {item.name: getattr(self, item.name) for item in fields(self)}

    def details(self) -> list[str]:
        """Card facts from this data (language, licence, base model, datasets, losses)."""
        facts = []
        if self.base_model:
            facts.append(f"Base model: {self.base_model}")
        if self.language:
            facts.append("Language: " + ", ".join(self.language))
        if self.license:
            facts.append(f"License: {self.license}")
        if self.train_datasets:
            facts.append("Training data: " + ", ".join(str(d.get("name") or d.get("id")) for d in self.train_datasets))
        if self.losses:
            facts.append("Losses: " + ", ".join(self.losses))
        return facts

    def evaluation_table(self) -> str:
        """The evaluation results as a markdown table (empty when there are none)."""
        if not self.eval_results:
            return ""
        lines = ["| evaluator | dataset | metric | value |", "|---|---|---|---|"]
        for row in self.eval_results:
            lines.append(f"| {row['task']} | {row['dataset']} | {row['metric']} | {row['value']:.4f} |")
        return "\n".join(lines)

    @classmethod
    def from_readme(cls, path: str | Path) -> ModelCardDataBase:
        """The card data a saved README.md declares in its front matter (an empty one when it has none)."""
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
        return data

    def read_meta(self, meta: dict[str, Any]) -> None:
        """Fill the fields from parsed front matter, leaving out the tags every card of this kind has."""
        self.language = as_list(meta.get("language"), "language")
        self.license = meta.get("license")
        self.model_name = meta.get("model_name")
        self.base_model = meta.get("base_model")
        self.tags = [tag for tag in as_list(meta.get("tags"), "tags") if tag not in self.default_tags]
        self.train_datasets = [{"name": name} for name in as_list(meta.get("datasets"), "datasets")]
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
class SentenceTransformerModelCardData(ModelCardDataBase):
    """Card data for a bi-encoder (`SentenceTransformer(model_card_data=...)`)."""

    task_name: str | None = (
        "semantic textual similarity, semantic search, paraphrase mining, classification, clustering, and more"
    )

    pipeline_tag = "sentence-similarity"
    default_tags = ("sentence-transformers", "sentence-similarity", "feature-extraction", "sentembed")


@dataclass
class CrossEncoderModelCardData(ModelCardDataBase):
    """Card data for a cross-encoder (`CrossEncoder(model_card_data=...)`)."""

    pipeline_tag = "text-ranking"
    default_tags = ("sentence-transformers", "cross-encoder", "sentembed")


def card_data_for(
    kind: type[ModelCardDataBase], given: ModelCardDataBase | None, name: Any, folder: Path | None, revision: str | None
) -> ModelCardDataBase:
    """The caller's card data, else what the folder's README declares; a model loaded by hub id is the base model
    of whatever is trained from it."""
    if given is not None and not isinstance(given, kind):
        raise TypeError(f"model_card_data must be a {kind.__name__}, got {type(given).__name__}")
    data = given or (kind.from_readme(Path(folder) / "README.md") if folder is not None else kind())
    if name is not None and not Path(str(name)).exists():
        data.set_base_model(str(name), revision)
    return data
