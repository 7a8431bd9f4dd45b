"""Hard-negative mining: add close-but-wrong documents to (anchor, positive) pairs for training."""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from sentembed.common.checks import check_positive_int
from sentembed.common.files import load_array, save_array
from sentembed.common.protocols import EncoderModel
from sentembed.quantization import build_faiss_index, require
from sentembed.search._topk import chunked_top_k
from sentembed.similarity import SimilarityFunction

logger = logging.getLogger(__name__)

OUTPUT_FORMATS = ("triplet", "n-tuple", "labeled-pair", "labeled-list")
NEG_INF = float("-inf")


@dataclass
class MiningProblem:
    """Unique queries, the candidate corpus, and each query's positive corpus indices (in first-seen order)."""

    anchor_name: str
    positive_name: str
    queries: list[str]
    corpus: list[str]
    positives: list[list[int]]
    max_rows_per_query: int


def mine_hard_negatives(
    dataset: Any,
    model: EncoderModel,
    anchor_column_name: str | None = None,
    positive_column_name: str | None = None,
    corpus: list[str] | None = None,
    cross_encoder: Any = None,
    range_min: int = 0,
    range_max: int | None = None,
    max_score: float | None = None,
    min_score: float | None = None,
    absolute_margin: float | None = None,
    relative_margin: float | None = None,
    num_negatives: int = 3,
    sampling_strategy: Literal["random", "top"] = "top",
    query_prompt_name: str | None = None,
    query_prompt: str | None = None,
    corpus_prompt_name: str | None = None,
    corpus_prompt: str | None = None,
    include_positives: bool = False,
    output_format: Literal["triplet", "n-tuple", "n-tuple-scores", "labeled-pair", "labeled-list"] = "triplet",
    output_scores: bool = False,
    batch_size: int = 32,
    faiss_batch_size: int = 16384,
    use_faiss: bool = False,
    use_multi_process: bool = False,
    verbose: bool = True,
    cache_folder: str | None = None,
    as_triplets: bool | None = None,
    margin: float | None = None,
) -> Any:
    """Mine `num_negatives` hard negatives per anchor from the positives (plus `corpus`) with `model`.

    `dataset` is a `datasets.Dataset` (returns one) or a list of (anchor, positive) pairs (returns a list of
    tuples, one per output row). Candidates rank `range_min`..`range_max` by similarity, minus the positives,
    filtered by `max_score`/`min_score` and the margins to the anchor's weakest positive.
    `use_faiss` ranks candidates with a faiss index, `use_multi_process` encodes in a pool on every device, and
    `cache_folder` keeps the embeddings as `.npy` files that a later run with the same texts reuses.
    `as_triplets`, `margin` and `output_format="n-tuple-scores"` are the reference's older spellings.

    Args:
        dataset: A `datasets.Dataset` with an anchor and a positive column, or a list of (anchor, positive)
            pairs of strings.
        model: The bi-encoder that ranks candidates (a SentenceTransformer), with its similarity function.
        anchor_column_name: The dataset's anchor column. Default None: its first column.
        positive_column_name: The dataset's positive column. Default None: its second column.
        corpus: Extra documents to draw negatives from, besides the positives. Default None.
        cross_encoder: A CrossEncoder that re-scores the candidates for the score and margin filters. Default
            None: the bi-encoder's scores are used.
        range_min: Skip this many best-ranked candidates (they may be unlabeled positives). Default 0.
        range_max: Consider candidates ranked below this. Default None: enough for `num_negatives` (ten times
            as many when a filter is set).
        max_score: Reject candidates scoring above this (likely false negatives). Default None.
        min_score: Reject candidates scoring below this (too easy). Default None.
        absolute_margin: Reject candidates scoring within this of the anchor's weakest positive
            (negative score + margin > positive score). Default None.
        relative_margin: Reject candidates scoring above (1 - relative_margin) times the weakest positive's
            score. Default None.
        num_negatives: Negatives per anchor (a positive int). Default 3.
        sampling_strategy: "top" (default): the best remaining candidates; "random": random ones among them.
        query_prompt_name: The name of the model's prompt for anchors. Default None.
        query_prompt: A prompt to put before anchors. Default None.
        corpus_prompt_name: The name of the model's prompt for documents. Default None.
        corpus_prompt: A prompt to put before documents. Default None.
        include_positives: Keep the positives among the candidates (the output is then "n-tuple"). Default
            False.
        output_format: "triplet" (default): one (anchor, positive, negative) row per negative; "n-tuple": one
            (anchor, positive, negative_1, ..., negative_n) row per pair, dropped when fewer negatives were
            found; "labeled-pair": (anchor, text, label) rows, 1 for positives and 0 for negatives;
            "labeled-list": (anchor, [texts], [labels]) per pair.
        output_scores: Add the scores (a "scores" column, or the score instead of the label). Default False.
        batch_size: Texts per encoding (and cross-encoder) batch. Default 32.
        faiss_batch_size: Queries searched at once (a positive int). Default 16384.
        use_faiss: Rank with a faiss index (needs faiss) instead of exact search. Default False.
        use_multi_process: Encode in a pool of processes, one per device. Default False.
        verbose: Log what the filters removed and show progress. Default True.
        cache_folder: Keep the embeddings there as .npy files, reused by a later run on the same texts.
            Default None.
        as_triplets: The reference's older switch: True means "triplet", False "n-tuple". Default None.
        margin: The reference's older name of `absolute_margin`. Default None.

    Returns:
        A `datasets.Dataset` when `dataset` is one, else a list of row tuples, in the `output_format`'s columns.

    Raises:
        TypeError: A dataset that is neither a Dataset nor a list of string pairs.
        ValueError: An empty dataset, an unknown `sampling_strategy` or `output_format`, a `num_negatives` or
            `faiss_batch_size` that is not a positive int, a range too small for the negatives, or both
            `absolute_margin` and `margin`.
    """
    output_format, output_scores = _read_old_output_options(output_format, output_scores, as_triplets)
    absolute_margin = _read_old_margin(absolute_margin, margin)
    check_positive_int(num_negatives, "num_negatives")
    check_positive_int(faiss_batch_size, "faiss_batch_size")
    if sampling_strategy not in ("top", "random"):
        raise ValueError(f"sampling_strategy must be 'top' or 'random', got {sampling_strategy!r}")
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {list(OUTPUT_FORMATS)}, got {output_format!r}")
    if include_positives and output_format != "n-tuple":
        logger.warning("include_positives=True keeps the ranking order, so output_format is set to 'n-tuple'")
        output_format = "n-tuple"
    problem = _read_problem(dataset, anchor_column_name, positive_column_name, corpus)
    filtering = any(value is not None for value in (absolute_margin, relative_margin, max_score))
    filtering = filtering or (cross_encoder is not None and min_score is not None)
    range_max = _check_range(range_min, range_max, num_negatives, problem.max_rows_per_query, filtering)

    with EmbeddingJob(model, batch_size, verbose, cache_folder, use_multi_process) as encoding:
        query_embeddings = encoding.run("query", problem.queries, query_prompt_name, query_prompt)
        corpus_embeddings = encoding.run("document", problem.corpus, corpus_prompt_name, corpus_prompt)
    score_function = SimilarityFunction.to_similarity_fn(model.similarity_fn_name or "cosine")
    width = range_max + problem.max_rows_per_query
    if use_faiss:
        scores, indices = _faiss_top_k(query_embeddings, corpus_embeddings, width, faiss_batch_size)
    else:
        scores, indices = _padded_top_k(query_embeddings, corpus_embeddings, width, faiss_batch_size, score_function)
    positive_scores = _positive_scores(model, query_embeddings, corpus_embeddings, problem.positives)
    del query_embeddings, corpus_embeddings
    if cross_encoder is not None and (filtering or min_score is not None):
        scores, positive_scores = _cross_encoder_scores(cross_encoder, problem, indices, batch_size)

    scores[indices == -1] = NEG_INF
    if not include_positives:
        scores[_positive_mask(indices, problem.positives)] = NEG_INF
    weakest = torch.stack([group.min() for group in torch.split(positive_scores, _group_sizes(problem))])
    _apply_filters(scores, weakest, absolute_margin, relative_margin, max_score, min_score, verbose)

    negative_scores, order = torch.topk(scores, k=range_max, dim=1)
    negatives = indices.gather(1, order)[:, range_min:]
    negative_scores = negative_scores[:, range_min:]
    negative_scores, negatives = _sample(negative_scores, negatives, num_negatives, sampling_strategy)
    _warn_when_short(negative_scores, num_negatives)
    columns = _build_columns(problem, negatives, negative_scores, positive_scores, output_format, output_scores)
    return _as_output(dataset, columns)


