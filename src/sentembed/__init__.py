"""sentembed: turn text into embeddings and put them to work."""

from sentembed.quantization import quantize_embeddings
from sentembed.sentence_transformer import SentenceTransformer
from sentembed.similarity import SimilarityFunction
from sentembed.version import __version__

__all__ = ["SentenceTransformer", "SimilarityFunction", "__version__", "quantize_embeddings"]
