"""Retrieve and re-rank on WikiQA test: MRR@10 of the bi-encoder's order and of the re-ranked order.

Run: .venv/bin/python benchmarks/rerank_wikiqa.py
The corpus is every distinct WikiQA test candidate sentence; the queries are the 243 questions with a
right answer. The bi-encoder is paraphrase-MiniLM-L3-v2, the cross-encoder the test cross-encoder.
(Equality of each step with the reference is asserted in tests/cross_encoder/test_rerank.py.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
WIKIQA_TEST = SHARED / "data" / "wikiqa" / "WikiQA-test.txt"
BI_ENCODER = SHARED / "models" / "paraphrase-MiniLM-L3-v2"
CROSS_ENCODER = SHARED / "models" / "wikiqa-MiniLM-L3-v2-cross-encoder"
TOP_NS = (5, 10, 20)


def read_questions() -> tuple[list[str], list[tuple[str, set[int]]]]:
    """The corpus of distinct candidate sentences, and each answered question with its right corpus ids."""
    with open(WIKIQA_TEST, encoding="utf-8") as handle:
        rows = [line.rstrip("\n").split("\t") for line in handle]
    corpus = list(dict.fromkeys(sentence for _, sentence, _ in rows))
    position = {sentence: index for index, sentence in enumerate(corpus)}
    right: dict[str, set[int]] = {}
    for question, sentence, label in rows:
        answers = right.setdefault(question, set())
        if label == "1":
            answers.add(position[sentence])
    return corpus, [(question, answers) for question, answers in right.items() if answers]


def reciprocal_rank(corpus_ids: list[int], right: set[int]) -> float:
    return next((1 / rank for rank, corpus_id in enumerate(corpus_ids[:10], start=1) if corpus_id in right), 0.0)


def main() -> None:
    from sentembed import CrossEncoder, SentenceTransformer
    from sentembed.cross_encoder import RetrieveAndRerank

    corpus, questions = read_questions()
    pipeline = RetrieveAndRerank.from_corpus(
        SentenceTransformer(str(BI_ENCODER), device="cpu"), CrossEncoder(str(CROSS_ENCODER), device="cpu"), corpus
    )
    results = pipeline.search([question for question, _ in questions], top_k=max(TOP_NS), top_n=max(TOP_NS))
    print(f"{len(questions)} questions over {len(corpus)} candidate sentences")
    print("top_n  MRR@10 retrieval  MRR@10 re-ranked")
    for top_n in TOP_NS:
        retrieved, reranked = [], []
        for hits, (_, right) in zip(results, questions, strict=True):
            candidates = [hit for hit in hits if hit["retrieval_rank"] < top_n]
            retrieved.append(
                reciprocal_rank(
                    [hit["corpus_id"] for hit in sorted(candidates, key=lambda hit: hit["retrieval_rank"])], right
                )
            )
            reranked.append(reciprocal_rank([hit["corpus_id"] for hit in candidates], right))
        print(f"{top_n:>5}  {np.mean(retrieved):16.4f}  {np.mean(reranked):16.4f}")


if __name__ == "__main__":
    main()
