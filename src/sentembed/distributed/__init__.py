"""Encoding, scoring and indexing on Ray Data (the `ray` extra: `pip install "sentembed[ray]"`).

Ray is imported only when one of these runs, so `import sentembed.distributed` works without it.
"""

from sentembed.common.errors import WorkerError
from sentembed.distributed.actors import Embedder, PairScorer
from sentembed.distributed.cluster import connect
from sentembed.distributed.datasets import encode_dataset, predict_dataset
from sentembed.distributed.indexing import build_store

__all__ = ["Embedder", "PairScorer", "WorkerError", "build_store", "connect", "encode_dataset", "predict_dataset"]
