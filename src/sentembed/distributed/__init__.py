"""Encoding, scoring and indexing on Ray Data (the `ray` extra: `pip install "sentembed[ray]"`).

Ray is imported only when one of these runs, so `import sentembed.distributed` works without it.
`require_ray`, imported as `require_ray as require_ray` and left out of `__all__`, is for the `index` command.
"""

from sentembed.common.errors import WorkerError
from sentembed.distributed._actors import Embedder, PairScorer
from sentembed.distributed._cluster import connect
from sentembed.distributed._cluster import require_ray as require_ray
from sentembed.distributed._datasets import encode_dataset, predict_dataset
from sentembed.distributed._indexing import build_store

__all__ = ["Embedder", "PairScorer", "WorkerError", "build_store", "connect", "encode_dataset", "predict_dataset"]
