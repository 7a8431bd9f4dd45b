"""Readers for the shared evaluation and training sets, in the shapes the evaluators and trainers take."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.conftest import DATA


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_qrels(path: Path) -> dict[str, set[str]]:
    relevant: dict[str, set[str]] = {}
    with open(path, encoding="utf-8") as handle:
        for row in list(csv.reader(handle, delimiter="\t"))[1:]:
            if int(row[2]) > 0:
                relevant.setdefault(row[0], set()).add(row[1])
    return relevant


def read_beir(folder: str, split: str = "test") -> tuple[dict[str, str], dict[str, str], dict[str, set[str]]]:
    """(queries, corpus, relevant_docs) of a BEIR folder; document text is title + " " + text."""
    root = DATA / folder
    queries = {row["_id"]: row["text"] for row in read_jsonl(root / "queries.jsonl")}
    corpus = {row["_id"]: (row["title"] + " " + row["text"]).strip() for row in read_jsonl(root / "corpus.jsonl")}
    return queries, corpus, read_qrels(root / "qrels" / f"{split}.tsv")


def read_mrpc(split: str) -> tuple[list[str], list[str], list[int]]:
    name = "msr_paraphrase_test.txt" if split == "test" else "msr_paraphrase_train_original.txt"
    first, second, labels = [], [], []
    with open(DATA / "mrpc" / name, encoding="utf-8-sig") as handle:
        for row in list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]:
            labels.append(int(row[0]))
            first.append(row[3])
            second.append(row[4])
    return first, second, labels


def read_wikiqa(split: str) -> list[tuple[str, str, int]]:
    with open(DATA / "wikiqa" / f"WikiQA-{split}.txt", encoding="utf-8") as handle:
        return [(row[0], row[1], int(row[2])) for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]


def wikiqa_samples(split: str) -> list[dict]:
    """One {"query", "positive", "negative"} sample per question, in first-seen order."""
    samples: dict[str, dict] = {}
    for question, answer, label in read_wikiqa(split):
        sample = samples.setdefault(question, {"query": question, "positive": [], "negative": []})
        sample["positive" if label else "negative"].append(answer)
    return list(samples.values())
