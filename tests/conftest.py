"""Shared test fixtures: real models and real data from ../shared, and the reference as an oracle.

The helpers these fixtures are built from live in tests/support/; test modules import them from there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.data import read_wikiqa, sts_test_sentences
from tests.support.models import random_static_model
from tests.support.paths import CROSS_ENCODER, MINILM_L3, minilm_l6_folder
from tests.support.retrieval import SCIFACT, SCIFACT_1K, EncodedBeir


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")
    parser.addoption("--runlarge", action="store_true", help="also run tests that need all-mpnet-base-v2")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "slow" in item.keywords and not config.getoption("--runslow"):
            item.add_marker(pytest.mark.skip(reason="slow: run with --runslow"))
        if "large" in item.keywords and not config.getoption("--runlarge"):
            item.add_marker(pytest.mark.skip(reason="large: run with --runlarge (scripts/fetch-mpnet first)"))


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
def cross_encoder():
    """The WikiQA cross-encoder of ../shared (MiniLM-L3)."""
    from sentembed import CrossEncoder

    return CrossEncoder(str(CROSS_ENCODER), device="cpu")


@pytest.fixture(scope="session")
def sts_sentences() -> list[str]:
    return sts_test_sentences()


@pytest.fixture(scope="session")
def wikiqa_rows() -> list[tuple[str, str, int]]:
    """WikiQA test rows: (question, candidate sentence, label 0/1)."""
    return read_wikiqa("test")


@pytest.fixture(scope="session")
def sts_embeddings(minilm_l6, sts_sentences) -> np.ndarray:
    """all-MiniLM-L6-v2 embeddings of the distinct STSb test sentences."""
    return minilm_l6.encode(sts_sentences, batch_size=64, convert_to_numpy=True)


@pytest.fixture(scope="session")
def scifact_1k(minilm_l6) -> EncodedBeir:
    """SciFact 1k's test set, encoded once with all-MiniLM-L6-v2."""
    return EncodedBeir(SCIFACT_1K, minilm_l6)


@pytest.fixture(scope="session")
def scifact(minilm_l6) -> EncodedBeir:
    """Full SciFact's test set (5,183 documents), encoded once with all-MiniLM-L6-v2."""
    return EncodedBeir(SCIFACT, minilm_l6)


@pytest.fixture
def random_static():
    """A static model (seeded RANDOM 64-dimensional token vectors on the all-MiniLM-L6-v2 tokenizer), normalised:
    for mechanics and the folder format, not for embedding quality. A fresh one per test, so training may change it."""
    return random_static_model()