def _read_old_output_options(output_format: str, output_scores: bool, as_triplets: bool | None) -> tuple[str, bool]:
    """The output format and scores flag, from the reference's deprecated `as_triplets` and "n-tuple-scores"."""
    if as_triplets is not None:
        output_format = "triplet" if as_triplets else "n-tuple"
        logger.warning("as_triplets is deprecated; use output_format=%r instead", output_format)
    if output_format == "n-tuple-scores":
        logger.warning('output_format="n-tuple-scores" is deprecated; use output_format="n-tuple", output_scores=True')
        return "n-tuple", True
    return output_format, output_scores


def _read_old_margin(absolute_margin: float | None, margin: float | None) -> float | None:
    """`margin` is the reference's older name for `absolute_margin`."""
    if margin is None:
        return absolute_margin
    if absolute_margin is not None:
        raise ValueError("give absolute_margin, or its deprecated name margin, not both")
    logger.warning("margin is deprecated; use absolute_margin=%s (and/or relative_margin) instead", margin)
    return margin


class EmbeddingJob:
    """Normalised query or document embeddings: read from `cache_folder` when saved there, else encoded (in one
    multi-process pool for both kinds, started when first needed, when asked) and saved."""

    def __init__(
        self, model: EncoderModel, batch_size: int, verbose: bool, cache_folder: str | None, use_multi_process: bool
    ) -> None:
        self.model, self.batch_size, self.verbose = model, batch_size, verbose
        self.cache_folder = None if cache_folder is None else Path(cache_folder)
        self.use_multi_process = use_multi_process
        self.pool: Any = None

    def __enter__(self) -> EmbeddingJob:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.pool is not None:
            self.pool.close()

    def run(self, kind: str, texts: list[str], prompt_name: str | None, prompt: str | None) -> torch.Tensor:
        path = self.cache_path(kind, texts, prompt_name, prompt)
        if path is not None and path.exists():
            return torch.from_numpy(load_array(path).copy())
        encode = self.model.encode_query if kind == "query" else self.model.encode_document
        options = dict(
            batch_size=self.batch_size, normalize_embeddings=True, convert_to_tensor=True,
            show_progress_bar=self.verbose, prompt_name=prompt_name, prompt=prompt,
        )  # fmt: skip
        if self.use_multi_process and self.pool is None:
            self.pool = self.model.start_multi_process_pool()
        embeddings = encode(texts, pool=self.pool, **options)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_array(path, embeddings.float().cpu().numpy())
        return embeddings

    def cache_path(self, kind: str, texts: list[str], prompt_name: str | None, prompt: str | None) -> Path | None:
        """A file named by a digest of the model's folder, the prompt and the texts."""
        if self.cache_folder is None:
            return None
        digest = hashlib.sha256()
        for part in (
            str(getattr(self.model, "model_path", None) or type(self.model).__name__),
            kind,
            prompt_name,
            prompt,
        ):
            digest.update(repr(part).encode() + b"\0")
        for text in texts:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\0")
        return self.cache_folder / f"{kind}_embeddings_{digest.hexdigest()}.npy"


