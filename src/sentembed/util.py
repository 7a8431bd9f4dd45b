"""Helpers people import as `sentence_transformers.util`: similarity functions and embedding tools.

A compatibility facade for `sentence_transformers.util`: it only re-exports names whose canonical homes are
`sentembed.common.batching`, `sentembed.common.files`, `sentembed.common.runtime`, `sentembed.common.types`,
`sentembed.cross_encoder.legacy_args`, `sentembed.quantization`, `sentembed.search`, `sentembed.similarity` and
`sentembed.training.losses`.
"""

from sentembed.common.batching import batch_to_device
from sentembed.common.files import http_get
from sentembed.common.runtime import LoggingHandler, is_datasets_available, is_training_available
from sentembed.common.types import fullname
from sentembed.cross_encoder.legacy_args import (
    cross_encoder_init_args_decorator,
    cross_encoder_predict_rank_args_decorator,
)
from sentembed.quantization import quantize_embeddings
from sentembed.search import (
    community_detection,
    mine_hard_negatives,
    mine_translations,
    paraphrase_mining,
    paraphrase_mining_embeddings,
    semantic_search,
)
from sentembed.similarity import (
    SimilarityFunction,
    cos_sim,
    dot_score,
    euclidean_sim,
    manhattan_sim,
    maxsim,
    maxsim_pairwise,
    mean_maxsim,
    mean_maxsim_pairwise,
    normalize_embeddings,
    pairwise_cos_sim,
    pairwise_dot_score,
    pairwise_euclidean_sim,
    pairwise_manhattan_sim,
    select_max_active_dims,
    truncate_embeddings,
)
from sentembed.similarity import cos_sim as pytorch_cos_sim
from sentembed.training.losses import SiameseDistanceMetric, TripletDistanceMetric

__all__ = [
    "LoggingHandler",
    "SiameseDistanceMetric",
    "SimilarityFunction",
    "TripletDistanceMetric",
    "batch_to_device",
    "community_detection",
    "cross_encoder_init_args_decorator",
    "cross_encoder_predict_rank_args_decorator",
    "fullname",
    "http_get",
    "is_datasets_available",
    "is_training_available",
    "maxsim",
    "maxsim_pairwise",
    "mean_maxsim",
    "mean_maxsim_pairwise",
    "mine_hard_negatives",
    "mine_translations",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "pytorch_cos_sim",
    "quantize_embeddings",
    "semantic_search",
    "cos_sim",
    "dot_score",
    "euclidean_sim",
    "manhattan_sim",
    "normalize_embeddings",
    "pairwise_cos_sim",
    "pairwise_dot_score",
    "pairwise_euclidean_sim",
    "pairwise_manhattan_sim",
    "select_max_active_dims",
    "truncate_embeddings",
]
