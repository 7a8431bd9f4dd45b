"""One local Ray cluster (two CPUs) for every test here, and SciFact documents to encode on it."""

from __future__ import annotations

import pytest

from tests.support.data import read_jsonl
from tests.support.paths import DATA

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

SCIFACT_CORPUS = DATA / "scifact" / "corpus.jsonl"


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray on two CPUs, started once; tests reach its address through `ray_address`."""
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def ray_address(ray_cluster) -> str:
    return ray_cluster.get_runtime_context().gcs_address


@pytest.fixture(scope="session")
def scifact_docs() -> list[dict]:
    """SciFact's documents in file order: `_id`, `title`, `text`."""
    return read_jsonl(SCIFACT_CORPUS)