def _faiss_top_k(queries: torch.Tensor, corpus: torch.Tensor, width: int, batch_size: int):
    """(n_queries, width) inner-product scores and ids from an exact faiss index; missing slots -inf and -1."""
    faiss = require("faiss", "faiss-cpu")
    index = build_faiss_index(faiss, corpus.float().cpu().numpy(), "float32", exact=True)
    query_array = queries.float().cpu().numpy()
    parts = [
        index.search(query_array[start : start + batch_size], width) for start in range(0, len(query_array), batch_size)
    ]
    scores = torch.from_numpy(np.concatenate([part[0] for part in parts])).float()
    indices = torch.from_numpy(np.concatenate([part[1] for part in parts])).long()
    scores[indices == -1] = NEG_INF
    return scores, indices


def _warn_when_short(negative_scores: torch.Tensor, wanted: int) -> None:
    """Say how many anchors got fewer than `wanted` negatives (their rows are dropped or shorter)."""
    short = int((negative_scores == NEG_INF).any(dim=1).sum())
    if short:
        logger.warning(
            "could not find %d negatives for %d of %d anchors (%.2f%%); widen range_max, or loosen max_score and "
            "the margins, to find more",
            wanted,
            short,
            len(negative_scores),
            100 * short / len(negative_scores),
        )


def _read_problem(dataset: Any, anchor_name: str | None, positive_name: str | None, corpus: list[str] | None):
    """Read the anchor and positive columns of a `datasets.Dataset` or a list of pairs."""
    anchors, positives, anchor_name, positive_name = _read_columns(dataset, anchor_name, positive_name)
    if not anchors:
        raise ValueError("the dataset is empty; give at least one (anchor, positive) pair")
    documents = list(dict.fromkeys([*(corpus if corpus is not None else positives), *positives]))
    document_index = {text: index for index, text in enumerate(documents)}
    queries = list(dict.fromkeys(anchors))
    query_index = {text: index for index, text in enumerate(queries)}
    grouped: list[list[int]] = [[] for _ in queries]
    rows_per_query = [0] * len(queries)
    for anchor, positive in zip(anchors, positives, strict=True):
        group = grouped[query_index[anchor]]
        rows_per_query[query_index[anchor]] += 1
        if document_index[positive] not in group:
            group.append(document_index[positive])
    return MiningProblem(anchor_name, positive_name, queries, documents, grouped, max(rows_per_query))


