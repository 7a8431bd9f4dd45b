"""Retrieve and re-rank: a bi-encoder finds the top N candidates fast, a cross-encoder orders them exactly."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from sentembed.common.checks import check_positive_int, check_text_list
from sentembed.common.types import Hit
from sentembed.cross_encoder.model import CrossEncoder
from sentembed.search import semantic_search

Documents = Sequence[str] | Mapping[Any, str] | Callable[[Any], str]


class Retriever(Protocol):
    """Anything that finds candidates for query texts, such as an `EmbeddingStore`."""

    def search(self, queries: list[str], top_k: int) -> list[list[Hit]]:
        """Per query, up to `top_k` `{"corpus_id", "score"}` dicts, best first.

        Args:
            queries: The query texts.
            top_k: Hits per query.

        Returns:
            One list of hits per query.
        """


class EmbeddingRetriever:
    """Exact search over precomputed corpus embeddings with the bi-encoder's own similarity function.

    Args:
        bi_encoder: The SentenceTransformer that embedded the corpus; it embeds the queries (`encode_query`).
        corpus_embeddings: The corpus's (n, dim) embeddings.
    """

    def __init__(self, bi_encoder: Any, corpus_embeddings: Any) -> None:
        self.bi_encoder = bi_encoder
        self.corpus_embeddings = corpus_embeddings

    def search(self, queries: list[str], top_k: int) -> list[list[Hit]]:
        """Per query, up to `top_k` `{"corpus_id", "score"}` dicts, best first.

        Args:
            queries: The query texts.
            top_k: Hits per query.

        Returns:
            One list of hits per query.
        """
        query_embeddings = self.bi_encoder.encode_query(queries, convert_to_tensor=True)
        return semantic_search(
            query_embeddings, self.corpus_embeddings, top_k=top_k, score_function=self.bi_encoder.similarity
        )


class StoreRetriever:
    """Search an `EmbeddingStore`, which encodes the queries with its own model and returns stored texts.

    Args:
        store: The EmbeddingStore.
        rescore: Re-score a quantized store's candidates on the float32 rows. Default True.
    """

    def __init__(self, store: Any, rescore: bool = True) -> None:
        self.store = store
        self.rescore = rescore

    def search(self, queries: list[str], top_k: int) -> list[list[Hit]]:
        """Per query, up to `top_k` `{"corpus_id", "score"}` dicts, best first.

        Args:
            queries: The query texts.
            top_k: Hits per query.

        Returns:
            One list of hits per query.
        """
        return self.store.search(queries, top_k=top_k, rescore=self.rescore, return_texts=True)


class RetrieveAndRerank:
    """Retrieve `top_n` candidates per query, re-score them with a cross-encoder, keep the best `top_k`.

    Each hit carries both scores: `score` (cross-encoder) and `retrieval_score` (bi-encoder),
    plus `retrieval_rank` (0-based position before re-ranking) and the document `text`.

    Args:
        cross_encoder: The CrossEncoder (one label) that re-scores.
        retriever: Anything with `search(queries, top_k)`, such as EmbeddingRetriever or StoreRetriever.
        documents: The document texts by corpus id (a list, a dict, or a function of the id), for a retriever
            that gives none. Default None.
        top_n: Candidates retrieved per query. Default 100.

    Raises:
        ValueError: A cross-encoder with several labels, or a top_n that is not a positive int.
        TypeError: A retriever without `search`.
    """

    def __init__(
        self, cross_encoder: CrossEncoder, retriever: Retriever, documents: Documents | None = None, top_n: int = 100
    ):
        check_positive_int(top_n, "top_n")
        if cross_encoder.num_labels != 1:
            raise ValueError(
                f"re-ranking needs a cross-encoder with one label, got num_labels={cross_encoder.num_labels}"
            )
        if not hasattr(retriever, "search"):
            raise TypeError(f"retriever must have a search(queries, top_k) method, got {type(retriever).__name__}")
        self.cross_encoder = cross_encoder
        self.retriever = retriever
        self.documents = documents
        self.top_n = top_n

    @classmethod
    def from_corpus(
        cls,
        bi_encoder: Any,
        cross_encoder: CrossEncoder,
        corpus: Sequence[str],
        corpus_embeddings: Any = None,
        top_n: int = 100,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
    ) -> RetrieveAndRerank:
        """Search `corpus` by its embeddings, encoding it with `bi_encoder` when none are given.

        Args:
            bi_encoder: The SentenceTransformer that retrieves.
            cross_encoder: The CrossEncoder that re-scores.
            corpus: The document texts.
            corpus_embeddings: Their embeddings, when already computed. Default None: encoded here
                (`encode_document`).
            top_n: Candidates retrieved per query. Default 100.
            batch_size: Texts per encoding batch. Default 32.
            show_progress_bar: Show progress while encoding. Default None: from logging.

        Returns:
            The pipeline.

        Raises:
            ValueError: Embeddings of another count than the corpus.
        """
        if corpus_embeddings is None:
            corpus_embeddings = bi_encoder.encode_document(
                list(corpus), batch_size=batch_size, show_progress_bar=show_progress_bar, convert_to_tensor=True
            )
        if len(corpus_embeddings) != len(corpus):
            raise ValueError(f"corpus has {len(corpus)} texts but corpus_embeddings has {len(corpus_embeddings)} rows")
        return cls(cross_encoder, EmbeddingRetriever(bi_encoder, corpus_embeddings), corpus, top_n)

    @classmethod
    def from_store(
        cls, cross_encoder: CrossEncoder, store: Any, top_n: int = 100, rescore: bool = True
    ) -> RetrieveAndRerank:
        """Retrieve from an `EmbeddingStore` built with texts (`sentembed index` keeps them).

        Args:
            cross_encoder: The CrossEncoder that re-scores.
            store: The EmbeddingStore.
            top_n: Candidates retrieved per query. Default 100.
            rescore: Re-score a quantized store's candidates on the float32 rows. Default True.

        Returns:
            The pipeline.
        """
        return cls(cross_encoder, StoreRetriever(store, rescore), None, top_n)

    def text_of(self, hit: Hit) -> str:
        """The hit's document text: the retriever's own, else looked up in `documents` by corpus id.

        Args:
            hit: A retrieved hit.

        Returns:
            The text.

        Raises:
            ValueError: No text for the hit.
        """
        if isinstance(hit.get("text"), str):
            return hit["text"]
        corpus_id = hit["corpus_id"]
        if self.documents is None:
            raise ValueError(f"no text for corpus_id {corpus_id!r}: the retriever gives none, so pass documents=")
        if callable(self.documents):
            return self.documents(corpus_id)
        try:
            return self.documents[corpus_id]
        except (KeyError, IndexError, TypeError) as error:
            raise ValueError(f"no document text for corpus_id {corpus_id!r} in documents") from error

    def search(
        self,
        queries: str | list[str],
        top_k: int = 10,
        top_n: int | None = None,
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
    ) -> list[Hit] | list[list[Hit]]:
        """Per query, the `top_k` best of the retriever's `top_n` candidates, best first by cross-encoder score.

        A single query string gives one list of hits.

        Args:
            queries: A query text or a list of them.
            top_k: Hits kept per query. Default 10.
            top_n: Candidates retrieved per query. Default None: the pipeline's `top_n`.
            batch_size: Pairs per cross-encoder batch. Default 32.
            show_progress_bar: Show progress while scoring. Default None: from logging.

        Returns:
            Per query, hits with "corpus_id", "score", "retrieval_score", "retrieval_rank" and "text".

        Raises:
            ValueError: A top_k or top_n that is not a positive int, or a hit without text.
            TypeError: Queries that are not strings.
        """
        single = isinstance(queries, str)
        texts = [queries] if single else check_text_list(queries, "queries")
        check_positive_int(top_k, "top_k")
        top_n = check_positive_int(self.top_n if top_n is None else top_n, "top_n")
        candidates = self.retriever.search(texts, top_k=top_n) if texts else []
        results = self._rerank(texts, candidates, top_k, batch_size, show_progress_bar)
        return results[0] if single else results

    def _rerank(
        self,
        queries: list[str],
        candidates: list[list[Hit]],
        top_k: int,
        batch_size: int,
        show_progress_bar: bool | None,
    ) -> list[list[Hit]]:
        """Score every (query, candidate) pair in one `predict` call, then sort each query's hits."""
        hits = [
            [
                {
                    "corpus_id": hit["corpus_id"],
                    "retrieval_score": float(hit["score"]),
                    "retrieval_rank": rank,
                    "text": self.text_of(hit),
                }
                for rank, hit in enumerate(query_candidates)
            ]
            for query_candidates in candidates
        ]
        pairs = [(query, hit["text"]) for query, query_hits in zip(queries, hits, strict=True) for hit in query_hits]
        scores = iter(
            self.cross_encoder.predict(
                pairs, batch_size=batch_size, show_progress_bar=show_progress_bar, convert_to_tensor=True
            ).tolist()
        )
        for query_hits in hits:
            for hit in query_hits:
                hit["score"] = next(scores)
            query_hits.sort(key=lambda hit: hit["score"], reverse=True)
            del query_hits[top_k:]
        return hits
