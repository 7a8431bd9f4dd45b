"""InformationRetrievalEvaluator: rank a corpus for each query and score the ranking against judgements."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import trange

from sentembed.common.protocols import EncoderModel
from sentembed.similarity import SimilarityFunction, SimilarityName
from sentembed.training.evaluation._base import SentenceEvaluator
from sentembed.training.evaluation._metrics import ranking_metrics

ScoreFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class InformationRetrievalEvaluator(SentenceEvaluator):
    """MRR@k, NDCG@k, MAP@k, Recall@k, Precision@k and Accuracy@k for each score function.

    Ties in score are broken by corpus id, so results do not depend on `corpus_chunk_size`.

    Args:
        queries: Query id -> text.
        corpus: Document id -> text.
        relevant_docs: Query id -> ids of its relevant documents; queries without any are left out.
        corpus_chunk_size: Documents scored at once. Default 50000.
        mrr_at_k: Cut-offs for MRR. Default (10,).
        ndcg_at_k: Cut-offs for NDCG. Default (10,).
        accuracy_at_k: Cut-offs for accuracy (a relevant document in the top k). Default (1, 3, 5, 10).
        precision_recall_at_k: Cut-offs for precision and recall. Default (1, 3, 5, 10).
        map_at_k: Cut-offs for MAP. Default (100,).
        show_progress_bar: Show progress while encoding. Default False.
        batch_size: Texts per `encode` batch. Default 32.
        name: A name for the data, put before every metric and in the CSV file's name. Default "".
        write_csv: Append the metrics to a CSV file in the `output_path` of each call. Default True.
        truncate_dim: Evaluate embeddings cut to this many dimensions. Default None: the model's.
        score_functions: Name -> function scoring (queries, documents) embeddings, e.g. {"cosine": cos_sim}.
            Default None: the model's similarity function.
        main_score_function: The function whose NDCG is the primary metric. Default None: the best.
        query_prompt: A prompt to put before every query. Default None.
        query_prompt_name: The name of the model's prompt for queries. Default None.
        corpus_prompt: A prompt to put before every document. Default None.
        corpus_prompt_name: The name of the model's prompt for documents. Default None.

    Raises:
        ValueError: No query with a relevant document, or an empty corpus.
    """

    def __init__(
        self,
        queries: dict[str, str],
        corpus: dict[str, str],
        relevant_docs: dict[str, set[str]],
        corpus_chunk_size: int = 50000,
        mrr_at_k: list[int] = (10,),
        ndcg_at_k: list[int] = (10,),
        accuracy_at_k: list[int] = (1, 3, 5, 10),
        precision_recall_at_k: list[int] = (1, 3, 5, 10),
        map_at_k: list[int] = (100,),
        show_progress_bar: bool = False,
        batch_size: int = 32,
        name: str = "",
        write_csv: bool = True,
        truncate_dim: int | None = None,
        score_functions: dict[str, ScoreFunction] | None = None,
        main_score_function: SimilarityName | SimilarityFunction | None = None,
        query_prompt: str | None = None,
        query_prompt_name: str | None = None,
        corpus_prompt: str | None = None,
        corpus_prompt_name: str | None = None,
    ) -> None:
        super().__init__(name, write_csv)
        self.queries_ids = [qid for qid in queries if relevant_docs.get(qid)]
        if not self.queries_ids:
            raise ValueError("no query in `queries` has a relevant document in `relevant_docs`")
        if not corpus:
            raise ValueError("`corpus` must not be empty")
        self.queries = [queries[qid] for qid in self.queries_ids]
        self.corpus_ids = list(corpus)
        self.corpus = [corpus[cid] for cid in self.corpus_ids]
        self.relevant_docs = {qid: set(map(str, docs)) for qid, docs in relevant_docs.items()}
        self.corpus_chunk_size = corpus_chunk_size
        self.cutoffs = {
            "accuracy": list(accuracy_at_k),
            "precision_recall": list(precision_recall_at_k),
            "mrr": list(mrr_at_k),
            "ndcg": list(ndcg_at_k),
            "map": list(map_at_k),
        }
        self.show_progress_bar = show_progress_bar
        self.batch_size = batch_size
        self.truncate_dim = truncate_dim
        self.score_functions = score_functions
        self.main_score_function = main_score_function and SimilarityFunction.parse(main_score_function)
        self.query_prompt, self.query_prompt_name = query_prompt, query_prompt_name
        self.corpus_prompt, self.corpus_prompt_name = corpus_prompt, corpus_prompt_name

    @property
    def max_k(self) -> int:
        return max(max(values) for values in self.cutoffs.values())

    def _score_functions(self, model: EncoderModel) -> dict[str, ScoreFunction]:
        if self.score_functions:
            return self.score_functions
        name = model.similarity_fn_name or "cosine"
        return {name: SimilarityFunction.to_similarity_fn(name)}

    def _encode(
        self, model: EncoderModel, texts: list[str], prompt: str | None, prompt_name: str | None
    ) -> torch.Tensor:
        return model.encode(
            texts,
            prompt=prompt,
            prompt_name=prompt_name,
            batch_size=self.batch_size,
            show_progress_bar=self.show_progress_bar,
            convert_to_tensor=True,
            truncate_dim=self.truncate_dim,
        )

    def rank_corpus(
        self, model: EncoderModel, corpus_embeddings: torch.Tensor | None = None
    ) -> dict[str, list[list[str]]]:
        """For each score function, each query's best `max_k` corpus ids, best first.

        Args:
            model: The model to evaluate.
            corpus_embeddings: The corpus's embeddings, when already computed. Default None: encoded here.

        Returns:
            Score function name -> per query, the corpus ids.
        """
        functions = self._score_functions(model)
        query_embeddings = self._encode(model, self.queries, self.query_prompt, self.query_prompt_name)
        candidates = {name: [[] for _ in self.queries] for name in functions}
        for start in trange(
            0, len(self.corpus), self.corpus_chunk_size, desc="Corpus chunks", disable=not self.show_progress_bar
        ):
            end = min(start + self.corpus_chunk_size, len(self.corpus))
            chunk = (
                corpus_embeddings[start:end]
                if corpus_embeddings is not None
                else self._encode(model, self.corpus[start:end], self.corpus_prompt, self.corpus_prompt_name)
            )
            for name, function in functions.items():
                self._merge_chunk(function(query_embeddings, chunk).cpu(), start, candidates[name])
        return {name: [[cid for _, cid in hits] for hits in per_query] for name, per_query in candidates.items()}

    def _merge_chunk(self, scores: torch.Tensor, offset: int, candidates: list[list[tuple[float, str]]]) -> None:
        """Keep each query's best `max_k` (score, id) pairs, ordered by score and then by corpus id."""
        k = min(self.max_k, scores.shape[1])
        thresholds = torch.topk(scores, k, dim=1).values[:, -1:]
        for query, (row, threshold) in enumerate(zip(scores, thresholds, strict=True)):
            columns = torch.nonzero(row >= threshold).flatten().tolist()
            hits = candidates[query] + [(float(row[c]), self.corpus_ids[offset + c]) for c in columns]
            hits.sort(key=lambda hit: (-hit[0], hit[1]))
            candidates[query] = hits[: self.max_k]

    def compute_metrics(self, model: EncoderModel, corpus_embeddings: torch.Tensor | None = None) -> dict[str, dict]:
        """Every metric, per score function, without names or CSV.

        Args:
            model: The model to evaluate.
            corpus_embeddings: The corpus's embeddings, when already computed. Default None: encoded here.

        Returns:
            Score function name -> metric -> value, e.g. {"cosine": {"ndcg@10": ...}}.
        """
        relevant = [self.relevant_docs[qid] for qid in self.queries_ids]
        return {
            name: ranking_metrics(
                ranked,
                relevant,
                self.cutoffs["accuracy"],
                self.cutoffs["precision_recall"],
                self.cutoffs["mrr"],
                self.cutoffs["ndcg"],
                self.cutoffs["map"],
            )
            for name, ranked in self.rank_corpus(model, corpus_embeddings).items()
        }

    def __call__(self, model: EncoderModel, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict:
        per_function = self.compute_metrics(model)
        metrics = {f"{fn}_{metric}": value for fn, values in per_function.items() for metric, value in values.items()}
        self.save_csv(output_path, epoch, steps, metrics)
        ndcg_k = max(self.cutoffs["ndcg"])
        if self.main_score_function is not None:
            best = self.main_score_function.value
        else:
            best = max(per_function, key=lambda fn: per_function[fn][f"ndcg@{ndcg_k}"])
        self.primary_metric = f"{best}_ndcg@{ndcg_k}"
        return self.prefix_name_to_metrics(metrics)

    @property
    def description(self) -> str:
        return "Information Retrieval"
