"""Search, paraphrase mining, community detection and hard-negative mining over embeddings."""

from sentembed.search.communities import community_detection
from sentembed.search.hard_negatives import mine_hard_negatives
from sentembed.search.paraphrase import paraphrase_mining, paraphrase_mining_embeddings
from sentembed.search.semantic import semantic_search

__all__ = [
    "community_detection",
    "mine_hard_negatives",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "semantic_search",
]
