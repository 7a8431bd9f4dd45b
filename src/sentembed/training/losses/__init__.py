"""Bi-encoder losses. Each declares the dataset columns it takes in `columns`."""

from sentembed.training.losses.adaptive_layer import AdaptiveLayerLoss, Matryoshka2dLoss
from sentembed.training.losses.base import ColumnSpec, EmbeddingLoss
from sentembed.training.losses.cached import (
    CachedGISTEmbedLoss,
    CachedMultipleNegativesRankingLoss,
    CachedMultipleNegativesSymmetricRankingLoss,
    RandContext,
)
from sentembed.training.losses.contrastive import ContrastiveLoss, OnlineContrastiveLoss, SiameseDistanceMetric
from sentembed.training.losses.contrastive_tension import (
    ContrastiveTensionDataLoader,
    ContrastiveTensionLoss,
    ContrastiveTensionLossInBatchNegatives,
)
from sentembed.training.losses.denoising import DenoisingAutoEncoderLoss
from sentembed.training.losses.distillation import DistillKLDivLoss, EmbedDistillLoss, MarginMSELoss, MSELoss
from sentembed.training.losses.gist import GISTEmbedLoss
from sentembed.training.losses.matryoshka import MatryoshkaLoss
from sentembed.training.losses.mega_batch import MegaBatchMarginLoss
from sentembed.training.losses.pair_similarity import AnglELoss, CoSENTLoss, CosineSimilarityLoss
from sentembed.training.losses.ranking import MultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss
from sentembed.training.losses.regularization import GlobalOrthogonalRegularizationLoss
from sentembed.training.losses.softmax import SoftmaxLoss
from sentembed.training.losses.triplet import (
    BatchAllTripletLoss,
    BatchHardSoftMarginTripletLoss,
    BatchHardTripletLoss,
    BatchHardTripletLossDistanceFunction,
    BatchSemiHardTripletLoss,
    TripletDistanceMetric,
    TripletLoss,
)

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