def _read_columns(dataset: Any, anchor_name: str | None, positive_name: str | None):
    column_names = getattr(dataset, "column_names", None)
    if column_names is not None:
        if len(column_names) < 2:
            raise ValueError(f"the dataset needs an anchor and a positive column, got columns {column_names}")
        anchor_name = anchor_name if anchor_name in column_names else column_names[0]
        positive_name = positive_name if positive_name in column_names else column_names[1]
        return list(dataset[anchor_name]), list(dataset[positive_name]), anchor_name, positive_name
    if not isinstance(dataset, Sequence) or isinstance(dataset, str):
        raise TypeError(
            f"dataset must be a datasets.Dataset or a list of (anchor, positive) pairs, got {type(dataset)}"
        )
    for index, row in enumerate(dataset):
        if not (isinstance(row, (tuple, list)) and len(row) == 2 and all(isinstance(text, str) for text in row)):
            raise TypeError(f"dataset[{index}] must be an (anchor, positive) pair of strings, got {row!r}")
    anchors = [row[0] for row in dataset]
    positives = [row[1] for row in dataset]
    return anchors, positives, anchor_name or "anchor", positive_name or "positive"


def _check_range(range_min: int, range_max: int | None, num_negatives: int, max_rows: int, filtering: bool) -> int:
    """Default `range_max` leaves room for filtered candidates; refuse windows too small for the negatives."""
    if isinstance(range_min, bool) or not isinstance(range_min, int) or range_min < 0:
        raise ValueError(f"range_min must be a non-negative integer, got {range_min!r}")
    if range_max is None:
        range_max = range_min + num_negatives * (10 if filtering else 1) + max_rows
    if range_min >= range_max:
        raise ValueError(f"range_min ({range_min}) must be smaller than range_max ({range_max})")
    if num_negatives > range_max - range_min:
        raise ValueError(
            f"cannot mine {num_negatives} negatives from ranks {range_min}..{range_max}; widen the range "
            "or lower num_negatives"
        )
    return range_max


def _padded_top_k(queries, corpus, width: int, query_chunk_size: int, score_function):
    """(n_queries, width) best scores and corpus indices; missing slots are -inf and -1."""
    scores, indices = chunked_top_k(queries, corpus, width, query_chunk_size, len(corpus), score_function)
    missing = width - scores.shape[1]
    if missing > 0:
        scores = torch.cat([scores, scores.new_full((len(scores), missing), NEG_INF)], dim=1)
        indices = torch.cat([indices, indices.new_full((len(indices), missing), -1)], dim=1)
    return scores.clone(), indices


def _group_sizes(problem: MiningProblem) -> list[int]:
    return [len(group) for group in problem.positives]


def _positive_scores(
    model: EncoderModel, query_embeddings, corpus_embeddings, positives: list[list[int]]
) -> torch.Tensor:
    """The model's score of each (query, positive) pair, grouped by query."""
    query_rows = [query for query, group in enumerate(positives) for _ in group]
    document_rows = [document for group in positives for document in group]
    return model.similarity_pairwise(query_embeddings[query_rows], corpus_embeddings[document_rows]).float()


def _cross_encoder_scores(cross_encoder, problem: MiningProblem, indices: torch.Tensor, batch_size: int):
    """Re-score every candidate and every positive pair with the cross-encoder."""
    scores = torch.full(indices.shape, NEG_INF)
    for row, candidates in enumerate(indices.tolist()):
        valid = [index for index in candidates if index >= 0]
        pairs = [(problem.queries[row], problem.corpus[index]) for index in valid]
        predicted = cross_encoder.predict(pairs, batch_size=batch_size, convert_to_tensor=True)
        scores[row, : len(valid)] = torch.as_tensor(predicted, dtype=torch.float32).reshape(-1).cpu()
    pairs = [
        (problem.queries[row], problem.corpus[index]) for row, group in enumerate(problem.positives) for index in group
    ]
    positive_scores = cross_encoder.predict(pairs, batch_size=batch_size, convert_to_tensor=True)
    return scores, torch.as_tensor(positive_scores, dtype=torch.float32).reshape(-1).cpu()


def _positive_mask(indices: torch.Tensor, positives: list[list[int]]) -> torch.Tensor:
    return torch.stack([torch.isin(row, torch.tensor(group)) for row, group in zip(indices, positives, strict=True)])


