"""The bi-encoder model class."""

from sentembed.models import StaticEmbedding
from sentembed.sentence_transformer.model import SentenceTransformer

# StaticEmbedding.from_distillation("model-name") loads its teacher as a SentenceTransformer.
StaticEmbedding.teacher_loader = SentenceTransformer

__all__ = ["SentenceTransformer"]
