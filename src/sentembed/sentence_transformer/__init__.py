"""The bi-encoder model class.

`postprocess` and `cache_key_parts`, imported as `name as name` and left out of `__all__`, are for the server,
which runs `encode`'s steps itself, not for users.
"""

from sentembed.models import StaticEmbedding
from sentembed.sentence_transformer._encoding import postprocess as postprocess
from sentembed.sentence_transformer._reuse import cache_key_parts as cache_key_parts
from sentembed.sentence_transformer.model import SentenceTransformer

# StaticEmbedding.from_distillation("model-name") loads its teacher as a SentenceTransformer.
StaticEmbedding.teacher_loader = SentenceTransformer

__all__ = ["SentenceTransformer"]
