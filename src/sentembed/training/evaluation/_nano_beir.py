"""NanoBEIREvaluator: InformationRetrievalEvaluator on the small NanoBEIR sets, with metrics averaged over them.

The sets are read as the reference reads them: `datasets.load_dataset(dataset_id, subset, split="Nano{Name}")` for
the subsets "corpus" (`_id`, `text`), "queries" (`_id`, `text`) and "qrels" (`query-id`, `corpus-id`). With
`dataset_folder`, they are read from a local copy of such a dataset instead: `{folder}/{subset}/Nano{Name}*.parquet`
(or `.jsonl`), the layout of the hub repositories, so nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sentembed.common.protocols import EncoderModel
from sentembed.similarity import SimilarityFunction, SimilarityName
from sentembed.training.evaluation._base import SentenceEvaluator
from sentembed.training.evaluation._information_retrieval import InformationRetrievalEvaluator

DATASET_NAMES = {
    "climatefever": "ClimateFEVER",
    "dbpedia": "DBPedia",
    "fever": "FEVER",
    "fiqa2018": "FiQA2018",
    "hotpotqa": "HotpotQA",
    "msmarco": "MSMARCO",
    "nfcorpus": "NFCorpus",
    "nq": "NQ",
    "quoraretrieval": "QuoraRetrieval",
    "scidocs": "SCIDOCS",
    "arguana": "ArguAna",
    "scifact": "SciFact",
    "touche2020": "Touche2020",
}
SUBSET_COLUMNS = {"corpus": ("_id", "text"), "queries": ("_id", "text"), "qrels": ("query-id", "corpus-id")}
ScoreFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def check_dataset_names(names: list[str]) -> list[str]:
    if not names:
        raise ValueError("dataset_names cannot be empty. Use None to evaluate on all datasets.")
    unknown = [name for name in names if name.lower() not in DATASET_NAMES]
    if unknown:
        raise ValueError(
            f"Dataset(s) {unknown} are not valid NanoBEIR datasets. Valid dataset names are: {list(DATASET_NAMES)}"
        )
    return list(names)


def prompts_per_dataset(prompts: str | dict[str, str] | None, names: list[str], kind: str) -> dict[str, str] | None:
    """One prompt per set: a string for all, or a dict that must name every set."""
    if prompts is None or isinstance(prompts, dict) and not prompts:
        return None
    if isinstance(prompts, str):
        return dict.fromkeys(names, prompts)
    missing = [name for name in names if name not in prompts]
    if missing:
        raise ValueError(f"{kind}_prompts has no prompt for the sets {missing}")
    return dict(prompts)


def local_files(folder: Path, subset: str, split: str) -> tuple[str, list[str]]:
    """The parquet (or JSON lines) files of one subset and split in a local copy of a NanoBEIR dataset."""
    for kind, suffix in (("parquet", ".parquet"), ("json", ".jsonl")):
        files = sorted(str(path) for path in (folder / subset).glob(f"{split}*{suffix}"))
        if files:
            return kind, files
    raise OSError(f"{folder} has no {subset}/{split}*.parquet (or .jsonl): not a local copy of a NanoBEIR dataset")


def local_row_count(kind: str, files: list[str]) -> int:
    """How many rows local parquet files (from their metadata) or JSON lines files (non-blank lines) hold."""
    if kind == "parquet":
        import pyarrow.parquet as parquet

        return sum(parquet.ParquetFile(file).metadata.num_rows for file in files)
    count = 0
    for file in files:
        with open(file, encoding="utf-8") as lines:
            count += sum(1 for line in lines if line.strip())
    return count


def load_subset(dataset_id: str, folder: str | os.PathLike | None, subset: str, split: str) -> tuple[Any, str]:
    """One subset's split as a datasets.Dataset, from the local folder when given, else from the hub; and where it
    came from (the file, for errors). Every row must hold its columns (no nulls)."""
    try:
        from datasets import load_dataset
    except ImportError as error:
        raise ImportError("NanoBEIREvaluator needs the datasets package: pip install 'sentembed[train]'") from error
    if folder is not None:
        kind, files = local_files(Path(folder), subset, split)
        where = files[0] if len(files) == 1 else f"{Path(folder) / subset / split}* ({len(files)} files)"
        try:
            empty = local_row_count(kind, files) == 0
            dataset = None if empty else load_dataset(kind, data_files=files, split="train")
        except Exception as error:  # datasets and pyarrow raise many kinds for a damaged file
            raise OSError(f"{where} could not be read as {kind} ({type(error).__name__}: {error})") from error
        if empty:
            raise ValueError(f"{where} has no rows")
    else:
        try:
            dataset = load_dataset(dataset_id, subset, split=split)
        except Exception as error:  # offline, unknown repository, missing split: all end here
            raise OSError(
                f"could not load subset {subset!r} split {split!r} of {dataset_id!r} from the Hugging Face hub "
                f"({type(error).__name__}: {error}). Offline, download the dataset and pass its folder as "
                "dataset_folder=..."
            ) from error
        where = f"{dataset_id} {subset}/{split}"
    missing = [column for column in SUBSET_COLUMNS[subset] if column not in dataset.column_names]
    if missing:
        raise ValueError(f"{where} lacks the columns {missing}; it has {dataset.column_names}")
    if len(dataset) == 0:
        raise ValueError(f"{where} has no rows")
    for column in SUBSET_COLUMNS[subset]:
        for row, value in enumerate(dataset[column]):
            if value is None or isinstance(value, list) and None in value:
                raise ValueError(f"{where} row {row}: {column} is null")
    return dataset, where


def relevant_documents(
    qrels: tuple[Any, str], query_ids: set[str], corpus_ids: set[str], sources: tuple[str, str]
) -> dict[str, set[str]]:
    """query id -> relevant corpus ids; a qrels row may name one corpus id or a list of them. Each id must be one
    the queries and the corpus hold (`sources` names their files)."""
    table, where = qrels
    relevant: dict[str, set[str]] = {}
    for row, (query_id, named) in enumerate(zip(table["query-id"], table["corpus-id"], strict=True)):
        if query_id not in query_ids:
            raise ValueError(f"{where} row {row}: query-id {query_id!r} is not in {sources[0]}")
        documents = named if isinstance(named, list) else [named]
        for corpus_id in documents:
            if corpus_id not in corpus_ids:
                raise ValueError(f"{where} row {row}: corpus-id {corpus_id!r} is not in {sources[1]}")
        relevant.setdefault(query_id, set()).update(documents)
    return relevant


class NanoBEIREvaluator(SentenceEvaluator):
    """Retrieval metrics on each chosen NanoBEIR set (`Nano{Name}_{fn}_{metric}`), and their aggregate over the
    sets (`NanoBEIR_{aggregate_key}_{fn}_{metric}`; primary: the best function's aggregate NDCG@max k).

    Args:
        dataset_names: The sets, e.g. ["msmarco", "nq", "scifact"] (any case). Default None: all 13.
        dataset_id: The hub dataset to read them from. Default "sentence-transformers/NanoBEIR-en".
        mrr_at_k: Cut-offs for MRR. Default (10,).
        ndcg_at_k: Cut-offs for NDCG. Default (10,).
        accuracy_at_k: Cut-offs for accuracy. Default (1, 3, 5, 10).
        precision_recall_at_k: Cut-offs for precision and recall. Default (1, 3, 5, 10).
        map_at_k: Cut-offs for MAP. Default (100,).
        show_progress_bar: Show progress while encoding. Default False.
        batch_size: Texts per `encode` batch. Default 32.
        write_csv: Append the aggregated metrics to a CSV file in the `output_path` of each call. Default True.
        truncate_dim: Evaluate embeddings cut to this many dimensions. Default None: the model's.
        score_functions: Name -> function scoring (queries, documents) embeddings. Default None: the model's
            similarity function.
        main_score_function: The function whose aggregate NDCG is the primary metric. Default None: the best.
        aggregate_fn: Combines a metric's values over the sets. Default `np.mean`.
        aggregate_key: The aggregate's name in the metrics. Default "mean".
        query_prompts: A prompt for every set's queries, or set name -> prompt naming every set. Default None.
        corpus_prompts: The same for the documents. Default None.
        write_predictions: Not supported; must stay False.
        dataset_folder: Read the sets from this local copy of the dataset instead of the hub. Default None.

    Raises:
        ValueError: No or unknown set names, prompts missing for a set, or `write_predictions=True`.
    """

    def __init__(
        self,
        dataset_names: list[str] | None = None,
        dataset_id: str = "sentence-transformers/NanoBEIR-en",
        mrr_at_k: list[int] = (10,),
        ndcg_at_k: list[int] = (10,),
        accuracy_at_k: list[int] = (1, 3, 5, 10),
        precision_recall_at_k: list[int] = (1, 3, 5, 10),
        map_at_k: list[int] = (100,),
        show_progress_bar: bool = False,
        batch_size: int = 32,
        write_csv: bool = True,
        truncate_dim: int | None = None,
        score_functions: dict[str, ScoreFunction] | None = None,
        main_score_function: SimilarityName | SimilarityFunction | None = None,
        aggregate_fn: Callable[[list[float]], float] = np.mean,
        aggregate_key: str = "mean",
        query_prompts: str | dict[str, str] | None = None,
        corpus_prompts: str | dict[str, str] | None = None,
        write_predictions: bool = False,
        dataset_folder: str | os.PathLike | None = None,
    ) -> None:
        name = f"NanoBEIR_{aggregate_key}" + (f"_{truncate_dim}" if truncate_dim else "")
        super().__init__(name, write_csv)
        if write_predictions:
            raise ValueError("NanoBEIREvaluator(write_predictions=True) is not supported by sentembed")
        self.dataset_names = check_dataset_names(list(DATASET_NAMES) if dataset_names is None else dataset_names)
        self.dataset_id, self.dataset_folder = dataset_id, dataset_folder
        self.aggregate_fn, self.aggregate_key = aggregate_fn, aggregate_key
        self.truncate_dim = truncate_dim
        self.ndcg_at_k = list(ndcg_at_k)
        self.main_score_function = main_score_function and SimilarityFunction.parse(main_score_function)
        self.query_prompts = prompts_per_dataset(query_prompts, self.dataset_names, "query")
        self.corpus_prompts = prompts_per_dataset(corpus_prompts, self.dataset_names, "corpus")
        retrieval_options = dict(
            mrr_at_k=mrr_at_k,
            ndcg_at_k=ndcg_at_k,
            accuracy_at_k=accuracy_at_k,
            precision_recall_at_k=precision_recall_at_k,
            map_at_k=map_at_k,
            show_progress_bar=show_progress_bar,
            batch_size=batch_size,
            write_csv=write_csv,
            truncate_dim=truncate_dim,
            score_functions=score_functions,
            main_score_function=main_score_function,
        )
        self.evaluators = [self.load_evaluator(dataset, retrieval_options) for dataset in self.dataset_names]

    def set_name(self, dataset_name: str) -> str:
        """The per-set evaluator's name.

        Args:
            dataset_name: The set, e.g. "scifact".

        Returns:
            E.g. "NanoSciFact" ("NanoSciFact_256" with truncate_dim=256).
        """
        readable = f"Nano{DATASET_NAMES[dataset_name.lower()]}"
        return readable + (f"_{self.truncate_dim}" if self.truncate_dim else "")

    def load_evaluator(self, dataset_name: str, options: dict[str, Any]) -> InformationRetrievalEvaluator:
        """Read one set and make its retrieval evaluator.

        Args:
            dataset_name: The set, e.g. "scifact".
            options: The InformationRetrievalEvaluator's other arguments.

        Returns:
            The set's evaluator.

        Raises:
            ImportError: The datasets package is missing.
            ValueError: qrels naming queries or documents the set does not hold.
        """
        split = f"Nano{DATASET_NAMES[dataset_name.lower()]}"
        (corpus, corpus_file), (queries, queries_file), qrels = (
            load_subset(self.dataset_id, self.dataset_folder, subset, split) for subset in SUBSET_COLUMNS
        )
        relevant = relevant_documents(qrels, set(queries["_id"]), set(corpus["_id"]), (queries_file, corpus_file))
        return InformationRetrievalEvaluator(
            queries={qid: text for qid, text in zip(queries["_id"], queries["text"], strict=True) if text},
            corpus={cid: text for cid, text in zip(corpus["_id"], corpus["text"], strict=True) if text},
            relevant_docs=relevant,
            name=self.set_name(dataset_name),
            query_prompt=(self.query_prompts or {}).get(dataset_name),
            corpus_prompt=(self.corpus_prompts or {}).get(dataset_name),
            **options,
        )

    def __call__(self, model: EncoderModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        per_set: dict[str, float] = {}
        per_metric: dict[str, list[float]] = {}
        for evaluator in self.evaluators:
            for key, value in evaluator(model, output_path, epoch, steps).items():
                per_set[key] = value
                per_metric.setdefault(key[len(evaluator.name) + 1 :], []).append(value)
        aggregated = {metric: float(self.aggregate_fn(values)) for metric, values in per_metric.items()}
        self.primary_metric = self.primary_from(aggregated)
        self.save_csv(output_path, epoch, steps, aggregated)
        return {**per_set, **self.prefix_name_to_metrics(aggregated)}

    def primary_from(self, aggregated: dict[str, float]) -> str:
        """The primary metric's name.

        Args:
            aggregated: The aggregated metrics, "{fn}_{metric}" -> value.

        Returns:
            `{fn}_ndcg@{max k}` for the main score function, or for the function with the best aggregate NDCG.
        """
        suffix = f"_ndcg@{max(self.ndcg_at_k)}"
        if self.main_score_function is not None:
            return self.main_score_function.value + suffix
        functions = [key.removesuffix(suffix) for key in aggregated if key.endswith(suffix)]
        return max(functions, key=lambda function: aggregated[function + suffix]) + suffix

    @property
    def csv_file(self) -> str:
        return f"NanoBEIR_evaluation_{self.aggregate_key}_results.csv"

    def get_config_dict(self) -> dict[str, Any]:
        """Settings worth recording in a model card.

        Returns:
            The sets, the dataset id, and truncate_dim, prompts and dataset_folder when set.
        """
        config = {"dataset_names": self.dataset_names, "dataset_id": self.dataset_id}
        for key in ("truncate_dim", "query_prompts", "corpus_prompts", "dataset_folder"):
            if getattr(self, key) is not None:
                config[key] = str(getattr(self, key)) if key == "dataset_folder" else getattr(self, key)
        return config

    @property
    def description(self) -> str:
        return "Information Retrieval"
