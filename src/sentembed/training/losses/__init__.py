"""Bi-encoder losses. Each declares the dataset columns it takes in `columns`."""

from sentembed.training.losses.base import ColumnSpec, EmbeddingLoss
from sentembed.training.losses.cached import (
    CachedMultipleNegativesRankingLoss,
    CachedMultipleNegativesSymmetricRankingLoss,
)
from sentembed.training.losses.contrastive import ContrastiveLoss, OnlineContrastiveLoss, SiameseDistanceMetric
from sentembed.training.losses.denoising import DenoisingAutoEncoderLoss
from sentembed.training.losses.distillation import MarginMSELoss, MSELoss
from sentembed.training.losses.gist import GISTEmbedLoss
from sentembed.training.losses.matryoshka import MatryoshkaLoss
from sentembed.training.losses.pair_similarity import AnglELoss, CoSENTLoss, CosineSimilarityLoss
from sentembed.training.losses.ranking import MultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss
from sentembed.training.losses.softmax import SoftmaxLoss
from sentembed.training.losses.triplet import (
    BatchAllTripletLoss,
    BatchHardTripletLoss,
    BatchSemiHardTripletLoss,
    TripletDistanceMetric,
    TripletLoss,
)

__all__ = [
    "AnglELoss",
    "BatchAllTripletLoss",
    "BatchHardTripletLoss",
    "BatchSemiHardTripletLoss",
    "CachedMultipleNegativesRankingLoss",
    "CachedMultipleNegativesSymmetricRankingLoss",
    "ColumnSpec",
    "CoSENTLoss",
    "ContrastiveLoss",
    "CosineSimilarityLoss",
    "DenoisingAutoEncoderLoss",
    "EmbeddingLoss",
    "GISTEmbedLoss",
    "MSELoss",
    "MarginMSELoss",
    "MatryoshkaLoss",
    "MultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss",
    "OnlineContrastiveLoss",
    "SiameseDistanceMetric",
    "SoftmaxLoss",
    "TripletDistanceMetric",
    "TripletLoss",
]
