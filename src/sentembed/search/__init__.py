"""Search, paraphrase mining, translation (bitext) mining, community detection and hard-negative mining."""

from sentembed.search.bitext import mine_translations
from sentembed.search.communities import community_detection
from sentembed.search.hard_negatives import mine_hard_negatives
from sentembed.search.paraphrase import paraphrase_mining, paraphrase_mining_embeddings
from sentembed.search.semantic import semantic_search

__all__ = [
    "community_detection",
    "mine_hard_negatives",
    "mine_translations",
    "paraphrase_mining",
    "paraphrase_mining_embeddings",
    "semantic_search",
]
