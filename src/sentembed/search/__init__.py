"""Search, paraphrase mining, translation (bitext) mining, community detection and hard-negative mining.

The names imported as `name as name` and left out of `__all__` (`chunk_top_k`, `chunked_top_k`,
`merge_top_k`) are for the store, which ranks its segments with them, not for users.
"""

from sentembed.search._bitext import mine_translations
from sentembed.search._communities import community_detection
from sentembed.search._hard_negatives import mine_hard_negatives
from sentembed.search._paraphrase import paraphrase_mining, paraphrase_mining_embeddings
from sentembed.search._semantic import semantic_search
from sentembed.search._topk import chunk_top_k as chunk_top_k
from sentembed.search._topk import chunked_top_k as chunked_top_k
from sentembed.search._topk import merge_top_k as merge_top_k

__all__ = [
    "community_detection",
    "mine_hard_negatives",
    "mine_translations",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "semantic_search",
]