def _apply_filters(scores, weakest, absolute_margin, relative_margin, max_score, min_score, verbose: bool) -> None:
    """Set the score of every rejected candidate to -inf, logging how many each rule removed."""
    rules = []
    if absolute_margin is not None:
        rules.append(("absolute_margin", absolute_margin, scores + absolute_margin > weakest[:, None]))
    if relative_margin is not None:
        rules.append(
            ("relative_margin", relative_margin, scores > (weakest - weakest.abs() * relative_margin)[:, None])
        )
    if max_score is not None:
        rules.append(("max_score", max_score, scores > max_score))
    if min_score is not None:
        rules.append(("min_score", min_score, scores < min_score))
    for name, value, rejected in rules:
        rejected &= scores != NEG_INF
        scores[rejected] = NEG_INF
        if verbose and rejected.any():
            logger.info("skipped %d candidate negatives because of %s=%s", int(rejected.sum()), name, value)


def _sample(scores: torch.Tensor, negatives: torch.Tensor, count: int, strategy: str):
    """The `count` best candidates, or `count` random valid ones (re-sorted best first)."""
    if strategy == "top":
        return scores[:, :count], negatives[:, :count]
    options = (negatives.shape[1] - scores.isinf().sum(dim=1)).clamp(min=count).tolist()
    chosen = torch.tensor([random.sample(range(n), k=count) for n in options])
    scores, negatives = scores.gather(1, chosen), negatives.gather(1, chosen)
    scores, order = scores.sort(dim=1, descending=True)
    return scores, negatives.gather(1, order)


def _build_columns(problem, negatives, negative_scores, positive_scores, output_format: str, output_scores: bool):
    """Column name -> values for the chosen output format; rows without enough valid negatives are dropped."""
    anchor, positive = problem.anchor_name, problem.positive_name
    corpus = problem.corpus
    columns: dict[str, list] = {}
    position = 0
    for query, group in enumerate(problem.positives):
        valid = [
            (int(i), float(s))
            for i, s in zip(negatives[query].tolist(), negative_scores[query].tolist(), strict=True)
            if s != NEG_INF
        ]
        text = problem.queries[query]
        group_scores = positive_scores[position : position + len(group)].tolist()
        position += len(group)
        if output_format == "labeled-pair":
            _labeled_pairs(columns, anchor, positive, text, group, group_scores, valid, corpus, output_scores)
            continue
        for document, score in zip(group, group_scores, strict=True):
            _add_rows(
                columns,
                anchor,
                positive,
                text,
                corpus[document],
                score,
                valid,
                corpus,
                output_format,
                output_scores,
                len(negatives[query]),
            )
    return columns


def _append(columns: dict[str, list], row: dict[str, Any]) -> None:
    for name, value in row.items():
        columns.setdefault(name, []).append(value)


def _labeled_pairs(columns, anchor, positive, text, group, group_scores, valid, corpus, output_scores: bool) -> None:
    label = "score" if output_scores else "label"
    for document, score in zip(group, group_scores, strict=True):
        _append(columns, {anchor: text, positive: corpus[document], label: score if output_scores else 1})
    for document, score in valid:
        _append(columns, {anchor: text, positive: corpus[document], label: score if output_scores else 0})


def _add_rows(
    columns, anchor, positive, text, positive_text, positive_score, valid, corpus, output_format, output_scores, wanted
) -> None:
    if output_format == "triplet":
        for document, score in valid:
            row = {anchor: text, positive: positive_text, "negative": corpus[document]}
            _append(columns, {**row, "scores": [positive_score, score]} if output_scores else row)
    elif output_format == "n-tuple":
        if len(valid) < wanted:
            return
        row = {anchor: text, positive: positive_text}
        row.update({f"negative_{n}": corpus[document] for n, (document, _) in enumerate(valid, start=1)})
        _append(columns, {**row, "scores": [positive_score, *(s for _, s in valid)]} if output_scores else row)
    elif valid:
        documents = [positive_text, *(corpus[document] for document, _ in valid)]
        extra = (
            {"scores": [positive_score, *(s for _, s in valid)]}
            if output_scores
            else {"labels": [1] + [0] * len(valid)}
        )
        _append(columns, {anchor: text, positive: documents, **extra})


def _as_output(dataset: Any, columns: dict[str, list]) -> Any:
    """A `datasets.Dataset` when the input was one, else a list of row tuples."""
    if getattr(dataset, "column_names", None) is not None:
        from datasets import Dataset

        return Dataset.from_dict(columns)
    return list(zip(*columns.values(), strict=True))
