"""Cross-encoder losses. Each takes the batch's text columns (lists of str, or lists of lists for the listwise
losses) and labels, and scores the pairs itself."""

from sentembed.training.cross_encoder.losses._base import CrossEncoderLoss
from sentembed.training.cross_encoder.losses._in_batch import (
    CachedMultipleNegativesRankingLoss,
    MultipleNegativesRankingLoss,
)
from sentembed.training.cross_encoder.losses._lambda_loss import (
    BaseWeightingScheme,
    LambdaLoss,
    LambdaRankScheme,
    NDCGLoss1Scheme,
    NDCGLoss2PPScheme,
    NDCGLoss2Scheme,
    NoWeightingScheme,
    RankNetLoss,
)
from sentembed.training.cross_encoder.losses._listwise import (
    ADRMSELoss,
    ListMLELoss,
    ListNetLoss,
    ListwiseLoss,
    PListMLELambdaWeight,
    PListMLELoss,
)
from sentembed.training.cross_encoder.losses._pointwise import (
    BinaryCrossEntropyLoss,
    CrossEntropyLoss,
    MarginMSELoss,
    MSELoss,
)

__all__ = [
    "ADRMSELoss",
    "BaseWeightingScheme",
    "BinaryCrossEntropyLoss",
    "CachedMultipleNegativesRankingLoss",
    "CrossEncoderLoss",
    "CrossEntropyLoss",
    "LambdaLoss",
    "LambdaRankScheme",
    "ListMLELoss",
    "ListNetLoss",
    "ListwiseLoss",
    "MSELoss",
    "MarginMSELoss",
    "MultipleNegativesRankingLoss",
    "NDCGLoss1Scheme",
    "NDCGLoss2PPScheme",
    "NDCGLoss2Scheme",
    "NoWeightingScheme",
    "PListMLELambdaWeight",
    "PListMLELoss",
    "RankNetLoss",
]
