"""Cross-encoder fixtures: WikiQA test pairs, our model and the reference's, and the reference's scores."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import CROSS_ENCODER, DATA


def read_wikiqa(split: str = "test") -> list[tuple[str, str, int]]:
    """WikiQA rows: (question, candidate sentence, label 0/1)."""
    rows = []
    with open(DATA / "wikiqa" / f"WikiQA-{split}.txt", encoding="utf-8") as handle:
        for line in handle:
            question, sentence, label = line.rstrip("\n").split("\t")
            rows.append((question, sentence, int(label)))
    return rows


def group_by_question(rows: list[tuple[str, str, int]]) -> dict[str, list[int]]:
    """Row indices per question, in first-seen order."""
    groups: dict[str, list[int]] = {}
    for index, (question, _, _) in enumerate(rows):
        groups.setdefault(question, []).append(index)
    return groups


def mean_average_precision(rows: list[tuple[str, str, int]], scores: np.ndarray) -> float:
    """WikiQA MAP, the usual way: over questions with both right and wrong candidates, ranked by score."""
    precisions = []
    for indices in group_by_question(rows).values():
        labels = [rows[index][2] for index in sorted(indices, key=lambda index: -scores[index])]
        if all(labels) or not any(labels):
            continue
        hits, total = 0, 0.0
        for position, label in enumerate(labels, start=1):
            if label:
                hits += 1
                total += hits / position
        precisions.append(total / hits)
    return float(np.mean(precisions))


def copy_checkpoint(folder: Path) -> Path:
    """A private copy of the test cross-encoder, to edit its config."""
    shutil.copytree(CROSS_ENCODER, folder)
    return folder


@pytest.fixture(scope="session")
def wikiqa_rows() -> list[tuple[str, str, int]]:
    return read_wikiqa("test")


@pytest.fixture(scope="session")
def wikiqa_pairs(wikiqa_rows) -> list[tuple[str, str]]:
    return [(question, sentence) for question, sentence, _ in wikiqa_rows]


@pytest.fixture(scope="session")
def cross_encoder():
    from sentembed import CrossEncoder

    return CrossEncoder(str(CROSS_ENCODER), device="cpu")


@pytest.fixture(scope="session")
def reference_cross_encoder():
    from sentence_transformers import CrossEncoder as Reference

    return Reference(str(CROSS_ENCODER), device="cpu")


@pytest.fixture(scope="session")
def reference_scores(reference_cross_encoder, wikiqa_pairs) -> np.ndarray:
    """The reference's scores of all 2,351 WikiQA test pairs, computed once."""
    return reference_cross_encoder.predict(wikiqa_pairs, batch_size=32)


@pytest.fixture(scope="session")
def our_scores(cross_encoder, wikiqa_pairs) -> np.ndarray:
    return cross_encoder.predict(wikiqa_pairs, batch_size=32)


@pytest.fixture(scope="session")
def modular_folder(tmp_path_factory, reference_cross_encoder) -> Path:
    """The test cross-encoder saved by the reference itself, which writes the modular layout."""
    folder = tmp_path_factory.mktemp("modular") / "model"
    reference_cross_encoder.save(str(folder))
    return folder
