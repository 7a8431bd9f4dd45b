"""Bi-encoder losses. Each declares the dataset columns it takes in `columns`."""

from sentembed.training.losses._adaptive_layer import AdaptiveLayerLoss, Matryoshka2dLoss
from sentembed.training.losses._base import ColumnSpec, EmbeddingLoss
from sentembed.training.losses._cached import (
    CachedGISTEmbedLoss,
    CachedMultipleNegativesRankingLoss,
    CachedMultipleNegativesSymmetricRankingLoss,
    RandContext,
)
from sentembed.training.losses._contrastive import ContrastiveLoss, OnlineContrastiveLoss, SiameseDistanceMetric
from sentembed.training.losses._contrastive_tension import (
    ContrastiveTensionDataLoader,
    ContrastiveTensionLoss,
    ContrastiveTensionLossInBatchNegatives,
)
from sentembed.training.losses._denoising import DenoisingAutoEncoderLoss
from sentembed.training.losses._distillation import DistillKLDivLoss, EmbedDistillLoss, MarginMSELoss, MSELoss
from sentembed.training.losses._gist import GISTEmbedLoss
from sentembed.training.losses._matryoshka import MatryoshkaLoss
from sentembed.training.losses._mega_batch import MegaBatchMarginLoss
from sentembed.training.losses._ranking import MultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss
from sentembed.training.losses._regularization import GlobalOrthogonalRegularizationLoss
from sentembed.training.losses._softmax import SoftmaxLoss
from sentembed.training.losses._triplet import (
    BatchAllTripletLoss,
    BatchHardSoftMarginTripletLoss,
    BatchHardTripletLoss,
    BatchHardTripletLossDistanceFunction,
    BatchSemiHardTripletLoss,
    TripletDistanceMetric,
    TripletLoss,
)
from sentembed.training.losses.pair_similarity import AnglELoss, CoSENTLoss, CosineSimilarityLoss

__all__ = [
    "AdaptiveLayerLoss",
    "AnglELoss",
    "BatchAllTripletLoss",
    "BatchHardSoftMarginTripletLoss",
    "BatchHardTripletLoss",
    "BatchHardTripletLossDistanceFunction",
    "BatchSemiHardTripletLoss",
    "CachedGISTEmbedLoss",
    "CachedMultipleNegativesRankingLoss",
    "CachedMultipleNegativesSymmetricRankingLoss",
    "ColumnSpec",
    "CoSENTLoss",
    "ContrastiveLoss",
    "ContrastiveTensionDataLoader",
    "ContrastiveTensionLoss",
    "ContrastiveTensionLossInBatchNegatives",
    "CosineSimilarityLoss",
    "DenoisingAutoEncoderLoss",
    "DistillKLDivLoss",
    "EmbedDistillLoss",
    "EmbeddingLoss",
    "GISTEmbedLoss",
    "GlobalOrthogonalRegularizationLoss",
    "MSELoss",
    "MarginMSELoss",
    "Matryoshka2dLoss",
    "MatryoshkaLoss",
    "MegaBatchMarginLoss",
    "MultipleNegativesRankingLoss",
    "MultipleNegativesSymmetricRankingLoss",
    "OnlineContrastiveLoss",
    "RandContext",
    "SiameseDistanceMetric",
    "SoftmaxLoss",
    "TripletDistanceMetric",
    "TripletLoss",
]
