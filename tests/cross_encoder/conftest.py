"""Cross-encoder fixtures: WikiQA test pairs, the reference's model, its scores and ours, and a folder in the
modular layout (the model itself and the WikiQA rows are fixtures of the root conftest)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.paths import CROSS_ENCODER


@pytest.fixture(scope="session")
def wikiqa_pairs(wikiqa_rows) -> list[tuple[str, str]]:
    return [(question, sentence) for question, sentence, _ in wikiqa_rows]


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
