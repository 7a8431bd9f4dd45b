"""sentembed: turn text into embeddings and put them to work."""

from sentembed.cross_encoder import CrossEncoder
from sentembed.quantization import quantize_embeddings
from sentembed.sentence_transformer import SentenceTransformer
from sentembed.similarity import SimilarityFunction
from sentembed.version import __version__

__all__ = ["CrossEncoder", "SentenceTransformer", "SimilarityFunction", "__version__", "quantize_embeddings"]
