"""Readers of the shared data sets (STS benchmark, BEIR folders, MRPC, WikiQA), in the shapes the tests use."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.support.paths import DATA


def read_sts(split: str) -> tuple[list[str], list[str], list[float]]:
    """STS benchmark rows: (sentence1s, sentence2s, gold scores 0-5)."""
    first, second, scores = [], [], []
    with open(DATA / "stsbenchmark" / f"sts-{split}.csv", encoding="utf-8") as handle:
        for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            first.append(row[5])
            second.append(row[6])
            scores.append(float(row[4]))
    return first, second, scores


def sts_test_sentences() -> list[str]:
    """The distinct sentences of STSb test, in first-seen order."""
    first, second, _ = read_sts("test")
    return list(dict.fromkeys(first + second))


def read_jsonl(path: Path) -> list[dict]:
    """One dict per non-blank line of a JSON lines file."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_qrels(path: Path) -> dict[str, set[str]]:
    """Relevant document ids per query id, from a BEIR qrels TSV (rows scored above 0)."""
    relevant: dict[str, set[str]] = {}
    with open(path, encoding="utf-8") as handle:
        for row in list(csv.reader(handle, delimiter="\t"))[1:]:
            if int(row[2]) > 0:
                relevant.setdefault(row[0], set()).add(row[1])
    return relevant


def read_beir(folder: str | Path, split: str = "test") -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """(queries, corpus, relevant_docs) of a BEIR folder (a name under DATA, or a path), in file order; document
    text is title + " " + text."""
    root = DATA / folder
    queries = {row["_id"]: row["text"] for row in read_jsonl(root / "queries.jsonl")}
    corpus = {row["_id"]: (row["title"] + " " + row["text"]).strip() for row in read_jsonl(root / "corpus.jsonl")}
    return queries, corpus, read_qrels(root / "qrels" / f"{split}.tsv")


def read_beir_lists(folder: str | Path) -> tuple[list[str], list[str], list[str], list[str], dict[str, set[str]]]:
    """(doc ids, doc texts, query ids, query texts, relevant doc ids per query) of the test split, keeping only
    the queries that have a relevant document."""
    queries, corpus, qrels = read_beir(folder)
    asked = [query_id for query_id in queries if query_id in qrels]
    return list(corpus), list(corpus.values()), asked, [queries[query_id] for query_id in asked], qrels


def read_mrpc(split: str) -> tuple[list[str], list[str], list[int]]:
    """MRPC rows: (first sentences, second sentences, labels 0/1); `split` is "test" or "train"."""
    name = "msr_paraphrase_test.txt" if split == "test" else "msr_paraphrase_train_original.txt"
    first, second, labels = [], [], []
    with open(DATA / "mrpc" / name, encoding="utf-8-sig") as handle:
        for row in list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]:
            labels.append(int(row[0]))
            first.append(row[3])
            second.append(row[4])
    return first, second, labels


def read_wikiqa(split: str = "test") -> list[tuple[str, str, int]]:
    """WikiQA rows: (question, candidate sentence, label 0/1)."""
    with open(DATA / "wikiqa" / f"WikiQA-{split}.txt", encoding="utf-8") as handle:
        return [(row[0], row[1], int(row[2])) for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]


def wikiqa_samples(split: str) -> list[dict]:
    """One {"query", "positive", "negative"} sample per question, in first-seen order."""
    samples: dict[str, dict] = {}
    for question, answer, label in read_wikiqa(split):
        sample = samples.setdefault(question, {"query": question, "positive": [], "negative": []})
        sample["positive" if label else "negative"].append(answer)
    return list(samples.values())


def group_by_question(rows: list[tuple[str, str, int]]) -> dict[str, list[int]]:
    """Row indices per question, in first-seen order."""
    groups: dict[str, list[int]] = {}
    for index, (question, _, _) in enumerate(rows):
        groups.setdefault(question, []).append(index)
    return groups
